#pragma once
// JSON for logline: a strict I-JSON (RFC 7493) reader and an RFC 8785 (JCS) canonical writer.
//
// Spans are hashed over their canonical form, so the reader refuses anything whose canonical form
// would not say exactly what the sender wrote:
//   - text that is not JSON, or has anything but whitespace after the value; a leading byte order
//     mark (RFC 8259 lets readers ignore it; we refuse it so the accepted bytes are plain JSON);
//   - invalid UTF-8 anywhere (overlongs, UTF-8-encoded surrogates ED A0..ED BF, code points above
//     U+10FFFF, truncated sequences, stray continuation bytes);
//   - lone or mis-paired surrogate escapes (\ud800 alone, \udc00 alone, \ud800\u0041);
//   - U+0000 in any string or key, escaped (\u0000) or raw;
//   - duplicate keys in an object, at any depth;
//   - numbers the canonical form cannot represent exactly (the number rule below);
//   - nesting deeper than max_depth containers (default 64; the root container is depth 1).
// Every refusal is errc::invalid_json with a sentence naming the problem, its byte offset and,
// when known, the JSON pointer (RFC 6901) of the value or key concerned.
//
// The number rule. A number is accepted iff the decimal value written in the input equals
// exactly the decimal value of its canonical output (the ECMAScript Number.prototype.toString
// form of the nearest IEEE-754 double), i.e. the canonical form denotes exactly the number the
// sender wrote. The spelling may differ (4.50, 45e-1, 0.45E1 all canonicalize to 4.5, and -0 to
// 0), the value may not. So 0.1, 1e+21, 1e-7, 123456789012, -42, 9007199254740991, 1.5 and
// 100000000000000000 are accepted; 9007199254740993 (canonical 9007199254740992),
// 1.00000000000000000001 (canonical 1), 1e400 (no finite double), 1e-400 (canonical 0) and
// 1152921504606846976 = 2^60 (exactly a double, but its canonical form is 1152921504606847000)
// are refused. Integers are held as int64/uint64 like nlohmann does, and follow the same rule:
// the integer must round-trip through a double to the same decimal (every integer of magnitude
// <= 2^53 does). A double built in code (check_json) is accepted iff it is finite: it is itself
// the value, and its canonical text reads back as the same double.
// A consequence: a sender must write each number in its shortest round-trip form (or any other
// spelling of that same decimal). Serializers that print 17 digits where fewer suffice are
// refused for some values: nlohmann's dump() (Grisu2) prints 8e126 as 7.999999999999999e+126 and
// misses the shortest form for about 0.15% of random doubles, and printf("%.17g") for most.
// Serialize with canonical() (or ECMAScript's JSON.stringify, Python's json.dumps, ...).
//
// Canonical form (RFC 8785): no whitespace; object members sorted by their keys' UTF-16 code
// units at every depth; strings escaped minimally (\" \\ \b \f \n \r \t, other C0 controls as
// \u00xx with lowercase hex, everything else literal UTF-8, including DEL and U+2028/U+2029);
// numbers in ECMAScript form (shortest round-trip digits; plain notation for 1e-6 <= |x| < 1e21,
// exponent notation such as 1e+21, 1e-7, 1.5e-7 otherwise; -0 is written 0).
#include <algorithm>
#include <array>
#include "logline/assert.hpp"
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "logline/detail/hex.hpp"
#include "logline/error.hpp"

