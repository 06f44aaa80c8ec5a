// libFuzzer target for the Lua sandbox's JSON bridge (logline/runtime/lua.hpp): the input bytes,
// when parse_json accepts them, go into Lua as ctx.input and come straight back
// (`return ctx.input`). The run must never crash, and its result must be the input after the
// bridge's documented conversions, computed here independently:
//   - null is nil: a null member is absent, a null array element a hole; trailing nulls of an
//     array just shorten it, any other hole makes the table unconvertible (errc::invalid_json);
//   - an empty table (from [], {}, or a container of nulls only) comes back as {};
//   - unsigned integers above 2^63-1 become floats (equal as JSON numbers).
// So a value without nulls and empty containers comes back exactly.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/lua_json_fuzz.cpp
//     -llua5.4 -lsodium -o /tmp/lua_json_fuzz
//   cp -r tests/fuzz/corpus/lua_json /tmp/lua_json_corpus && /tmp/lua_json_fuzz -max_total_time=60 /tmp/lua_json_corpus
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "logline/json.hpp"
#include "logline/runtime/lua.hpp"

using logline::json;

namespace {

[[noreturn]] void fail(const char* what, std::string_view input, std::string_view detail = {}) {
  std::fprintf(stderr, "lua_json_fuzz: %s\n  input:  %.*s\n  detail: %.*s\n", what,
               static_cast<int>(input.size()), input.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// What v becomes after JSON -> Lua -> JSON; nullopt when the bridge must refuse it (a hole).
std::optional<json> through_lua(const json& v) {
  if (v.is_number_unsigned() &&
      v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    return json(v.get<double>());
  if (v.is_object()) {
    json out = json::object();
    for (const auto& [key, member] : v.items()) {
      if (member.is_null()) continue;
      auto converted = through_lua(member);
      if (!converted) return std::nullopt;
      out[key] = std::move(*converted);
    }
    return out;
  }
  if (v.is_array()) {
    std::size_t length = v.size();
    while (length > 0 && v[length - 1].is_null()) --length;
    if (length == 0) return json::object();
    json out = json::array();
    for (std::size_t i = 0; i < length; ++i) {
      if (v[i].is_null()) return std::nullopt;
      auto converted = through_lua(v[i]);
      if (!converted) return std::nullopt;
      out.push_back(std::move(*converted));
    }
    return out;
  }
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto input = logline::parse_json(text);
  if (!input) return 0;

  logline::runtime::lua_context ctx;
  ctx.values["input"] = *input;
  logline::runtime::lua_limits limits;
  limits.instructions = 1'000'000;
  limits.memory_bytes = std::size_t{32} << 20;
  limits.timeout = std::chrono::seconds(10);
  const auto back = logline::runtime::run_lua("return ctx.input", ctx, limits);

  const auto expected = through_lua(*input);
  if (!expected) {
    if (back) fail("a value with a hole came back", text, back->dump());
    if (!(back.error() == logline::errc::invalid_json))
      fail("a hole refused with a code other than invalid_json", text, back.error().message());
    return 0;
  }
  if (!back) fail("a convertible value was refused", text, back.error().message());
  if (!(*back == *expected))
    fail("the value came back different", text, back->dump() + " expected " + expected->dump());
  if (auto checked = logline::check_json(*back); !checked)
    fail("the result is not I-JSON", text, checked.error().message());
  return 0;
}
