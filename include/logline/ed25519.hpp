#pragma once
// Ed25519 through libsodium. Signatures are over the 32 raw bytes of a span's curr_hash.
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
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
      while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back())))
        hex.remove_suffix(1);
      while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.front())))
        hex.remove_prefix(1);
      std::array<std::uint8_t, crypto_sign_SEEDBYTES> seed{};
      if (!detail::from_hex(hex, seed))
        return make_error(errc::invalid_key, "an Ed25519 seed is 64 hex characters (got " +
                                                 std::to_string(hex.size()) + " characters)");
      key k = from_seed(seed);
      sodium_memzero(seed.data(), seed.size());
      return k;
    }
    // A seed file. `permissions`, when given, receives the file's permission bits (07777), taken
    // from the file as it was opened (fstat), so that a check of them concerns the bytes read and
    // not whatever the path names a moment later. Pipes work too (--key <(...), /dev/fd/N).
    static result<key> from_file(const std::string& path, unsigned* permissions = nullptr) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
      if (fd < 0)
        return make_error(errc::invalid_key,
                          "cannot read key file '" + path + "': " + std::strerror(errno));
      struct stat st {};
      if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
        ::close(fd);
        return make_error(errc::invalid_key, "cannot read key file '" + path + "': not a file");
      }
      if (permissions) *permissions = static_cast<unsigned>(st.st_mode & 07777);
      constexpr std::size_t limit = 256;  // a seed is 64 hex characters, with some whitespace
      char text[limit + 1];
      std::size_t size = 0;
      int failed = 0;  // errno of a failed read
      while (size <= limit) {
        const ssize_t n = ::read(fd, text + size, limit + 1 - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) failed = errno;
        if (n <= 0) break;
        size += static_cast<std::size_t>(n);
      }
      ::close(fd);
      auto k = [&]() -> result<key> {
        if (failed)
          return make_error(errc::invalid_key,
                            "cannot read key file '" + path + "': " + std::strerror(failed));
        if (size > limit)
          return make_error(errc::invalid_key,
                            "key file '" + path + "' is not a 64-hex-character seed");
        auto seed = from_seed_hex(std::string_view(text, size));
        if (!seed)
          return make_error(errc::invalid_key,
                            "key file '" + path + "': " + seed.error().message());
        return seed;
      }();
      sodium_memzero(text, sizeof text);
      return k;
    }
    static result<key> from_env(const char* variable = "LOGLINE_SIGNING_KEY") {
      const char* v = std::getenv(variable);
      if (!v)
        return make_error(errc::invalid_key,
                          std::string("environment variable ") + variable + " is not set");
      auto k = from_seed_hex(v);
      if (!k)
        return make_error(errc::invalid_key, std::string("environment variable ") + variable +
                                                 ": " + k.error().message());
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
    logline::signature sign(const digest& d) const noexcept {
      return sign(std::span<const std::uint8_t>(d.bytes));
    }

   private:
    key() = default;
    unsigned char secret_[crypto_sign_SECRETKEYBYTES]{};
    logline::public_key public_{};
  };

  static bool verify(const signature& sig, std::span<const std::uint8_t> message,
                     const public_key& pk) noexcept {
    detail::ensure_sodium();
    return crypto_sign_verify_detached(sig.bytes.data(), message.data(), message.size(),
                                       pk.bytes.data()) == 0;
  }
  static bool verify(const signature& sig, const digest& d, const public_key& pk) noexcept {
    return verify(sig, std::span<const std::uint8_t>(d.bytes), pk);
  }
};

}  // namespace logline