namespace logline {

using json = nlohmann::json;  // std::map-backed: members are kept in UTF-8 byte order

namespace detail {

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

}  // namespace detail

// True iff s is well-formed UTF-8 (RFC 3629): no overlongs, no surrogates, nothing above U+10FFFF.
inline bool is_valid_utf8(std::string_view s) noexcept {
  return detail::first_invalid_utf8(s) == detail::utf8_ok;
}

// Appends s as an RFC 8785 string literal. Preconditions: s is valid UTF-8 (not checked here;
// other bytes are copied through) and does not point into out.
inline void write_canonical_string(std::string& out, std::string_view s) {
  detail::canonical_writer(out).string(s);
}

// Appends value in ECMAScript Number.prototype.toString form. Precondition: value is finite
// (checked by LOGLINE_ASSERT, also in release builds; parse_json and check_json guarantee it).
inline void write_canonical_number(std::string& out, double value) {
  LOGLINE_ASSERT(std::isfinite(value),
                 "write_canonical_number: NaN and infinity have no JSON form");
  detail::canonical_writer(out).number(value);
}

// Appends the RFC 8785 canonical form of value. Precondition: check_json(value) passes (valid
// UTF-8 strings, finite numbers, bounded depth — the writer recurses). Integers that break the
// number rule are written as their nearest double; NaN/inf and binary values trip LOGLINE_ASSERT
// (in release builds too). Values from parse_json always satisfy the precondition.
inline void write_canonical(std::string& out, const json& value) {
  detail::canonical_writer(out).value(value);
}

// The canonical form as a new string.
inline std::string canonical(const json& value) {
  std::string out;
  write_canonical(out, value);
  return out;
}

namespace detail {

inline std::string json_error_text(std::string what, std::size_t offset,
                                   const std::string* pointer) {
  what += " at byte ";
  what += std::to_string(offset);
  if (pointer != nullptr && !pointer->empty()) {
    what += " (JSON pointer ";
    what += quote_for_message(*pointer);
    what += ')';
  }
  return what;
}

inline std::string number_refusal(std::string_view written, const decimal& canonical_value) {
  std::string what = "number ";
  append_printable(what, written);
  what += " cannot be represented exactly";
  what += " (its canonical form would be ";
  append_es6(what, canonical_value);
  what += ')';
  return what;
}

// Lets the parser tell how many bytes the lexer has taken, for byte offsets in messages.
struct counting_iterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* at = nullptr;
  std::size_t* taken = nullptr;

  reference operator*() const noexcept { return *at; }
  counting_iterator& operator++() noexcept {
    ++at;
    ++*taken;
    return *this;
  }
  counting_iterator operator++(int) noexcept {
    counting_iterator before = *this;
    ++*this;
    return before;
  }
  friend bool operator==(const counting_iterator& a, const counting_iterator& b) noexcept {
    return a.at == b.at;
  }
  friend bool operator!=(const counting_iterator& a, const counting_iterator& b) noexcept {
    return a.at != b.at;
  }
};

// nlohmann SAX handler that builds the value and enforces the I-JSON rules as it goes.
class ijson_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  ijson_builder(std::string_view text, const std::size_t* taken, std::size_t max_depth)
      : text_(text), taken_(taken), max_depth_(max_depth) {}

  json root;
  std::optional<error_info> failure;

