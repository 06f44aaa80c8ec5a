#pragma once
// hash_chained: each span records the curr_hash of the previous span of its chain (prev_hash)
// and its position in that chain (chain_position, contiguous from 0). One chain per tenant
// (a null tenant is its own chain); globally_hash_chained keeps one chain for the whole table.
#include <concepts>
#include <cstdint>
#include <optional>

#include "logline/policy/policy.hpp"
#include "logline/types.hpp"

namespace logline {

template <class S>
concept has_content_hash = requires(const S& s) {
  { s.curr_hash } -> std::same_as<const std::optional<digest>&>;
};
template <class S>
concept has_chain_columns = has_content_hash<S> && requires(const S& s) {
  { s.prev_hash } -> std::same_as<const std::optional<digest>&>;
  { s.chain_position } -> std::same_as<const std::optional<std::int64_t>&>;
};

template <chain_scope Scope>
struct basic_hash_chained : policy_base {
  static constexpr chain_scope scope = Scope;
  static constexpr void shape(table_options& t) {
    t.chained = true;
    t.scope = Scope;
  }
  template <class Span>
  static constexpr bool fits() {
    static_assert(
        has_chain_columns<Span>,
        "logline: hash_chained requires the span to have members prev_hash and curr_hash "
        "(std::optional<logline::digest>) and chain_position (std::optional<std::int64_t>)");
    return true;
  }
};

// hash_chained and globally_hash_chained, the two instances, are declared in fwd.hpp.

}  // namespace logline
