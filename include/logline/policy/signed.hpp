#pragma once
// signed_by<ed25519>: every span carries the signer's public_key (hashed) and an Ed25519
// signature over the 32 raw bytes of its curr_hash.
#include <concepts>
#include <optional>

#include "logline/ed25519.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/types.hpp"

namespace logline {

template <class Algorithm = ed25519>
struct signed_by {
  static_assert(std::same_as<Algorithm, ed25519>, "logline: signed_by supports ed25519 only");
  using algorithm = Algorithm;
};

template <class S>
concept has_signature_columns = has_content_hash<S> && requires(const S& s) {
  { s.signature } -> std::same_as<const std::optional<logline::signature>&>;
  { s.public_key } -> std::same_as<const std::optional<logline::public_key>&>;
};

}  // namespace logline
