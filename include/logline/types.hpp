#pragma once
// The value vocabulary of spans: uuid, timestamp, fixed-size hex byte strings, visibility, identity.
#include <sodium.h>

#include <array>
#include <atomic>
#include <chrono>
#include <compare>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "logline/detail/hex.hpp"
#include "logline/error.hpp"

namespace logline {

namespace detail {
// libsodium must be initialised once before use; sodium_init is thread-safe and idempotent.
inline void ensure_sodium() {
  static const int ready = sodium_init();
  if (ready < 0) {
    std::fputs("logline: libsodium failed to initialise\n", stderr);
    std::abort();
  }
}
}  // namespace detail

// A 128-bit UUID, stored as bytes, written in lowercase 8-4-4-4-12 form.
struct uuid {
  std::array<std::uint8_t, 16> bytes{};

  constexpr bool is_nil() const noexcept {
    for (auto b : bytes)
      if (b != 0) return false;
    return true;
  }
  friend constexpr auto operator<=>(const uuid&, const uuid&) = default;

  void append_to(std::string& out) const {
    static constexpr char digits[] = "0123456789abcdef";
    char buf[36];
    int p = 0;
    for (int i = 0; i < 16; ++i) {
      if (i == 4 || i == 6 || i == 8 || i == 10) buf[p++] = '-';
      buf[p++] = digits[bytes[i] >> 4];
      buf[p++] = digits[bytes[i] & 0x0f];
    }
    out.append(buf, 36);
  }
  std::string to_string() const {
    std::string s;
    append_to(s);
    return s;
  }

  // Accepts the 36-character hyphenated form in either case.
  static result<uuid> parse(std::string_view text) {
    uuid u;
    if (text.size() != 36)
      return make_error(errc::invalid_span, "not a uuid (expected 36 characters): '" +
                                                std::string(text.substr(0, 64)) + "'");
    // Hex digit pairs start at these offsets; the hyphens sit at 8, 13, 18 and 23.
    static constexpr std::uint8_t at[16] = {0,  2,  4,  6,  9,  11, 14, 16,
                                            19, 21, 24, 26, 28, 30, 32, 34};
    const auto& table = detail::hex_table<false>;
    std::uint8_t bad = 0;
    for (int b = 0; b < 16; ++b) {
      const std::uint8_t hi = table[static_cast<unsigned char>(text[at[b]])];
      const std::uint8_t lo = table[static_cast<unsigned char>(text[at[b] + 1])];
      bad |= static_cast<std::uint8_t>(hi | lo);
      u.bytes[static_cast<std::size_t>(b)] = static_cast<std::uint8_t>((hi << 4) | (lo & 0x0f));
    }
    if ((bad & 0xf0) != 0 || text[8] != '-' || text[13] != '-' || text[18] != '-' ||
        text[23] != '-')
      return make_error(errc::invalid_span, "not a uuid: '" + std::string(text) + "'");
    return u;
  }

  // UUIDv7 (RFC 9562): 48-bit Unix time in ms, version 7, 12 bits of sub-ms counter, variant 10,
  // 62 random bits. Ids made in the same process are strictly increasing (time-ordered keys keep
  // B-tree inserts at the right edge).
  static uuid v7() {
    detail::ensure_sodium();
    static std::mutex mutex;
    static std::uint64_t last_ms = 0;
    static std::uint16_t counter = 0;
    std::uint64_t ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    std::uint16_t seq;
    {
      std::lock_guard lock(mutex);
      if (ms <= last_ms) {
        ms = last_ms;
        if (++counter > 0x0fff) {  // counter exhausted: borrow the next millisecond
          ++ms;
          counter = 0;
        }
      } else {
        counter =
            static_cast<std::uint16_t>(randombytes_uniform(0x0400));  // random start, room to count
      }
      last_ms = ms;
      seq = counter;
    }
    uuid u;
    for (int i = 0; i < 6; ++i) u.bytes[i] = static_cast<std::uint8_t>(ms >> (8 * (5 - i)));
    u.bytes[6] = static_cast<std::uint8_t>(0x70 | ((seq >> 8) & 0x0f));
    u.bytes[7] = static_cast<std::uint8_t>(seq & 0xff);
    randombytes_buf(u.bytes.data() + 8, 8);
    u.bytes[8] = static_cast<std::uint8_t>(0x80 | (u.bytes[8] & 0x3f));
    return u;
  }
  constexpr int version() const noexcept { return bytes[6] >> 4; }
};

// A point in time with millisecond precision, UTC. Default-constructed = unset.
struct timestamp {
  static constexpr std::int64_t unset_value = INT64_MIN;
  std::int64_t unix_ms = unset_value;

  constexpr bool is_set() const noexcept { return unix_ms != unset_value; }
  friend constexpr auto operator<=>(const timestamp&, const timestamp&) = default;

  static timestamp now() {
    return {std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::system_clock::now().time_since_epoch())
                .count()};
  }
  static constexpr std::int64_t min_ms = -62167219200000;  // 0000-01-01T00:00:00.000Z
  static constexpr std::int64_t max_ms = 253402300799999;  // 9999-12-31T23:59:59.999Z

