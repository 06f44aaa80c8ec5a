#pragma once
// The operator's namespace (DESIGN §5): the entity types and ids that the system itself trusts
// (API tokens, the manifest, the runtime's records and bookkeeping, the ids it derives), which
// only operator identities write. A ledger with `tenant_isolated` holds every other identity to
// the rules below on every write path (library, HTTP, CLI, runtime); the readers of these spans
// check, independently, that what they read is the operator's (ledger::operator_wrote).
//
//   logline::operator_namespace ns;                      // LogLineOS's: the defaults below
//   ns.entity_types.push_back("billing.rate_card");      // a type your own services trust
//   Ledger ledger{db, {.identity = {"alice", "acme"}, .signing_key = key, .operators = ns}};
//
// Operator identities are the tenantless user ids in `operators`. A session of one may write
// spans owned by anyone (the runtime records a user's executions as that user's), keeps the
// owner pair of an entity across its versions like everyone else, and may use the reserved
// types and ids. Trusted code that writes on a user's behalf with the operator's rights takes
// ledger::on_behalf_of(user); nothing a remote client sends can make such a session.
#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/types.hpp"

namespace logline {

struct operator_namespace {
  static std::vector<std::string> names(std::initializer_list<std::string_view> list) {
    return {list.begin(), list.end()};
  }

  // Tenantless user ids that act as the operator: the runtime ("logline") and the token
  // administrator ("logline-admin").
  std::vector<std::string> operators{"logline", "logline-admin"};
  // Entity types that only operator identities write: what the server and the runtime trust
  // (tokens, the manifest, scheduler and policy bookkeeping) and the records of what they did.
  std::vector<std::string> entity_types =
      names({entity::api_token, entity::manifest, entity::schedule_state, entity::ledger_state,
             entity::boot_event, entity::execution, entity::policy_violation, entity::policy_cursor,
             entity::policy_revisit, entity::policy_error, entity::provider_execution,
             entity::law_decision, entity::law_verdict});
  // Entity types whose first version anyone may write, and whose later versions only the
  // operator writes: a request is made by its owner and advanced by the runtime (running,
  // complete), so an owner cannot fake its outcome.
  std::vector<std::string> operator_versions = names({entity::request});
  // Whether ids of the operator's shapes are reserved: UUIDv8, the ids the runtime derives from
  // names (a policy's cursor, a job's state, a seed policy, a law decision), and the fixed ids
  // 00000000-0000-4000-8000-00000000xxxx (LogLineOS's kernels, manifest and providers). A
  // reserved id cannot be taken by anyone else first.
  bool reserve_ids = true;

  bool is_operator(const identity& who) const {
    return !who.tenant_id &&
           std::find(operators.begin(), operators.end(), who.user_id) != operators.end();
  }
  // Whether the owner pair (owner_id, tenant_id) is an operator identity.
  bool is_operator(const std::optional<std::string>& owner_id,
                   const std::optional<std::string>& tenant_id) const {
    return owner_id && is_operator(identity{*owner_id, tenant_id});
  }
  bool reserves_type(std::string_view entity_type) const {
    return std::find(entity_types.begin(), entity_types.end(), entity_type) != entity_types.end();
  }
  bool reserves_versions_of(std::string_view entity_type) const {
    return std::find(operator_versions.begin(), operator_versions.end(), entity_type) !=
           operator_versions.end();
  }
  bool reserves_id(const uuid& id) const {
    if (!reserve_ids || id.is_nil()) return false;
    if (id.version() == 8) return true;
    static constexpr std::uint8_t fixed[14] = {0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0};
    return std::equal(std::begin(fixed), std::end(fixed), id.bytes.begin());
  }

  // Why an identity that is not the operator's may not make an entity with a reserved id.
  static error_info reserved_id_error(const uuid& id) {
    return make_error(errc::permission_denied,
                      "id " + id.to_string() +
                          " is reserved for the operator (UUIDv8 ids are derived by the runtime; "
                          "00000000-0000-4000-8000-00000000xxxx are LogLineOS's fixed ids)");
  }

  // The part of the write rules that does not depend on what is stored, for a span written by
  // an identity that is not the operator's (or on its behalf, for content it chose): its type,
  // a new entity's reserved id, and whether it is a later version of a type whose later
  // versions are the operator's. `next_version`: the span is appended as "the next version"
  // (its seq is not known yet; the ledger checks a reserved id once it knows whether the entity
  // is the caller's). errc::permission_denied names the rule.
  template <class Span>
  result<void> check_ordinary(const Span& s, bool next_version = false) const {
    if constexpr (requires { s.entity_type; }) {
      if (reserves_type(s.entity_type))
        return make_error(errc::permission_denied,
                          "entity type '" + std::string(s.entity_type) +
                              "' is in the operator's namespace: only the operator writes it");
      if (reserves_versions_of(s.entity_type) && (next_version || s.seq > 0))
        return make_error(errc::permission_denied,
                          "versions of a '" + std::string(s.entity_type) +
                              "' after the first are written by the runtime, not by its owner");
    }
    if (s.seq == 0 && !next_version && reserves_id(s.id)) return reserved_id_error(s.id);
    return {};
  }
};

// `who` of a span written as an identity through an interface that clients reach (HTTP, user
// code, the CLI's append): absent (empty) becomes the caller's user id, any other value is
// refused. The ledger's signature proves that the ledger stored the span, not who wrote it, so
// `who` must not name someone the caller is not. Kernels and the operator keep their actor
// names (they write through their own sessions).
template <class Span>
result<void> bind_who(Span& s, const identity& caller) {
  if constexpr (requires { s.who; }) {
    if (s.who.empty()) {
      s.who = caller.user_id;
    } else if (s.who != caller.user_id) {
      return make_error(errc::permission_denied, "'who' is the caller's user id ('" +
                                                     caller.user_id.substr(0, 64) + "'), not '" +
                                                     s.who.substr(0, 64) +
                                                     "': leave it out or set it to the caller's");
    }
  }
  return {};
}

}  // namespace logline
