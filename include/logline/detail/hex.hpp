#pragma once
// Lowercase hexadecimal encoding and strict decoding.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace logline::detail {

inline void append_hex(std::string& out, std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  const std::size_t at = out.size();
  out.resize(at + bytes.size() * 2);
  char* p = out.data() + at;
  for (std::uint8_t b : bytes) {
    *p++ = digits[b >> 4];
    *p++ = digits[b & 0x0f];
  }
}

inline std::string to_hex(std::span<const std::uint8_t> bytes) {
  std::string out;
  append_hex(out, bytes);
  return out;
}

constexpr int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Digit values by byte: 0..15 for 0-9, a-f (and A-F unless lowercase_only), 0xff otherwise.
template <bool LowercaseOnly>
inline constexpr auto hex_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xff;
  for (int c = 0; c < 10; ++c) t[static_cast<std::size_t>('0' + c)] = static_cast<std::uint8_t>(c);
  for (int c = 0; c < 6; ++c) {
    t[static_cast<std::size_t>('a' + c)] = static_cast<std::uint8_t>(10 + c);
    if (!LowercaseOnly) t[static_cast<std::size_t>('A' + c)] = static_cast<std::uint8_t>(10 + c);
  }
  return t;
}();

// Decodes exactly out.size()*2 hex digits (either case, or lowercase only). Returns false on any
// other input.
template <bool LowercaseOnly = false>
inline bool from_hex(std::string_view text, std::span<std::uint8_t> out) noexcept {
  if (text.size() != out.size() * 2) return false;
  const auto& table = hex_table<LowercaseOnly>;
  std::uint8_t bad = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::uint8_t hi = table[static_cast<unsigned char>(text[2 * i])];
    const std::uint8_t lo = table[static_cast<unsigned char>(text[2 * i + 1])];
    bad |= static_cast<std::uint8_t>(hi | lo);
    out[i] = static_cast<std::uint8_t>((hi << 4) | (lo & 0x0f));
  }
  return (bad & 0xf0) == 0;
}

}  // namespace logline::detail
