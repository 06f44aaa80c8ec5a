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
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "logline/assert.hpp"
#include "logline/detail/json_reader.hpp"
#include "logline/detail/json_text.hpp"
#include "logline/error.hpp"

namespace logline {

using json = nlohmann::json;  // std::map-backed: members are kept in UTF-8 byte order

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
