// libFuzzer target for the span input path (what logline-cli append and the HTTP server feed
// untrusted bytes through): span_from_json_text<universal_span> must never crash and must refuse
// with a clear error; a span it accepts and that validates must canonicalize, and its export form
// must read back to the same canonical form (the round trip that verify relies on). Timestamps
// and uuids met on the way must print back to what parsed them.
//
//   make fuzz          (or: clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined
//                       -Iinclude tests/fuzz/span_fuzz.cpp -lsodium -o /tmp/span_fuzz)
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logline/logline.hpp"

namespace {
[[noreturn]] void fail(const char* what, std::string_view a, std::string_view b = {}) {
  std::fprintf(stderr, "span_fuzz: %s\n  first:  %.*s\n  second: %.*s\n", what,
               static_cast<int>(a.size()), a.data(), static_cast<int>(b.size()), b.data());
  std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Scalars: whatever parses prints back to the same value.
  if (auto t = logline::timestamp::parse(text)) {
    if (logline::timestamp::parse(t->to_string()).value() != *t)
      fail("timestamp round trip", text, t->to_string());
    if (t->to_string() != text) fail("timestamp spelling", text, t->to_string());
  }
  if (auto u = logline::uuid::parse(text)) {
    if (logline::uuid::parse(u->to_string()).value() != *u)
      fail("uuid round trip", text, u->to_string());
  }

  auto span = logline::span_from_json_text<logline::universal_span>(text);
  if (!span) {
    if (span.error().message().empty()) fail("refusal without a message", text);
    return 0;
  }
  if (!logline::validate_span(*span)) return 0;
  const std::string canonical = logline::canonical_span(*span);
  const std::string exported = logline::span_to_json_text(*span);
  auto again = logline::span_from_json_text<logline::universal_span>(exported);
  if (!again) fail("the export form does not read back", exported, again.error().message());
  if (logline::canonical_span(*again) != canonical)
    fail("canonical form changed through export", canonical, logline::canonical_span(*again));
  if (logline::span_to_json_text(*again) != exported)
    fail("export form changed", exported, logline::span_to_json_text(*again));
  auto parsed = logline::parse_json(canonical);
  if (!parsed) fail("the canonical form is not I-JSON", canonical, parsed.error().message());
  if (logline::canonical(*parsed) != canonical)
    fail("the canonical form is not canonical", canonical, logline::canonical(*parsed));
  return 0;
}
