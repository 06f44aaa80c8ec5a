// libFuzzer target for logline/checkpoint.hpp: checkpoint::parse must never crash, must refuse
// only with a message starting "checkpoint:" and one of its three error codes, and whatever it
// accepts must write back as canonical text that parses to the same checkpoint (same time,
// heads, key and signature; a signed one still verifies), byte for byte the same the second time.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/checkpoint_fuzz.cpp -lsodium -o /tmp/checkpoint_fuzz
//   cp -r tests/fuzz/corpus/checkpoint /tmp/checkpoint_corpus && /tmp/checkpoint_fuzz -max_total_time=60 /tmp/checkpoint_corpus
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logline/checkpoint.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view detail) {
  std::fprintf(stderr, "checkpoint_fuzz: %s\n  %.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = logline::checkpoint::parse(text);
  if (!parsed) {
    const auto& e = parsed.error();
    if (!(e == logline::errc::invalid_json || e == logline::errc::invalid_argument ||
          e == logline::errc::bad_signature))
      fail("refused with an unexpected error code", e.message());
    if (e.message().rfind("checkpoint: ", 0) != 0)
      fail("a refusal that does not start with 'checkpoint: '", e.message());
    return 0;
  }
  const std::string written = parsed->to_text();
  auto again = logline::checkpoint::parse(written);
  if (!again) fail("its own text does not parse back", again.error().message());
  if (again->at != parsed->at || again->heads != parsed->heads ||
      again->public_key != parsed->public_key || again->signature != parsed->signature)
    fail("parse(to_text()) is another checkpoint", written);
  if (again->to_text() != written) fail("to_text() is not stable", written);
  if (parsed->signature && !again->signature_ok())
    fail("an accepted signature does not verify", written);
  return 0;
}
