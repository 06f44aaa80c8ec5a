#pragma once
// What a ledger policy is. A policy is a type derived from logline::policy_base; the ledger
// asks each of its policies three things, and knows nothing else about them:
//
//   shape(table_options&)        what the policy adds to the table (a flag the backends act on:
//                                append-only guards, chain indexes, row-level security; or a
//                                column every row must set)
//   fits<Span>()                 what it requires of the span type, as static_asserts whose
//                                message says what is missing (evaluated at compile time)
//   check_append(span, who)      its step in the write path: called for every span appended
//                                through the ledger, after the ledger filled in the owner,
//                                tenant, id and `at` and before it chains, hashes and signs it;
//                                an error refuses the append (nothing is written)
//
// policy_base provides the "nothing" answer to each, so a policy overrides only what it needs.
// The built-in policies (append_only, hash_chained, signed_by<ed25519>, tenant_isolated) are
// written the same way; docs/ledger.md ("Policies of your own") has a complete user policy.
#include <array>
#include <concepts>
#include <cstddef>
#include <string_view>

#include "logline/error.hpp"
#include "logline/fwd.hpp"  // chain_scope
#include "logline/types.hpp"

namespace logline {

// What the policies ask of a table (derived at compile time by the ledger; the backends build
// their DDL and write path from it).
struct table_options {
  static constexpr std::size_t max_required = 8;

  bool append_only = false;
  bool chained = false;
  chain_scope scope = chain_scope::per_tenant;
  bool tenancy = false;
  bool hashed = false;   // every row has curr_hash (NOT NULL)
  bool signed_ = false;  // every row has signature and public_key (NOT NULL)
  // Columns a policy requires in every row (NOT NULL in the DDL; the ledger refuses a span
  // without them before writing). Unused entries are empty.
  std::array<std::string_view, max_required> required{};

  // Adds `column` to `required` (once). More than max_required columns does not compile: the
  // throw is not a constant expression.
  constexpr void require(std::string_view column) {
    for (auto& r : required) {
      if (r == column) return;
      if (r.empty()) {
        r = column;
        return;
      }
    }
    throw "logline: policies require more than table_options::max_required columns";
  }
  constexpr bool requires_column(std::string_view column) const {
    for (auto r : required)
      if (!r.empty() && r == column) return true;
    return false;
  }
};

// Base of every ledger policy: no table change, no requirement, no write step.
struct policy_base {
  static constexpr void shape(table_options&) {}
  template <class Span>
  static constexpr bool fits() {
    return true;
  }
  template <class Span>
  static result<void> check_append(const Span&, const identity&) {
    return {};
  }
};

template <class P>
concept ledger_policy = std::derived_from<P, policy_base>;

}  // namespace logline
