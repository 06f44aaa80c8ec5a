// libFuzzer target for logline/json.hpp: parse_json must never crash, must refuse only with
// errc::invalid_json and a UTF-8 message, and whatever it accepts must canonicalize idempotently:
// parse(canonical(v)) succeeds, equals v, and canonicalizes to the same bytes. The checks below
// use their own code (a separate UTF-8 decoder) and plain abort(), not logline's assertions.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/json_fuzz.cpp -o /tmp/json_fuzz
//   cp -r tests/fuzz/corpus/json /tmp/json_corpus && /tmp/json_fuzz -max_total_time=60 /tmp/json_corpus
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "logline/json.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view a, std::string_view b = {}) {
  std::fprintf(stderr, "json_fuzz: %s\n  first:  %.*s\n  second: %.*s\n", what,
               static_cast<int>(a.size()), a.data(), static_cast<int>(b.size()), b.data());
  std::abort();
}

// Decodes each sequence by value, then rejects overlongs, surrogates and values past U+10FFFF.
bool reference_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1Fu;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0Fu;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07u;
    } else {
      return false;
    }
    if (s.size() - i < len) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (logline::is_valid_utf8(text) != reference_utf8(text))
    fail("is_valid_utf8 disagrees with the reference", text);

  auto parsed = logline::parse_json(text);
  if (!parsed) {
    if (!(parsed.error() == logline::errc::invalid_json))
      fail("refusal with a code other than invalid_json", text);
    const std::string message = parsed.error().message();
    if (message.empty() || !reference_utf8(message) || message.find('\0') != std::string::npos)
      fail("refusal message is empty or not clean UTF-8", text, message);
    return 0;
  }

  // Accepted text is UTF-8 without NUL bytes, and its value passes check_json.
  if (!reference_utf8(text)) fail("accepted text that is not valid UTF-8", text);
  if (std::memchr(data, 0, size) != nullptr) fail("accepted text with a NUL byte", text);
  if (auto checked = logline::check_json(*parsed); !checked)
    fail("parsed value fails check_json", text, checked.error().message());

  const std::string once = logline::canonical(*parsed);
  if (!reference_utf8(once)) fail("canonical form is not valid UTF-8", text, once);
  auto again = logline::parse_json(once);
  if (!again) fail("canonical form does not parse", once, again.error().message());
  const std::string twice = logline::canonical(*again);
  if (once != twice) fail("canonical form is not idempotent", once, twice);
  if (!(*again == *parsed)) fail("canonical form parses to a different value", text, once);
  return 0;
}
