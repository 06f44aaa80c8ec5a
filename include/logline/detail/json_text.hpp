#pragma once
// json.hpp's internals: UTF-8 validation, the decimal value of numbers (the number rule), the
// RFC 8785 key order and the canonical writer. The rules are at the top of json.hpp.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "logline/assert.hpp"
#include "logline/detail/hex.hpp"
#include "logline/error.hpp"

namespace logline::detail {

using json = nlohmann::json;  // logline::json (json.hpp)

inline constexpr std::size_t utf8_ok = static_cast<std::size_t>(-1);

// Offset of the first byte of the first ill-formed UTF-8 sequence, or utf8_ok. Strict (RFC 3629
// table): no overlongs, no surrogates (ED A0..ED BF), nothing above U+10FFFF (F4 90.., F5..FF).
inline std::size_t first_invalid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      std::uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;
    } else {
      return i;
    }
    if (n - i < len) return i;
    if (p[i + 1] < lo || p[i + 1] > hi) return i;
    for (std::size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return utf8_ok;
}

// Why the sequence at s[at] is ill-formed (at is a first_invalid_utf8 result).
inline const char* describe_invalid_utf8(std::string_view s, std::size_t at) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned c = p[at];
  const std::size_t left = s.size() - at;
  const auto cont = [&](std::size_t k) { return k < left && (p[at + k] & 0xC0) == 0x80; };
  if (c >= 0x80 && c <= 0xBF) return "unexpected continuation byte";
  if (c == 0xC0 || c == 0xC1) return "overlong encoding";
  if (c >= 0xF5) return c >= 0xF8 ? "invalid byte" : "code point above U+10FFFF";
  if (!cont(1)) return "truncated sequence";
  if (c == 0xE0 && p[at + 1] < 0xA0) return "overlong encoding";
  if (c == 0xF0 && p[at + 1] < 0x90) return "overlong encoding";
  if (c == 0xED && p[at + 1] > 0x9F) return "UTF-16 surrogate encoded in UTF-8";
  if (c == 0xF4 && p[at + 1] > 0x8F) return "code point above U+10FFFF";
  return "truncated sequence";
}

