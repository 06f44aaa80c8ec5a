// Measurements of the Lua sandbox's metered library, printed, never asserted (hidden: run with
// `logline_runtime_tests "[.lua-bench]"`):
// - the sandbox's pattern matching (lua_string_match.hpp) against Lua's own on ordinary
//   patterns, both called from the same plain lua_State, so only the matchers differ;
// - how far past a 100 ms time limit heavy calls run before they stop (the margin docs/runtime.md
//   states), for library calls and for the VM operations that are not metered.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <logline/runtime/lua.hpp>

#include "support/catch.hpp"

namespace rt = logline::runtime;
namespace dl = logline::runtime::detail;
using namespace std::chrono_literals;

namespace {

// Seconds one run of `code` takes in `L`, the best of three.
double best_of_three(lua_State* L, const std::string& code) {
  double best = 1e9;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (luaL_dostring(L, code.c_str()) != LUA_OK) {
      std::printf("  error: %s\n", lua_tostring(L, -1));
      lua_pop(L, 1);
      return 0;
    }
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

}  // namespace

TEST_CASE("lua bench: the sandbox's matcher against Lua's", "[.lua-bench]") {
  // A state with the sandbox's allocator (the matcher reaches its budget through it) but no hook
  // and no limits worth the name: `mine` holds the sandbox's four functions, `string` Lua's.
  dl::sandbox sb;
  sb.limits.instructions = ~std::uint64_t{0};
  sb.limits.memory_bytes = std::size_t{1} << 32;
  sb.deadline = std::chrono::steady_clock::time_point::max();
  lua_State* L = lua_newstate(&dl::allocate, &sb);
  REQUIRE(L != nullptr);
  luaL_openlibs(L);
  lua_newtable(L);
  dl::install_string_match(L);
  lua_setglobal(L, "mine");
  REQUIRE(luaL_dostring(L, R"(
    local words = {}
    for i = 1, 2000 do words[i] = ("word%d"):format(i) end
    text = table.concat(words, " ")
    lines = {}
    for i = 1, 2000 do lines[i] = ("key%d = value %d; 2024-%02d-%02d (x(y)z) done"):format(i, i * 7, i % 12 + 1, i % 28 + 1) end
    csv = table.concat(lines, "\n")
  )") == LUA_OK);

  struct workload {
    const char* name;
    const char* body;  // uses lib.find, lib.match, lib.gmatch, lib.gsub
  };
  const workload workloads[] = {
      {"find a word (plain)", "for i = 1, 2000 do lib.find(text, 'word1999', 1, true) end"},
      {"find a word (pattern)", "for i = 1, 200 do lib.find(text, 'word19%d9') end"},
      {"match key = value", "for _, l in ipairs(lines) do lib.match(l, '^(%w+)%s*=%s*(%w+)') end"},
      {"match a date", "for _, l in ipairs(lines) do lib.match(l, '(%d+)-(%d+)-(%d+)') end"},
      {"gmatch words", "for i = 1, 20 do for w in lib.gmatch(text, '%a+%d*') do end end"},
      {"gmatch lines", "for i = 1, 20 do for l in lib.gmatch(csv, '[^\\n]+') do end end"},
      {"gsub trim",
       "for _, l in ipairs(lines) do lib.gsub('   ' .. l .. '   ', '^%s*(.-)%s*$', '%1') end"},
      {"gsub a char class", "for i = 1, 10 do lib.gsub(csv, '%d', '#') end"},
      {"gsub with a function",
       "for i = 1, 5 do lib.gsub(text, '%d+', function(d) return d end) end"},
      {"%b and %f",
       "for _, l in ipairs(lines) do lib.match(l, '%b()') lib.find(l, '%f[%a]done') end"},
  };
  std::printf("\n%-24s %12s %12s %8s\n", "workload", "Lua (ms)", "sandbox (ms)", "ratio");
  double total_lua = 0, total_mine = 0;
  for (const workload& w : workloads) {
    const double lua = best_of_three(L, std::string("local lib = string ") + w.body);
    const double mine = best_of_three(L, std::string("local lib = mine ") + w.body);
    total_lua += lua;
    total_mine += mine;
    std::printf("%-24s %12.2f %12.2f %8.2f\n", w.name, lua * 1e3, mine * 1e3, mine / lua);
  }
  std::printf("%-24s %12.2f %12.2f %8.2f\n", "total", total_lua * 1e3, total_mine * 1e3,
              total_mine / total_lua);
  lua_close(L);
}

TEST_CASE("lua bench: how far past the time limit heavy work runs", "[.lua-bench]") {
  rt::lua_limits limits;
  limits.instructions = ~std::uint64_t{0};
  limits.memory_bytes = std::size_t{64} << 20;
  limits.timeout = 100ms;
  const char* const metered[] = {
      "return ('a'):rep(30000):find('.-.-.-b')",
      "return ('('):rep(100000):find('%b()')",
      "return ('a'):rep(20000):find('(.*)%1b')",
      "for x in ('a'):rep(3000):gmatch('.-.-b') do end",
      "local s = ('x'):rep(3e6) while true do local _ = s:gsub('', '-') end",
      "table.sort(setmetatable({}, {__len = function() return 2^31 - 2 end, __index = rawlen, "
      "__newindex = rawequal}))",
      "local t = {('x'):rep(300000):byte(1, -1)} while true do table.sort(t) end",
      "while true do local _ = ('x'):rep(2e7) end",
      "local s = ('x'):rep(1e6) local t = {} for i = 1, 20 do t[i] = s end while true do local _ = "
      "table.concat(t) end",
      "local s = ('x'):rep(1e7) while true do local _ = s:upper() end",
      "local s = ('x'):rep(1e7) while true do local _ = ('%q'):format(s) end",
      "local s = ('x'):rep(1e7) while true do local _ = utf8.len(s) end",
      "local s, n = ('a'):rep(1e7), ('a'):rep(1e4) .. 'b' while true do local _ = s:find(n, 1, "
      "true) end",
      "local s = ('x'):rep(1e7) while true do pcall(table.concat, {s, s, s, {}}) end",
      "local s = ('x'):rep(1e7) while true do local _ = ctx.blake3(s) end",
  };
  // Not metered: one VM instruction (or a constant-time library call) doing work that grows
  // with the data, a thousand of them between two reads of the clock.
  const char* const unmetered[] = {
      "local a, b = ('x'):rep(2e7), ('x'):rep(2e7) while true do local _ = a == b end",
      "local a, b = ('x'):rep(2e7), ('x'):rep(2e7) while true do local _ = a < b end",
      "local a = ('x'):rep(1e7) while true do local _ = a .. 'y' end",
      "local t = {} for i = 1, 2e6 do t[i] = true end for i = 1, 2e6 do t[i] = nil end while true "
      "do local _ = next(t) end",
      "local function f(...) while true do local _ = select('#', ...) end end f(table.unpack({}, "
      "1, 900000))",
      "local t = {} for i = 1, 9e5 do t[i] = i end while true do local _ = {table.unpack(t)} end",
  };
  std::printf("\n%-8s %10s  %s\n", "kind", "past (ms)", "code");
  double worst_metered = 0, worst_unmetered = 0;
  for (const char* const* list : {std::begin(metered), std::begin(unmetered)}) {
    const bool is_metered = list == std::begin(metered);
    const std::size_t n = is_metered ? std::size(metered) : std::size(unmetered);
    for (std::size_t i = 0; i < n; ++i) {
      double worst = 0;
      std::string outcome;
      for (int round = 0; round < 3; ++round) {
        const auto start = std::chrono::steady_clock::now();
        const auto r = rt::run_lua(list[i], {}, limits);
        const double took =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count();
        worst = std::max(worst, took - 100);
        outcome = r ? std::string("finished") : r.error().message().substr(0, 40);
      }
      (is_metered ? worst_metered : worst_unmetered) =
          std::max(is_metered ? worst_metered : worst_unmetered, worst);
      std::printf("%-8s %10.1f  %.70s  [%s]\n", is_metered ? "metered" : "VM", worst, list[i],
                  outcome.c_str());
    }
  }
  std::printf("worst past the limit: metered %.1f ms, not metered %.1f ms\n", worst_metered,
              worst_unmetered);
}
