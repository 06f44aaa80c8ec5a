#pragma once
// Ed25519 through libsodium. Signatures are over the 32 raw bytes of a span's curr_hash.
#include <sodium.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <string_view>

#include "logline/error.hpp"
#include "logline/types.hpp"

namespace logline {

struct ed25519 {
  // A signing key: 32-byte seed → key pair. The secret half is wiped on destruction.
  class key {
   public:
    key(const key& other) noexcept { *this = other; }
    key& operator=(const key& other) noexcept {
      if (this != &other) {
        std::memcpy(secret_, other.secret_, sizeof secret_);
        public_ = other.public_;
      }
      return *this;
    }
    ~key() { sodium_memzero(secret_, sizeof secret_); }

    static key from_seed(std::span<const std::uint8_t, crypto_sign_SEEDBYTES> seed) noexcept {
      detail::ensure_sodium();
      key k;
      crypto_sign_seed_keypair(k.public_.bytes.data(), k.secret_, seed.data());
      return k;
    }
    // 64 hex characters (surrounding whitespace ignored: files often end with a newline).
    static result<key> from_seed_hex(std::string_view hex) {
      while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.remove_suffix(1);
      while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front()))) hex.remove_prefix(1);
      std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
      if (!detail::from_hex(hex, seed))
        return make_error(errc::invalid_key, "an Ed25519 seed is 64 hex characters (got " + std::to_string(hex.size()) + " characters)");
      key k = from_seed(seed);
      sodium_memzero(seed.data(), seed.size());
      return k;
    }
    static result<key> from_file(const std::string& path) {
      std::ifstream in(path, std::ios::binary);
      if (!in) return make_error(errc::invalid_key, "cannot read key file '" + path + "'");
      std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (text.size() > 256) return make_error(errc::invalid_key, "key file '" + path + "' is not a 64-hex-character seed");
      auto k = from_seed_hex(text);
      sodium_memzero(text.data(), text.size());
      if (!k) return make_error(errc::invalid_key, "key file '" + path + "': " + k.error().message());
      return k;
    }
    static result<key> from_env(const char* variable = "LOGLINE_SIGNING_KEY") {
      const char* v = std::getenv(variable);
      if (!v) return make_error(errc::invalid_key, std::string("environment variable ") + variable + " is not set");
      auto k = from_seed_hex(v);
      if (!k) return make_error(errc::invalid_key, std::string("environment variable ") + variable + ": " + k.error().message());
      return k;
    }
    static key generate() {
      detail::ensure_sodium();
      std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
      randombytes_buf(seed.data(), seed.size());
      key k = from_seed(seed);
      sodium_memzero(seed.data(), seed.size());
      return k;
    }
    // The 32-byte seed in hex (for keygen); handle with care.
    std::string seed_hex() const {
      std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
      crypto_sign_ed25519_sk_to_seed(seed.data(), secret_);
      std::string out = detail::to_hex(seed);
      sodium_memzero(seed.data(), seed.size());
      return out;
    }

    const logline::public_key& public_key() const noexcept { return public_; }

    logline::signature sign(std::span<const std::uint8_t> message) const noexcept {
      logline::signature s;
      crypto_sign_detached(s.bytes.data(), nullptr, message.data(), message.size(), secret_);
      return s;
    }
    logline::signature sign(const digest& d) const noexcept { return sign(std::span<const std::uint8_t>(d.bytes)); }

   private:
    key() = default;
    unsigned char secret_[crypto_sign_SECRETKEYBYTES]{};
    logline::public_key public_{};
  };

  static bool verify(const signature& sig, std::span<const std::uint8_t> message, const public_key& pk) noexcept {
    detail::ensure_sodium();
    return crypto_sign_verify_detached(sig.bytes.data(), message.data(), message.size(), pk.bytes.data()) == 0;
  }
  static bool verify(const signature& sig, const digest& d, const public_key& pk) noexcept {
    return verify(sig, std::span<const std::uint8_t>(d.bytes), pk);
  }
};

}  // namespace logline