// Appends s for a human-readable message: printable UTF-8 as is, \" \\ and controls escaped,
// ill-formed bytes as \xNN; cut after about `limit` bytes with "...".
inline void append_printable(std::string& out, std::string_view s, std::size_t limit = 64) {
  static constexpr char hexd[] = "0123456789abcdef";
  std::size_t i = 0;
  while (i < s.size()) {
    if (i >= limit) {
      out += "...";
      return;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      // Valid iff the (at most 4-byte) sequence starting here is: a later bad one is found later.
      const std::size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (first_invalid_utf8(s.substr(i, std::min<std::size_t>(4, s.size() - i))) == 0) {
        out += "\\x";
        out += hexd[c >> 4];
        out += hexd[c & 15];
        ++i;
        continue;
      }
      out.append(s.data() + i, len);
      i += len;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += hexd[c >> 4];
      out += hexd[c & 15];
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
}

inline std::string quote_for_message(std::string_view s) {
  std::string out = "\"";
  append_printable(out, s);
  out += '"';
  return out;
}

// One JSON pointer (RFC 6901) reference token: ~ -> ~0, / -> ~1.
inline void append_pointer_token(std::string& out, std::string_view key) {
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
}

// ---- numbers ---------------------------------------------------------------------------------

// A finite decimal: (-1)^neg * 0.d1d2...dk * 10^point, with d1 != 0 and dk != 0; zero iff k == 0.
struct decimal {
  bool neg = false;
  bool too_long = false;  // more than 17 significant digits: no double prints like this
  int k = 0;
  long long point = 0;
  char digits[17] = {};

  friend bool operator==(const decimal& a, const decimal& b) noexcept {
    if (a.too_long || b.too_long) return false;
    if (a.k == 0 || b.k == 0) return a.k == b.k;  // 0 == -0
    return a.neg == b.neg && a.k == b.k && a.point == b.point &&
           std::memcmp(a.digits, b.digits, static_cast<std::size_t>(a.k)) == 0;
  }
};

// Reads a JSON number token (already validated by the lexer). Any character other than digits,
// signs and e/E is taken as the decimal point (nlohmann writes the locale's point there).
inline decimal parse_decimal(std::string_view t) noexcept {
  decimal d;
  std::size_t i = 0;
  if (i < t.size() && t[i] == '-') {
    d.neg = true;
    ++i;
  }
  long long int_digits = 0, leading_zeros = 0;
  bool in_frac = false, seen_nonzero = false;
  long long pending_zeros =
      0;  // zeros after the last nonzero digit, not yet known to be significant
  for (; i < t.size(); ++i) {
    const char c = t[i];
    if (c == 'e' || c == 'E') break;
    if (c < '0' || c > '9') {
      in_frac = true;
      continue;
    }
    if (!in_frac) ++int_digits;
    if (c == '0') {
      if (!seen_nonzero) {
        ++leading_zeros;
      } else {
        ++pending_zeros;
      }
      continue;
    }
    seen_nonzero = true;
    for (; pending_zeros > 0 && d.k < 17; --pending_zeros) d.digits[d.k++] = '0';
    if (pending_zeros > 0 || d.k == 17) {
      d.too_long = true;
      pending_zeros = 0;
    } else {
      d.digits[d.k++] = c;
    }
  }
  long long exp = 0;
  if (i < t.size()) {  // at 'e' / 'E'
    ++i;
    bool eneg = false;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) eneg = t[i++] == '-';
    for (; i < t.size(); ++i) {
      if (exp < 1'000'000'000'000LL)
        exp = exp * 10 + (t[i] - '0');  // saturates far beyond any double
    }
    if (eneg) exp = -exp;
  }
  if (!seen_nonzero) {
    d = decimal{};
    return d;
  }
  d.point = int_digits - leading_zeros + exp;
  return d;
}

// The shortest round-trip digits of a finite double, closest to its value (what ES6 asks for).
inline decimal shortest_decimal(double v) noexcept {
  decimal d;
  if (v == 0) return d;
  char buf[40];
  const auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const char* p = buf;
  const char* end = res.ptr;
  if (*p == '-') {
    d.neg = true;
    ++p;
  }
  d.digits[d.k++] = *p++;
  if (*p == '.') {
    ++p;
    while (p != end && *p != 'e' && d.k < 17) d.digits[d.k++] = *p++;
  }
  while (d.k > 1 && d.digits[d.k - 1] == '0') --d.k;
  while (p != end && *p != 'e') ++p;
  long long e = 0;
  bool eneg = false;
  if (p != end) {
    ++p;
    if (p != end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
    for (; p != end; ++p) e = e * 10 + (*p - '0');
  }
  d.point = (eneg ? -e : e) + 1;
  return d;
}

// Lays out a decimal as ECMAScript Number.prototype.toString does (k digits, exponent n = point)
// at p, which must have room for max_number_chars; returns the end.
inline constexpr std::size_t max_number_chars = 32;  // "-0.00000" + 17 digits, or sign + 21 digits

inline char* format_es6(char* p, const decimal& d) noexcept {
  if (d.k == 0) {
    *p++ = '0';
    return p;
  }
  if (d.neg) *p++ = '-';
  const long long k = d.k;
  const long long n = d.point;
  const auto copy = [&p](const char* from, long long count) {
    std::memcpy(p, from, static_cast<std::size_t>(count));
    p += count;
  };
  if (k <= n && n <= 21) {
    copy(d.digits, k);
    for (long long z = n - k; z > 0; --z) *p++ = '0';
  } else if (0 < n && n <= 21) {
    copy(d.digits, n);
    *p++ = '.';
    copy(d.digits + n, k - n);
  } else if (-6 < n && n <= 0) {
    *p++ = '0';
    *p++ = '.';
    for (long long z = -n; z > 0; --z) *p++ = '0';
    copy(d.digits, k);
  } else {
    *p++ = d.digits[0];
    if (k > 1) {
      *p++ = '.';
      copy(d.digits + 1, k - 1);
    }
    *p++ = 'e';
    long long e = n - 1;
    if (e < 0) {
      *p++ = '-';
      e = -e;
    } else {
      *p++ = '+';
    }
    char digits[8];
    const char* end = std::to_chars(digits, digits + sizeof digits, e).ptr;
    copy(digits, end - digits);
  }
  return p;
}

inline void append_es6(std::string& out, const decimal& d) {
  char buf[max_number_chars];
  out.append(buf, format_es6(buf, d));
}

inline constexpr std::int64_t max_exact_integer = std::int64_t{1} << 53;

template <class Int>
inline decimal integer_decimal(Int v) noexcept {
  char buf[24] = {};
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  return parse_decimal(std::string_view(buf, static_cast<std::size_t>(res.ptr - buf)));
}

// The number rule for integers: v must round-trip through a double to the same decimal.
inline bool integer_exact(std::int64_t v) noexcept {
  if (v >= -max_exact_integer && v <= max_exact_integer) return true;
  return integer_decimal(v) == shortest_decimal(static_cast<double>(v));
}
inline bool integer_exact(std::uint64_t v) noexcept {
  if (v <= static_cast<std::uint64_t>(max_exact_integer)) return true;
  return integer_decimal(v) == shortest_decimal(static_cast<double>(v));
}

// ---- key order -------------------------------------------------------------------------------

// The code point starting at s[i] (s valid UTF-8; reads stay inside s regardless).
inline std::uint32_t decode_utf8_at(std::string_view s, std::size_t i) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t left = s.size() - i;
  const std::uint32_t c = p[i];
  if (c < 0x80) return c;
  const auto cont = [p, i](std::size_t k) { return static_cast<std::uint32_t>(p[i + k] & 0x3Fu); };
  if (c < 0xE0 && left >= 2) return ((c & 0x1Fu) << 6) | cont(1);
  if (c < 0xF0 && left >= 3) return ((c & 0x0Fu) << 12) | (cont(1) << 6) | cont(2);
  if (left >= 4) return ((c & 0x07u) << 18) | (cont(1) << 12) | (cont(2) << 6) | cont(3);
  return c;
}

// UTF-16 code-unit order equals code point order except that U+E000..U+FFFF (one unit, E000..FFFF)
// sort after supplementary characters (lead surrogate D800..DBFF): lift that range above U+10FFFF.
constexpr std::uint32_t utf16_rank(std::uint32_t cp) noexcept {
  return (cp >= 0xE000 && cp <= 0xFFFF) ? cp + 0x200000 : cp;
}

// a < b comparing the UTF-16 code units of two UTF-8 strings.
inline bool utf16_less(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::min(a.size(), b.size());
  std::size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  if (i == n) return a.size() < b.size();
  // Identical bytes before i, so both strings have a code point starting at the same place.
  while (i > 0 && (static_cast<unsigned char>(a[i]) & 0xC0) == 0x80) --i;
  return utf16_rank(decode_utf8_at(a, i)) < utf16_rank(decode_utf8_at(b, i));
}

// ---- strings ---------------------------------------------------------------------------------

// 0: literal; otherwise the character after the backslash ('u' for \u00xx).
inline constexpr std::array<char, 256> escape_table = [] {
  std::array<char, 256> t{};
  for (std::size_t c = 0; c < 0x20; ++c) t[c] = 'u';
  t['\b'] = 'b';
  t['\f'] = 'f';
  t['\n'] = 'n';
  t['\r'] = 'r';
  t['\t'] = 't';
  t['"'] = '"';
  t['\\'] = '\\';
  return t;
}();

inline constexpr std::uint64_t every_byte = 0x0101010101010101ULL;
inline constexpr std::uint64_t high_bits = 0x8080808080808080ULL;

// Whether any of the 8 bytes in w is a C0 control, '"' or '\\' (exact, no false positives).
constexpr bool needs_escape8(std::uint64_t w) noexcept {
  const std::uint64_t quote = w ^ (every_byte * '"');
  const std::uint64_t backslash = w ^ (every_byte * '\\');
  return ((((w - every_byte * 0x20) & ~w) | ((quote - every_byte) & ~quote) |
           ((backslash - every_byte) & ~backslash)) &
          high_bits) != 0;
}

// Appends canonical JSON to a string through a raw cursor: the string is grown ahead (doubling)
// and cut back to the written length at the end, so the hot loops write bytes, not appends.
class canonical_writer {
 public:
  explicit canonical_writer(std::string& out) : out_(out), len_(out.size()) {}
  canonical_writer(const canonical_writer&) = delete;
  canonical_writer& operator=(const canonical_writer&) = delete;
  ~canonical_writer() { out_.resize(len_); }

  void value(const json& v);
  bool string(std::string_view s);  // true if s has a non-ASCII byte
  void number(double v) {
    // Integral doubles up to 2^53 print as their integer digits (the shortest form is exact there).
    if (v >= -0x1p53 && v <= 0x1p53 && v == static_cast<double>(static_cast<std::int64_t>(v))) {
      char* p = room(24);
      commit(std::to_chars(p, p + 24, static_cast<std::int64_t>(v)).ptr);
      return;
    }
    commit(format_es6(room(max_number_chars), shortest_decimal(v)));
  }

  template <class Int>
  void integer(Int v) {
    if constexpr (std::is_signed_v<Int>) {
      if (v < -max_exact_integer || v > max_exact_integer) return number(static_cast<double>(v));
    } else {
      if (v > static_cast<std::uint64_t>(max_exact_integer)) return number(static_cast<double>(v));
    }
    char* p = room(24);
    commit(std::to_chars(p, p + 24, v).ptr);
  }

 private:
  // At least n writable bytes at the cursor.
  char* room(std::size_t n) {
    if (out_.size() - len_ < n) [[unlikely]]
      grow(n);
    return out_.data() + len_;
  }
  void grow(std::size_t n) { out_.resize(std::max(len_ + n, 2 * out_.size() + 128)); }
  void commit(char* end) noexcept { len_ = static_cast<std::size_t>(end - out_.data()); }
  void put(char c) {
    *room(1) = c;
    ++len_;
  }
  void put(const char* text, std::size_t n) {
    std::memcpy(room(n), text, n);
    len_ += n;
  }
  void members(const json::object_t& object);
  bool member(const json::object_t::value_type& m, bool first) {
    if (!first) put(',');
    const bool non_ascii = string(m.first);
    put(':');
    value(m.second);
    return non_ascii;
  }

  std::string& out_;
  std::size_t len_;
};

inline bool canonical_writer::string(std::string_view s) {
  static constexpr char hexd[] = "0123456789abcdef";
  put('"');
  std::uint64_t seen = 0;  // OR of the input bytes, for the non-ASCII answer
  const char* p = s.data();
  const char* const end = p + s.size();
  while (p != end) {
    // Each input byte takes at most 6 output bytes (\u00xx); work in bounded blocks.
    const std::size_t block = std::min<std::size_t>(static_cast<std::size_t>(end - p), 4096);
    const char* const stop = p + block;
    char* o = room(6 * block);
    while (p != stop) {
      const auto left = static_cast<std::size_t>(stop - p);
      if (left >= 8) {
        std::uint64_t w;
        std::memcpy(&w, p, 8);
        seen |= w;
        if (!needs_escape8(w)) {
          std::memcpy(o, p, 8);
          o += 8;
          p += 8;
          continue;
        }
      } else if (left >= 4) {
        // Two overlapping 4-byte loads cover the 4..7 bytes left.
        std::uint32_t head, tail;
        std::memcpy(&head, p, 4);
        std::memcpy(&tail, p + left - 4, 4);
        const std::uint64_t w = head | (std::uint64_t{tail} << 32);
        seen |= w;
        if (!needs_escape8(w)) {
          std::memcpy(o, &head, 4);
          std::memcpy(o + left - 4, &tail, 4);
          o += left;
          p += left;
          continue;
        }
      }
      const auto c = static_cast<unsigned char>(*p++);
      seen |= c;
      const char e = escape_table[c];
      if (e == 0) {
        *o++ = static_cast<char>(c);
      } else if (e == 'u') {
        const char esc[6] = {'\\', 'u', '0', '0', hexd[c >> 4], hexd[c & 15]};
        std::memcpy(o, esc, 6);
        o += 6;
      } else {
        o[0] = '\\';
        o[1] = e;
        o += 2;
      }
    }
    commit(o);
  }
  put('"');
  return (seen & high_bits) != 0;
}

inline void canonical_writer::value(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      put("null", 4);
      return;
    case json::value_t::boolean:
      if (v.get_ref<const json::boolean_t&>()) {
        put("true", 4);
      } else {
        put("false", 5);
      }
      return;
    case json::value_t::number_integer:
      integer(v.get_ref<const json::number_integer_t&>());
      return;
    case json::value_t::number_unsigned:
      integer(v.get_ref<const json::number_unsigned_t&>());
      return;
    case json::value_t::number_float: {
      const double d = v.get_ref<const json::number_float_t&>();
      LOGLINE_ASSERT(std::isfinite(d), "write_canonical: NaN and infinity have no JSON form");
      number(d);
      return;
    }
    case json::value_t::string:
      string(v.get_ref<const json::string_t&>());
      return;
    case json::value_t::array: {
      put('[');
      bool first = true;
      for (const json& element : v.get_ref<const json::array_t&>()) {
        if (!first) put(',');
        first = false;
        value(element);
      }
      put(']');
      return;
    }
    case json::value_t::object:
      members(v.get_ref<const json::object_t&>());
      return;
    case json::value_t::binary:
    case json::value_t::discarded:
      LOGLINE_ASSERT(false, "write_canonical: binary and discarded values have no JSON form");
      put("null", 4);
      return;
  }
}