  bool null() { return add(json(nullptr)); }
  bool boolean(bool b) { return add(json(b)); }
  bool number_integer(number_integer_t v) {
    if (!integer_exact(v)) return refuse_number(shortest_decimal(static_cast<double>(v)));
    return add(json(v));
  }
  bool number_unsigned(number_unsigned_t v) {
    if (!integer_exact(v)) return refuse_number(shortest_decimal(static_cast<double>(v)));
    return add(json(v));
  }
  bool number_float(number_float_t v, const string_t& written) {
    const decimal canonical_value = shortest_decimal(v);
    if (!(parse_decimal(written) == canonical_value)) return refuse_number(canonical_value);
    return add(json(v));
  }
  bool string(string_t& s) {
    if (s.find('\0') != string_t::npos)
      return refuse(
          "string " + quote_for_message(s) + " contains U+0000, which I-JSON does not allow",
          token_start_string(), nullptr);
    return add(json(std::move(s)));
  }
  bool binary(binary_t&) {
    return refuse("binary value", consumed(), nullptr);
  }  // not produced by JSON text
  bool start_object(std::size_t) { return enter(true); }
  bool key(string_t& k) {
    frame& f = stack_.back();
    auto& object = f.container->get_ref<json::object_t&>();
    if (k.find('\0') != string_t::npos)
      return refuse("key " + quote_for_message(k) + " contains U+0000, which I-JSON does not allow",
                    token_start_string(), &k);
    auto it = object.lower_bound(k);
    if (it != object.end() && it->first == k)
      return refuse("duplicate key " + quote_for_message(k), token_start_string(), &k);
    it = object.emplace_hint(it, std::move(k), json());
    f.key = &it->first;
    slot_ = &it->second;
    return true;
  }
  bool end_object() { return leave(); }
  bool start_array(std::size_t) { return enter(false); }
  bool end_array() { return leave(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    // position counts the bytes the lexer read, the offending one included.
    std::size_t at = position > 0 ? position - 1 : 0;
    if (at > text_.size()) at = text_.size();
    const std::string_view what = ex.what();
    std::string pointer = current_pointer(nullptr);
    if (ex.id == 406) {  // number overflow: no finite double
      std::string message = "number ";
      const std::size_t start = number_start(number_end());
      append_printable(message, number_token(start));
      message += " cannot be represented exactly (it is beyond the range of a double)";
      failure =
          make_error(errc::invalid_json, json_error_text(std::move(message), start, &pointer));
      return false;
    }
    if (const std::size_t bad = first_invalid_utf8(text_); bad != utf8_ok && bad <= at) {
      std::string message = "invalid UTF-8 (";
      message += describe_invalid_utf8(text_, bad);
      const auto lead = static_cast<unsigned char>(text_[bad]);
      const std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      std::string bytes;
      for (std::size_t i = bad; i < text_.size() && i < bad + len; ++i) {
        static constexpr char hexd[] = "0123456789ABCDEF";
        const auto c = static_cast<unsigned char>(text_[i]);
        if (i > bad && (c & 0xC0) != 0x80) break;
        bytes += ' ';
        bytes += hexd[c >> 4];
        bytes += hexd[c & 15];
      }
      message += bytes.size() > 3 ? ": bytes" : ": byte";
      message += bytes;
      message += ')';
      failure = make_error(errc::invalid_json, json_error_text(std::move(message), bad, &pointer));
      return false;
    }
    // nlohmann's own sentence, without its prefix and without the "last read" echo of the input
    // (which comes last and may hold anything, so nothing below looks at it).
    std::string_view sentence = what;
    if (const auto dash = sentence.find(" - "); dash != std::string_view::npos) {
      sentence.remove_prefix(dash + 3);
    } else if (const auto colon = sentence.find(": "); colon != std::string_view::npos) {
      sentence.remove_prefix(colon + 2);
    }
    if (const auto last = sentence.find("; last read"); last != std::string_view::npos)
      sentence = sentence.substr(0, last);
    const auto says = [&sentence](std::string_view part) {
      return sentence.find(part) != std::string_view::npos;
    };

    std::string message;
    if (at < text_.size() && text_[at] == '\0') {
      message = "U+0000 (a raw NUL byte), which I-JSON does not allow";
    } else if (says("surrogate U+D800..U+DBFF must be followed")) {
      message = "lone high surrogate escape";
      if (const std::size_t escape = escape_before(at, 0xD800, 0xDBFF);
          escape != std::string_view::npos) {
        at = escape;
        message += ' ';
        message += text_.substr(at, 6);  // a checked \uXXXX
      }
      message += " (\\ud800..\\udbff not followed by a \\udc00..\\udfff escape)";
    } else if (says("surrogate U+DC00..U+DFFF must follow")) {
      message = "lone low surrogate escape";
      if (const std::size_t escape = escape_before(at, 0xDC00, 0xDFFF);
          escape != std::string_view::npos) {
        at = escape;
        message += ' ';
        message += text_.substr(at, 6);  // a checked \uXXXX
      }
      message += " (\\udc00..\\udfff without a \\ud800..\\udbff escape before it)";
    } else if (done_) {  // the value was complete: the strict end-of-input check failed
      message = "unexpected characters after the JSON value";
      pointer.clear();
    } else if (text_.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      message = "empty input: expected a JSON value";
    } else {
      message = "not JSON: ";
      append_printable(message, sentence, 200);
    }
    failure = make_error(errc::invalid_json, json_error_text(std::move(message), at, &pointer));
    return false;
  }

 private:
  struct frame {
    json* container;
    const std::string* key;  // object: the member being read, if any
  };

  std::size_t consumed() const noexcept { return *taken_; }

  bool refuse(std::string what, std::size_t at, const std::string* key) {
    const std::string pointer = current_pointer(key);
    failure = make_error(errc::invalid_json, json_error_text(std::move(what), at, &pointer));
    return false;
  }

  bool refuse_number(const decimal& canonical_value) {
    const std::size_t start = number_start(number_end());
    return refuse(number_refusal(number_token(start), canonical_value), start, nullptr);
  }

  // The lexer reads one byte past a number (unless at the end): numbers end with a digit.
  std::size_t number_end() const noexcept {
    std::size_t end = std::min(consumed(), text_.size());
    while (end > 0 && (text_[end - 1] < '0' || text_[end - 1] > '9')) --end;
    return end;
  }
  std::size_t number_start(std::size_t end) const noexcept {
    std::size_t start = end;
    while (start > 0) {
      const char c = text_[start - 1];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        --start;
      } else {
        break;
      }
    }
    return start;
  }
  std::string_view number_token(std::size_t start) const noexcept {
    std::size_t end = start;
    while (end < text_.size()) {
      const char c = text_[end];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++end;
      } else {
        break;
      }
    }
    return text_.substr(start, end - start);
  }

  // Offset of the nearest \uXXXX escape at or before `at` whose value is in [lo, hi], or npos.
  std::size_t escape_before(std::size_t at, unsigned lo, unsigned hi) const noexcept {
    for (std::size_t back = 0; back <= 12 && back <= at; ++back) {
      const std::size_t j = at - back;
      if (j + 6 > text_.size() || text_[j] != '\\' || text_[j + 1] != 'u') continue;
      unsigned v = 0;
      bool hex = true;
      for (std::size_t k = 2; k < 6; ++k) {
        const int h = hex_value(text_[j + k]);
        if (h < 0) hex = false;
        v = v * 16 + static_cast<unsigned>(h < 0 ? 0 : h);
      }
      std::size_t backslashes = 0;
      while (backslashes < j && text_[j - 1 - backslashes] == '\\') ++backslashes;
      if (hex && v >= lo && v <= hi && backslashes % 2 == 0) return j;
    }
    return std::string_view::npos;
  }

  // A string token just ended at consumed() (its closing quote): find its opening quote.
  std::size_t token_start_string() const noexcept {
    std::size_t end = std::min(consumed(), text_.size());
    if (end == 0) return 0;
    std::size_t i = end - 1;  // the closing quote
    while (i > 0) {
      --i;
      if (text_[i] != '"') continue;
      std::size_t backslashes = 0;
      while (backslashes < i && text_[i - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) return i;
    }
    return 0;
  }

  // The pointer of the value about to be read (or of key `extra` in the innermost object).
  std::string current_pointer(const std::string* extra) const {
    std::string out;
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      const frame& f = stack_[i];
      const bool innermost = i + 1 == stack_.size();
      if (f.container->is_array()) {
        const std::size_t size = f.container->size();
        out += '/';
        out += std::to_string(innermost ? size : size - 1);
      } else {
        const std::string* k = innermost && extra != nullptr ? extra : f.key;
        if (k == nullptr) break;
        out += '/';
        append_pointer_token(out, *k);
      }
    }
    return out;
  }

  json* place(json&& v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& container = *stack_.back().container;
    if (container.is_array()) {
      auto& array = container.get_ref<json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }

  void value_done() {
    if (stack_.empty()) {
      done_ = true;
    } else {
      stack_.back().key = nullptr;
    }
  }

  bool add(json&& v) {
    place(std::move(v));
    value_done();
    return true;
  }

  bool enter(bool is_object) {
    if (stack_.size() + 1 > max_depth_)
      return refuse("nesting deeper than the limit of " + std::to_string(max_depth_) + " levels",
                    consumed() - 1, nullptr);
    json* c = place(json(is_object ? json::value_t::object : json::value_t::array));
    stack_.push_back({c, nullptr});
    return true;
  }

  bool leave() {
    stack_.pop_back();
    value_done();
    return true;
  }

  std::string_view text_;
  const std::size_t* taken_;
  std::size_t max_depth_;
  std::vector<frame> stack_;
  json* slot_ = nullptr;
  bool done_ = false;
};

