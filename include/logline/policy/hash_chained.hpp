#pragma once
// hash_chained: each span records the curr_hash of the previous span of its chain (prev_hash)
// and its position in that chain (chain_position, contiguous from 0). One chain per tenant by
// default (a null tenant is its own chain), or one global chain.
#include <concepts>
#include <cstdint>
#include <optional>

#include "logline/types.hpp"

namespace logline {

enum class chain_scope { per_tenant, global };

template <chain_scope Scope = chain_scope::per_tenant>
struct hash_chained {
  static constexpr chain_scope scope = Scope;
};

template <class S>
concept has_content_hash = requires(const S& s) {
  { s.curr_hash } -> std::same_as<const std::optional<digest>&>;
};
template <class S>
concept has_chain_columns = has_content_hash<S> && requires(const S& s) {
  { s.prev_hash } -> std::same_as<const std::optional<digest>&>;
  { s.chain_position } -> std::same_as<const std::optional<std::int64_t>&>;
};

}  // namespace logline
