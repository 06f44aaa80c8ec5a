#pragma once
// The entity types logline itself writes or trusts, one spelling each (LogLineOS's names; the
// operator's namespace in operator_namespace.hpp lists which of them only the operator writes).
#include <string_view>

namespace logline::entity {

inline constexpr std::string_view function = "function";
inline constexpr std::string_view manifest = "manifest";
inline constexpr std::string_view request = "request";
inline constexpr std::string_view execution = "execution";
inline constexpr std::string_view boot_event = "boot_event";
inline constexpr std::string_view status_patch = "status_patch";
inline constexpr std::string_view alert = "alert";
inline constexpr std::string_view policy = "policy";
inline constexpr std::string_view policy_cursor = "policy_cursor";
inline constexpr std::string_view policy_revisit = "policy_revisit";
inline constexpr std::string_view policy_error = "policy_error";
inline constexpr std::string_view policy_violation = "policy_violation";
inline constexpr std::string_view law = "law";
inline constexpr std::string_view law_decision = "law.decision";
inline constexpr std::string_view law_verdict = "law.verdict";
inline constexpr std::string_view schedule_state = "schedule_state";
inline constexpr std::string_view ledger_state = "ledger_state";
inline constexpr std::string_view provider = "provider";
inline constexpr std::string_view provider_execution = "provider_execution";
inline constexpr std::string_view api_token = "api_token";

}  // namespace logline::entity