// check_json's walk: on failure fills `what` and the pointer tokens (innermost first).
struct check_failure {
  std::string what;
  std::vector<std::string> tokens_reversed;
};

inline bool check_string(std::string_view s, const char* kind, check_failure& f) {
  if (const std::size_t bad = first_invalid_utf8(s); bad != utf8_ok) {
    f.what = std::string(kind) + " " + quote_for_message(s) + " is not valid UTF-8 (" +
             describe_invalid_utf8(s, bad) + " at byte " + std::to_string(bad) + ")";
    return false;
  }
  if (s.find('\0') != std::string_view::npos) {
    f.what = std::string(kind) + " " + quote_for_message(s) +
             " contains U+0000, which I-JSON does not allow";
    return false;
  }
  return true;
}

inline bool check_value(const json& v, std::size_t depth, std::size_t max_depth, check_failure& f) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::boolean:
      return true;
    case json::value_t::number_integer: {
      const auto i = v.get_ref<const json::number_integer_t&>();
      if (integer_exact(i)) return true;
      std::string text = std::to_string(i);
      f.what = number_refusal(text, shortest_decimal(static_cast<double>(i)));
      return false;
    }
    case json::value_t::number_unsigned: {
      const auto u = v.get_ref<const json::number_unsigned_t&>();
      if (integer_exact(u)) return true;
      std::string text = std::to_string(u);
      f.what = number_refusal(text, shortest_decimal(static_cast<double>(u)));
      return false;
    }
    case json::value_t::number_float: {
      const double d = v.get_ref<const json::number_float_t&>();
      if (std::isfinite(d)) return true;
      f.what = std::isnan(d) ? "number NaN has no JSON form" : "infinite number has no JSON form";
      return false;
    }
    case json::value_t::string:
      return check_string(v.get_ref<const json::string_t&>(), "string", f);
    case json::value_t::array: {
      if (depth + 1 > max_depth) {
        f.what = "nesting deeper than the limit of " + std::to_string(max_depth) + " levels";
        return false;
      }
      const auto& array = v.get_ref<const json::array_t&>();
      for (std::size_t i = 0; i < array.size(); ++i) {
        if (!check_value(array[i], depth + 1, max_depth, f)) {
          f.tokens_reversed.push_back(std::to_string(i));
          return false;
        }
      }
      return true;
    }
    case json::value_t::object: {
      if (depth + 1 > max_depth) {
        f.what = "nesting deeper than the limit of " + std::to_string(max_depth) + " levels";
        return false;
      }
      for (const auto& [key, member] : v.get_ref<const json::object_t&>()) {
        if (!check_string(key, "key", f) || !check_value(member, depth + 1, max_depth, f)) {
          std::string token;
          append_pointer_token(token, key);
          f.tokens_reversed.push_back(std::move(token));
          return false;
        }
      }
      return true;
    }
    case json::value_t::binary:
      f.what = "binary value has no JSON form";
      return false;
    case json::value_t::discarded:
      f.what = "discarded value has no JSON form";
      return false;
  }
  f.what = "unknown value type";
  return false;
}

}  // namespace detail

