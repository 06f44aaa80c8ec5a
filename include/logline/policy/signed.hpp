#pragma once
// signed_by<ed25519>: every span carries the signer's public_key (hashed) and an Ed25519
// signature over the 32 raw bytes of its curr_hash.
#include <concepts>
#include <optional>

#include "logline/ed25519.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/policy/policy.hpp"
#include "logline/types.hpp"

namespace logline {

template <class S>
concept has_signature_columns = has_content_hash<S> && requires(const S& s) {
  { s.signature } -> std::same_as<const std::optional<logline::signature>&>;
  { s.public_key } -> std::same_as<const std::optional<logline::public_key>&>;
};

template <class Algorithm>  // = ed25519 (fwd.hpp)
struct signed_by : policy_base {
  static_assert(std::same_as<Algorithm, ed25519>, "logline: signed_by supports ed25519 only");
  using algorithm = Algorithm;
  static constexpr void shape(table_options& t) { t.signed_ = true; }
  template <class Span>
  static constexpr bool fits() {
    static_assert(has_signature_columns<Span>,
                  "logline: signed_by requires the span to have members curr_hash "
                  "(std::optional<logline::digest>), "
                  "signature (std::optional<logline::signature>) and public_key "
                  "(std::optional<logline::public_key>)");
    return true;
  }
};

}  // namespace logline
