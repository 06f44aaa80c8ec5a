// libFuzzer target for the Lua sandbox's pattern matching (logline/runtime/detail/lua_string_match.hpp on
// lua_pattern.hpp): string.find, match, gmatch and gsub must give what Lua's own give — the same
// values of the same types, or the same error message — for any subject, pattern, init,
// replacement and count. Both sets of functions run in one lua_State with the sandbox's allocator
// (`mine` holds the sandbox's, `string` Lua's). The sandbox's run first, with a budget: a pattern
// that needs more than that (Lua's matcher, with the same backtracking, would need as much) is
// skipped rather than left to run for hours in Lua's.
//
// Input: byte 0 picks the replacement and the count, byte 1 is init (a signed byte), then the
// pattern, a 0xFE byte, and the subject.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/lua_pattern_fuzz.cpp
//     -llua5.4 -lsodium -o /tmp/lua_pattern_fuzz
//   cp -r tests/fuzz/corpus/lua_pattern /tmp/lua_pattern_corpus && /tmp/lua_pattern_fuzz -max_total_time=60 /tmp/lua_pattern_corpus
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "logline/runtime/lua.hpp"

namespace dl = logline::runtime::detail;

namespace {

// Runs every function both ways on (s, p, init, repl, n) and raises an error naming the first
// difference. Returns "skip" when the sandbox's matcher ran out of its budget.
constexpr std::string_view harness = R"lua(
local s, p, init, repl, n = ...
local function same(a, b)
  if a.n ~= b.n then return false end
  for i = 1, a.n do
    if math.type(a[i]) ~= math.type(b[i]) or type(a[i]) ~= type(b[i]) then return false end
    if type(a[i]) ~= "table" and type(a[i]) ~= "function" and a[i] ~= b[i] then return false end
  end
  return true
end
local function show(r)
  local out = {}
  for i = 1, r.n do out[i] = tostring(r[i]) end
  return table.concat(out, ", ")
end
local function collect(lib, ...)
  local out, f = {}, lib.gmatch(...)
  for i = 1, 100 do
    local r = table.pack(f())
    if r[1] == nil then break end
    for k = 1, r.n do out[#out + 1] = r[k] end
    out[#out + 1] = "|"
  end
  return table.unpack(out)
end
local calls = {
  { "find", function(lib) return lib.find(s, p, init) end },
  { "find plain", function(lib) return lib.find(s, p, init, true) end },
  { "match", function(lib) return lib.match(s, p, init) end },
  { "gmatch", function(lib) return collect(lib, s, p, init) end },
  { "gsub", function(lib) return lib.gsub(s, p, repl, n) end },
}
for _, call in ipairs(calls) do
  local a = table.pack(pcall(call[2], mine))
  local b = table.pack(pcall(call[2], string))
  if not same(a, b) then error(call[1] .. ": sandbox (" .. show(a) .. ") Lua (" .. show(b) .. ")", 0) end
end
return "same"
)lua";

const char* const replacements[] = {"%0", "<%1>", "%2-%1", "%%", "x", "%", "table", "function"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  const std::size_t split = rest.find('\xFE');
  const std::string_view pattern = rest.substr(0, split);
  const std::string_view subject =
      split == std::string_view::npos ? std::string_view() : rest.substr(split + 1);
  if (pattern.size() > 200 || subject.size() > 1000) return 0;

  dl::sandbox sb;
  sb.limits.instructions = 200'000;  // the sandbox's matcher; Lua's then does about as much
  sb.limits.memory_bytes = std::size_t{64} << 20;
  sb.deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  sb.budget_text = "budget";
  sb.memory_text = "memory";
  sb.time_text = "time";
  lua_State* L = lua_newstate(&dl::allocate, &sb);
  if (L == nullptr) std::abort();
  luaL_openlibs(L);
  lua_newtable(L);
  dl::install_string_match(L);
  lua_setglobal(L, "mine");
  if (luaL_loadbufferx(L, harness.data(), harness.size(), "=harness", "t") != LUA_OK) std::abort();
  lua_pushlstring(L, subject.data(), subject.size());
  lua_pushlstring(L, pattern.data(), pattern.size());
  lua_pushinteger(L, static_cast<lua_Integer>(static_cast<std::int8_t>(data[1])));
  const char* replacement = replacements[data[0] % std::size(replacements)];
  if (std::strcmp(replacement, "table") == 0) {
    luaL_dostring(L, "return { a = 'A', [1] = 'one', ab = false, b = {} }");
  } else if (std::strcmp(replacement, "function") == 0) {
    luaL_dostring(L,
                  "return function(a, ...) if a == 'a' then return nil end return tostring(a) .. "
                  "select('#', ...) end");
  } else {
    lua_pushstring(L, replacement);
  }
  const int count = (data[0] >> 3) % 4;  // nil, 0, 1, 2
  if (count == 0)
    lua_pushnil(L);
  else
    lua_pushinteger(L, count - 1);
  const int status = lua_pcall(L, 5, 1, 0);
  if (status != LUA_OK && sb.limit == dl::limit_kind::none) {
    std::fprintf(stderr, "lua_pattern_fuzz: %s\n  pattern: %.*s\n  subject: %.*s\n",
                 lua_tostring(L, -1), static_cast<int>(pattern.size()), pattern.data(),
                 static_cast<int>(subject.size()), subject.data());
    std::abort();
  }
  lua_close(L);
  return 0;
}