// Parses text as I-JSON under the rules at the top of this file; errc::invalid_json otherwise.
inline result<json> parse_json(std::string_view text, std::size_t max_depth = 64) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
      static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF)
    return make_error(errc::invalid_json,
                      "byte order mark (U+FEFF) before the JSON value at byte 0");
  std::size_t taken = 0;
  detail::ijson_builder builder(text, &taken, max_depth);
  const detail::counting_iterator first{text.data(), &taken};
  const detail::counting_iterator last{text.data() + text.size(), &taken};
  const bool ok =
      json::sax_parse(first, last, &builder, json::input_format_t::json, /*strict=*/true,
                      /*ignore_comments=*/false);
  if (!ok || builder.failure) {
    if (builder.failure) return std::move(*builder.failure);
    return make_error(errc::invalid_json, "not JSON");
  }
  // nlohmann's lexer takes a raw NUL byte for the end of the input: one after the value ends the
  // parse successfully, so look for it (anywhere else it is already a syntax error).
  if (const void* nul = std::memchr(text.data(), 0, text.size()); nul != nullptr) {
    const auto at = static_cast<std::size_t>(static_cast<const char*>(nul) - text.data());
    return make_error(errc::invalid_json,
                      detail::json_error_text(
                          "U+0000 (a raw NUL byte), which I-JSON does not allow", at, nullptr));
  }
  return std::move(builder.root);
}

// Checks a value built in code against the same rules: strings and keys valid UTF-8 without
// U+0000, numbers finite (doubles) or exact under the number rule (integers), no binary values,
// at most max_depth nested containers.
inline result<void> check_json(const json& value, std::size_t max_depth = 64) {
  detail::check_failure failure;
  if (detail::check_value(value, 0, max_depth, failure)) return {};
  std::string message = std::move(failure.what);
  if (!failure.tokens_reversed.empty()) {
    std::string pointer;
    for (auto it = failure.tokens_reversed.rbegin(); it != failure.tokens_reversed.rend(); ++it) {
      pointer += '/';
      pointer += *it;
    }
    message += " at JSON pointer ";
    message += detail::quote_for_message(pointer);
  }
  return make_error(errc::invalid_json, std::move(message));
}

}  // namespace logline