inline void canonical_writer::members(const json::object_t& object) {
  // The map keeps keys in UTF-8 byte order, which is code point order. That differs from UTF-16
  // order only between a supplementary character (lead byte F0..F4) and one of U+E000..U+FFFF
  // (lead byte EE or EF). Write in map order; if a key was not ASCII and both kinds occur, rewind
  // and write again in UTF-16 order (sorting pointers, not copies).
  put('{');
  const std::size_t body = len_;
  bool non_ascii = false, first = true;
  for (const auto& m : object) {
    non_ascii |= member(m, first);
    first = false;
  }
  if (non_ascii) [[unlikely]] {
    bool supplementary = false, high_bmp = false;
    for (const auto& m : object) {
      for (const char ch : m.first) {
        const auto c = static_cast<unsigned char>(ch);
        supplementary |= c >= 0xF0;
        high_bmp |= c == 0xEE || c == 0xEF;
      }
    }
    if (supplementary && high_bmp) {
      len_ = body;
      using member_ptr = const json::object_t::value_type*;
      std::vector<member_ptr> sorted;
      sorted.reserve(object.size());
      for (const auto& m : object) sorted.push_back(&m);
      std::sort(sorted.begin(), sorted.end(),
                [](member_ptr x, member_ptr y) { return utf16_less(x->first, y->first); });
      first = true;
      for (member_ptr m : sorted) {
        member(*m, first);
        first = false;
      }
    }
  }
  put('}');
}

}  // namespace logline::detail