  // YYYY-MM-DDTHH:MM:SS.mmmZ (fixed width, so text order is time order).
  void append_to(std::string& out) const {
    std::int64_t ms = unix_ms;
    std::int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
    std::int64_t rem = ms - days * 86400000;
    // civil_from_days (Howard Hinnant's public-domain algorithm description)
    std::int64_t z = days + 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const std::int64_t doe = z - era * 146097;
    const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    std::int64_t y = yoe + era * 400;
    const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const std::int64_t mp = (5 * doy + 2) / 153;
    const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
    const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
    if (m <= 2) ++y;
    char buf[24];
    auto put = [&](int at, std::int64_t v, int width) {
      for (int i = width - 1; i >= 0; --i) {
        buf[at + i] = static_cast<char>('0' + v % 10);
        v /= 10;
      }
    };
    put(0, y, 4);
    buf[4] = '-';
    put(5, m, 2);
    buf[7] = '-';
    put(8, d, 2);
    buf[10] = 'T';
    put(11, rem / 3600000, 2);
    buf[13] = ':';
    put(14, rem / 60000 % 60, 2);
    buf[16] = ':';
    put(17, rem / 1000 % 60, 2);
    buf[19] = '.';
    put(20, rem % 1000, 3);
    buf[23] = 'Z';
    out.append(buf, 24);
  }
  std::string to_string() const {
    std::string s;
    append_to(s);
    return s;
  }

  // Accepts exactly YYYY-MM-DDTHH:MM:SS.mmmZ (the stored form).
  static result<timestamp> parse(std::string_view t) {
    auto bad = [&] {
      return make_error(errc::invalid_span,
                        "not a timestamp (expected YYYY-MM-DDTHH:MM:SS.mmmZ): '" +
                            std::string(t.substr(0, 64)) + "'");
    };
    if (t.size() != 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
        t[16] != ':' || t[19] != '.' || t[23] != 'Z')
      return bad();
    auto num = [&](int at, int width, std::int64_t& v) {
      v = 0;
      for (int i = 0; i < width; ++i) {
        const char c = t[static_cast<std::size_t>(at + i)];
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
      }
      return true;
    };
    std::int64_t y, m, d, hh, mm, ss, ms;
    if (!num(0, 4, y) || !num(5, 2, m) || !num(8, 2, d) || !num(11, 2, hh) || !num(14, 2, mm) ||
        !num(17, 2, ss) || !num(20, 3, ms))
      return bad();
    static constexpr int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap ? 1 : 0) || hh > 23 ||
        mm > 59 || ss > 59)
      return bad();
    // days_from_civil
    const std::int64_t yy = m <= 2 ? y - 1 : y;
    const std::int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    const std::int64_t yoe = yy - era * 400;
    const std::int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const std::int64_t days = era * 146097 + doe - 719468;
    return timestamp{((days * 24 + hh) * 60 + mm) * 60000 + ss * 1000 + ms};
  }
};

// N bytes written as 2N lowercase hex characters. Tag keeps digests, keys and signatures apart.
template <std::size_t N, class Tag>
struct hex_bytes {
  static constexpr std::size_t size = N;
  std::array<std::uint8_t, N> bytes{};

  friend constexpr auto operator<=>(const hex_bytes&, const hex_bytes&) = default;
  void append_to(std::string& out) const { detail::append_hex(out, bytes); }
  std::string to_string() const { return detail::to_hex(bytes); }
  // Accepts exactly 2N hex digits; stored form is lowercase, so uppercase is refused to keep
  // one spelling per value (the hash covers the text).
  static result<hex_bytes> parse(std::string_view text) {
    hex_bytes h;
    if (detail::from_hex<true>(text, h.bytes)) return h;
    for (char c : text)
      if (c >= 'A' && c <= 'F')
        return make_error(errc::invalid_span,
                          "hex must be lowercase: '" + std::string(text.substr(0, 2 * N)) + "'");
    if (!detail::from_hex(text, h.bytes))
      return make_error(errc::invalid_span, "expected " + std::to_string(2 * N) +
                                                " hex characters, got '" +
                                                std::string(text.substr(0, 2 * N + 8)) + "'");
    return h;
  }
};

struct digest_tag {};
struct signature_tag {};
struct public_key_tag {};
using digest = hex_bytes<32, digest_tag>;          // BLAKE3-256 of the canonical form
using signature = hex_bytes<64, signature_tag>;    // Ed25519 signature
using public_key = hex_bytes<32, public_key_tag>;  // Ed25519 public key

// Who may read a span besides its owner (DESIGN §5).
enum class visibility { private_, tenant, public_ };

constexpr std::string_view to_string(visibility v) noexcept {
  switch (v) {
    case visibility::private_:
      return "private";
    case visibility::tenant:
      return "tenant";
    case visibility::public_:
      return "public";
  }
  return "private";
}
inline result<visibility> parse_visibility(std::string_view s) {
  if (s == "private") return visibility::private_;
  if (s == "tenant") return visibility::tenant;
  if (s == "public") return visibility::public_;
  return make_error(errc::invalid_span, "visibility must be private, tenant or public, not '" +
                                            std::string(s.substr(0, 32)) + "'");
}

// The identity every read and write happens as.
struct identity {
  std::string user_id;
  std::optional<std::string> tenant_id;
};

}  // namespace logline
