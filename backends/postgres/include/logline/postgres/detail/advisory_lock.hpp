#pragma once
// The keys of PostgreSQL advisory locks: one per chain (appenders of a chain serialize on it) and
// one per text the runtime holds (a function for the length of its run).
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "logline/blake3.hpp"

namespace logline::postgres::detail {

// A 64-bit advisory lock key for a text (hash collisions only serialize more).
inline std::int64_t advisory_key(std::string_view text) {
  const auto h = blake3(text);
  std::int64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v = static_cast<std::int64_t>((static_cast<std::uint64_t>(v) << 8) | h[i]);
  return v;
}

// The advisory lock key of a chain.
inline std::int64_t chain_lock_key(std::string_view table,
                                   const std::optional<std::string>& tenant) {
  std::string k = "logline-chain:";
  k += table;
  if (tenant)
    k.append(":t:").append(*tenant);
  else
    k += ":null";
  return advisory_key(k);
}

}  // namespace logline::postgres::detail
