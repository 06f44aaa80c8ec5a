// The Lua sandbox (logline/runtime/lua.hpp): what the sandbox holds and refuses, its three limits
// (each also behind pcall loops), error messages, the JSON bridge both ways, host functions, the
// built-ins, and that a run after any failure starts clean.
#include <atomic>
#include <chrono>
#include <cmath>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <logline/runtime/lua.hpp>

#include "support/catch.hpp"

using namespace std::chrono_literals;
using logline::errc;
using logline::json;
namespace rt = logline::runtime;

namespace {

// Limits small enough that a test that goes wrong fails fast rather than hanging.
rt::lua_limits small_limits() {
  rt::lua_limits l;
  l.instructions = 5'000'000;
  l.memory_bytes = std::size_t{8} << 20;
  l.timeout = 30s;
  return l;
}

json run_ok(std::string_view code, const rt::lua_context& ctx = {},
            const rt::lua_limits& limits = small_limits()) {
  auto r = rt::run_lua(code, ctx, limits);
  INFO("code: " << code);
  INFO("error: " << (r ? std::string() : r.error().message()));
  REQUIRE(r);
  return *r;
}

logline::error_info run_fail(std::string_view code, const rt::lua_context& ctx = {},
                             const rt::lua_limits& limits = small_limits()) {
  auto r = rt::run_lua(code, ctx, limits);
  INFO("code: " << code);
  INFO("result: " << (r ? r->dump() : std::string()));
  REQUIRE_FALSE(r);
  return r.error();
}

std::string message_of(const logline::error_info& e) { return e.message(); }

// Runs code in a child process, killed after `patience`: code that escapes the limits then fails
// the test instead of hanging the whole test run.
logline::result<json> run_in_child(std::string_view code, const rt::lua_limits& limits,
                                   std::chrono::seconds patience = 60s) {
  INFO("code: " << code);
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    const auto r = rt::run_lua(code, {}, limits);
    const std::string text = r ? r->dump() : r.error().message();
    const ssize_t written = write(fds[1], text.data(), text.size());
    _exit(written < 0 ? 99 : r ? 0 : 100 + r.error().code().value());
  }
  close(fds[1]);
  const auto give_up = std::chrono::steady_clock::now() + patience;
  int status = 0;
  bool stopped = false;
  while (!stopped) {
    stopped = waitpid(pid, &status, WNOHANG) == pid;
    if (!stopped && std::chrono::steady_clock::now() > give_up) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    if (!stopped) std::this_thread::sleep_for(5ms);
  }
  std::string text;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;)
    text.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  INFO("output: " << text);
  REQUIRE(stopped);  // else the code escaped the limits
  REQUIRE(WIFEXITED(status));
  const int exit_code = WEXITSTATUS(status);
  if (exit_code == 0) return json::parse(text);
  REQUIRE(exit_code > 100);
  return logline::make_error(static_cast<errc>(exit_code - 100), text);
}

// The same, for code that must fail: its error.
logline::error_info must_stop(std::string_view code, const rt::lua_limits& limits) {
  auto r = run_in_child(code, limits);
  INFO("code: " << code);
  INFO("result: " << (r ? r->dump() : std::string()));
  REQUIRE_FALSE(r);
  return r.error();
}

}  // namespace

TEST_CASE("lua: the sandbox holds only the safe libraries", "[runtime][lua]") {
  const json types = run_ok(R"(
    local names = { "io", "os", "debug", "package", "require", "load", "loadstring", "dofile",
                    "loadfile", "collectgarbage", "string", "table", "math", "utf8", "coroutine",
                    "pcall", "print", "setmetatable", "xpcall" }
    local t = {}
    for _, name in ipairs(names) do t[name] = type(_G[name]) end
    t["string.dump"] = type(string.dump)
    t["(\"\").dump"] = type(("").dump)          -- strings index the string table
    t.print_returns = select("#", print("ignored"))
    return t
  )");
  for (const char* gone : {"io", "os", "debug", "package", "require", "load", "loadstring",
                           "dofile", "loadfile", "collectgarbage", "string.dump", "(\"\").dump"}) {
    INFO(gone);
    CHECK(types.at(gone) == "nil");
  }
  for (const char* kept : {"string", "table", "math", "utf8", "coroutine"}) {
    INFO(kept);
    CHECK(types.at(kept) == "table");
  }
  for (const char* kept : {"pcall", "print", "setmetatable", "xpcall"}) {
    INFO(kept);
    CHECK(types.at(kept) == "function");
  }
  CHECK(types.at("print_returns") == 0);  // print does nothing
}

TEST_CASE("lua: bytecode is refused", "[runtime][lua]") {
  // Real bytecode, made by an ordinary Lua state outside the sandbox.
  lua_State* plain = luaL_newstate();
  REQUIRE(plain != nullptr);
  REQUIRE(luaL_loadstring(plain, "return 42") == LUA_OK);
  std::string bytecode;
  lua_dump(
      plain,
      [](lua_State*, const void* p, std::size_t n, void* out) {
        static_cast<std::string*>(out)->append(static_cast<const char*>(p), n);
        return 0;
      },
      &bytecode, 0);
  lua_close(plain);
  REQUIRE(bytecode.rfind("\x1bLua", 0) == 0);

  const auto e = run_fail(bytecode);
  CHECK(e == errc::execution_failed);
  CHECK_THAT(message_of(e), Catch::Contains("binary chunk"));
  CHECK(run_fail("\x1bLua garbage") == errc::execution_failed);
}

TEST_CASE("lua: finalizers and message handlers cannot escape the hook", "[runtime][lua]") {
  SECTION("setmetatable refuses __gc") {
    const auto e =
        must_stop("setmetatable({}, { __gc = function() while true do end end })", small_limits());
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e), Catch::Contains("__gc"));
    // A metatable without __gc is fine, and __gc added afterwards never marks the object.
    CHECK(run_ok(R"(
      local mt = { __index = function(_, k) return k .. "!" end }
      local t = setmetatable({}, mt)
      mt.__gc = function() while true do end end
      return t.hi
    )") == "hi!");
  }
  SECTION("xpcall still works") {
    CHECK(run_ok(R"(
      local ok, v = xpcall(function(a, b) return a + b end, function(m) return "handled" end, 2, 3)
      local bad, m = xpcall(function() error({ code = 7 }) end, function(e) return e.code * 2 end)
      return { ok, v, bad, m }
    )") == json::array({true, 5, false, 14}));
    CHECK(run_fail("xpcall(print, 42)") == errc::execution_failed);
  }
  SECTION("an xpcall handler that loops forever is stopped") {
    const auto e =
        must_stop("xpcall(function() while true do end end, function() while true do end end)",
                  small_limits());
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget"));
  }
  SECTION("a __close handler that loops forever is stopped") {
    const auto e = must_stop(R"(
      local guard <close> = setmetatable({}, { __close = function() while true do end end })
      while true do end
    )",
                             small_limits());
    CHECK(e == errc::limit_exceeded);
  }
}

TEST_CASE("lua: library functions that loop in C are guarded", "[runtime][lua]") {
  SECTION("table.move charges what it moves") {
    CHECK(run_ok("return table.move({1, 2, 3}, 1, 3, 2)") == json::array({1, 1, 2, 3}));
    CHECK(run_ok("return table.move({1, 2, 3}, 2, 3, 1, {})") == json::array({2, 3}));
    const auto e =
        must_stop("return #table.move({}, 1, 2^62, 2)", small_limits());  // nils: no memory used
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget"));
    CHECK_THAT(message_of(run_fail("table.move(nil, 1, 2, 3)")),
               Catch::Contains("bad argument #1 to 'move'"));
  }
  SECTION("string.rep of empty pieces returns at once") {
    const auto empty = run_in_child("return string.rep('', math.maxinteger) .. (''):rep(2^62, '')",
                                    small_limits());
    REQUIRE(empty);
    CHECK(*empty == "");
    CHECK(run_ok("return ('x'):rep(0) .. ('x'):rep(-5) .. ('ab'):rep(3, ',')") == "ab,ab,ab");
    CHECK(run_ok("return ('-'):rep(3, '')") == "---");
  }
  SECTION("table.insert and table.remove refuse a table with __len") {
    CHECK(run_ok("local t = {1, 2} table.insert(t, 3) table.insert(t, 1, 0) table.remove(t, 2) "
                 "return t") == json::array({0, 2, 3}));
    for (const char* code :
         {"table.insert(setmetatable({}, {__len = function() return 2^62 end}), 1, 'x')",
          "table.remove(setmetatable({}, {__len = function() return 2^62 end}), 1)"}) {
      const auto e = must_stop(code, small_limits());
      CHECK(e == errc::execution_failed);
      CHECK_THAT(message_of(e), Catch::Contains("a table with a __len metamethod is not allowed"));
    }
  }
  SECTION("setmetatable keeps its argument checks") {
    CHECK_THAT(message_of(run_fail("setmetatable(1, {})")),
               Catch::Contains("bad argument #1 to 'setmetatable'"));
    CHECK_THAT(message_of(run_fail("setmetatable({}, 1)")),
               Catch::Contains("bad argument #2 to 'setmetatable'"));
    CHECK_THAT(message_of(run_fail("setmetatable(setmetatable({}, {__metatable = 'locked'}), {})")),
               Catch::Contains("cannot change a protected metatable"));
  }
}

namespace {

// Work done inside one C call, or in C calls between two hook calls: each of these ran for
// seconds to hours past the limits before pattern matching was the sandbox's own and library
// functions paid for their work (lua_string_match.hpp, lua_metered.hpp).
struct heavy_call {
  const char* code;
  bool timed = true;  // also stopped by the clock under an unlimited budget (not: it would fail)
};
const heavy_call heavy_calls[] = {
    // pattern bombs: backtracking in one call
    {"return ('a'):rep(2000):find('.-.-b')"},
    {"return ('a'):rep(30000):find('.-.-.-b')"},
    {"return ('a'):rep(5000):match(('(.-)'):rep(5) .. 'b')"},
    {"return ('a'):rep(3000):find(('a*'):rep(20) .. 'b')"},
    {"return ('('):rep(100000):find('%b()')"},
    {"return ('a'):rep(20000):find('(.*)%1b')"},
    {"return ('a'):rep(3000):gsub('.-.-b', '')"},
    {"for x in ('a'):rep(3000):gmatch('.-.-b') do end"},
    {"local s = ('a'):rep(3000) while true do pcall(string.match, s, '.-.-b') end"},
    {"local s = ('x'):rep(3e6) while true do local _ = s:gsub('', '-') end"},
    // one call that loops as long as its arguments say
    {"return #table.concat({}, '', 1, 2^40)", false},
    {"return #table.concat(setmetatable({}, {__index = function() return '' end}), '', 1, 2^40)"},
    {"table.sort(setmetatable({}, {__len = function() return 2^31 - 2 end, __index = rawlen, "
     "__newindex = rawequal}))"},
    {"local t = {('x'):rep(300000):byte(1, -1)} while true do table.sort(t) end"},
    {"while true do local _ = ('x'):rep(2e7) end"},
    {"local s = ('x'):rep(1e6) local t = {} for i = 1, 20 do t[i] = s end while true do local _ = "
     "table.concat(t) end"},
    // calls each of which does a lot, in a loop
    {"while true do local n = select('#', table.unpack({}, 1, 900000)) end"},
    {"local s = ('x'):rep(1e6) while true do local _ = s:upper() end"},
    {"local s = ('x'):rep(1e6) while true do local _ = s:sub(2) end"},
    {"local s = ('1'):rep(1e6) while true do local _ = tonumber(s) end"},
    {"local s = ('x'):rep(1e6) while true do local _ = utf8.len(s) end"},
    {"local s, f = ('\\x80'):rep(1e6), utf8.codes('') while true do pcall(f, s, 0) end"},
    {"local s = ('x'):rep(1e6) while true do local _ = ('%q'):format(s) end"},
    {"local s = ('x'):rep(1e6) while true do local _ = s:find('y', 1, true) end"},
    {"local s, n = ('a'):rep(1e6), ('a'):rep(1e4) .. 'b' while true do local _ = s:find(n, 1, "
     "true) end"},
    {"local s = ('x'):rep(1e6) while true do local _ = ctx.blake3(s) end"},
    {"local s = string.pack('s4', ('x'):rep(1e6)) while true do local _ = string.unpack('s4', s) "
     "end"},
    {"while true do local _ = string.pack('c1000000', '') end"},
    {"local t = {} for i = 1, 1e5 do t[i] = i end while true do table.insert(t, 1, 0) "
     "table.remove(t, 1) end"},
    {"local a, b = ('x'):rep(1e6), ('x'):rep(1e6) while true do local _ = rawequal(a, b) end"},
    {"local s = ('x'):rep(1e6) while true do pcall(table.concat, {s, s, s, {}}) end"},
};

}  // namespace

TEST_CASE("lua: heavy library calls end at the instruction budget", "[runtime][lua]") {
  rt::lua_limits limits;
  limits.instructions = 2'000'000;
  limits.memory_bytes = std::size_t{64} << 20;
  limits.timeout = 30s;  // far more than the budget takes; the old sandbox ran into it
  for (const heavy_call& heavy : heavy_calls) {
    INFO(heavy.code);
    const auto e = must_stop(heavy.code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e),
               Catch::Contains("instruction budget of 2000000 instructions exceeded"));
  }
  // Host calls pay for carrying their arguments and value across the bridge.
  rt::lua_context ctx;
  ctx.functions["echo"] = [](const json& args) -> logline::result<json> { return args.at(0); };
  const auto e =
      run_fail("local s = ('x'):rep(1e6) while true do local _ = ctx.echo(s) end", ctx, limits);
  CHECK(e == errc::limit_exceeded);
  CHECK_THAT(message_of(e), Catch::Contains("instruction budget of 2000000 instructions exceeded"));
}

TEST_CASE("lua: heavy library calls end at the time limit", "[runtime][lua]") {
  rt::lua_limits limits;
  limits.instructions = 1'000'000'000'000'000;  // hours of work
  limits.memory_bytes = std::size_t{64} << 20;
  limits.timeout = 100ms;
  for (const heavy_call& heavy : heavy_calls) {
    if (!heavy.timed) continue;
    INFO(heavy.code);
    const auto e = must_stop(heavy.code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("time limit of 100 ms exceeded"));
  }
}

TEST_CASE("lua: a limit reached inside a library call cannot be caught", "[runtime][lua]") {
  rt::lua_limits limits = small_limits();
  limits.instructions = 1'000'000;
  for (const char* code : {
           "local ok = pcall(string.find, ('a'):rep(2000), '.-.-b') return ok",
           "local ok = pcall(function() return ('a'):rep(2000):find('.-.-b') end) return "
           "'survived'",
           "while true do pcall(string.gsub, ('a'):rep(2000), '.-.-b', '') end",
           "local ok = xpcall(string.match, function() return 'handled' end, ('a'):rep(2000), "
           "'.-.-b') return ok",
           "local f = coroutine.wrap(function() return ('a'):rep(2000):find('.-.-b') end) local ok "
           "= pcall(f) return ok",
           "local co = coroutine.create(string.find) local ok = coroutine.resume(co, "
           "('a'):rep(2000), '.-.-b') return ok",
           "local ok = pcall(table.concat, {}, '', 1, 2^40) return ok",
           "for i = 1, 3 do pcall(table.sort, setmetatable({}, {__len = function() return 2^31 - 2 "
           "end, __index = rawlen})) end return 1",
           "local ok = pcall(string.gsub, ('a'):rep(100), '.', function() return "
           "('a'):rep(2000):match('.-.-b') end) return ok",
       }) {
    INFO(code);
    const auto e = must_stop(code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget"));
  }
}

TEST_CASE("lua: library calls within the budget still work", "[runtime][lua]") {
  rt::lua_limits limits = small_limits();
  limits.instructions = 5'000'000;
  limits.memory_bytes = std::size_t{64} << 20;
  // Linear work well inside the budget: a long plain find that Lua's own search does in
  // quadratic time, a big sort, a big gsub.
  CHECK(run_ok("return ('a'):rep(1e6):find(('a'):rep(1e4) .. 'b', 1, true)", {}, limits).is_null());
  CHECK(run_ok("return ('ab'):rep(2e5):find('aba', 1, true)", {}, limits) == 1);
  CHECK(run_ok(R"(
    local t = {}
    for i = 1, 20000 do t[i] = (i * 7919) % 20011 end
    table.sort(t)
    for i = 2, #t do if t[i - 1] > t[i] then return false end end
    return #t
  )",
               {}, limits) == 20000);
  CHECK(run_ok("local s, n = ('abc '):rep(20000):gsub('%w+', '%0!') return n", {}, limits) ==
        20000);
}

TEST_CASE("lua: table.sort sorts, with and without an order function", "[runtime][lua]") {
  CHECK(run_ok("local t = {5, 3, 9, 1, 1, 7} table.sort(t) return t") ==
        json::array({1, 1, 3, 5, 7, 9}));
  CHECK(run_ok("local t = {5, 3, 9, 1} table.sort(t, function(a, b) return a > b end) return t") ==
        json::array({9, 5, 3, 1}));
  CHECK(run_ok("local t = {'b', 'a', 'c'} table.sort(t) return t") == json::array({"a", "b", "c"}));
  CHECK(run_ok("local t = {} table.sort(t) return #t") == 0);
  CHECK(run_ok("local t = {1} table.sort(t) return t") == json::array({1}));
  // Every length up to a few partitions deep, every order of input: sorted and a permutation.
  CHECK(run_ok(R"(
    local seed = 7
    local function random(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n end
    for n = 0, 300 do
      for _, spread in ipairs({3, n + 1, 1000}) do
        local t, count = {}, {}
        for i = 1, n do t[i] = random(spread) count[t[i]] = (count[t[i]] or 0) + 1 end
        local byorder = n % 2 == 0
        if byorder then table.sort(t, function(a, b) return a < b end) else table.sort(t) end
        for i = 2, n do if t[i - 1] > t[i] then return "not sorted: n=" .. n end end
        for i = 1, n do count[t[i]] = count[t[i]] - 1 end
        for _, c in pairs(count) do if c ~= 0 then return "not a permutation: n=" .. n end end
      end
    end
    local sorted, reversed = {}, {}
    for i = 1, 5000 do sorted[i] = i reversed[i] = 5001 - i end
    table.sort(sorted) table.sort(reversed)
    for i = 1, 5000 do if sorted[i] ~= i or reversed[i] ~= i then return "bad at " .. i end end
    return "ok"
  )",
               {}, [] {
                 rt::lua_limits l = small_limits();
                 l.instructions = 500'000'000;
                 return l;
               }()) == "ok");
  CHECK_THAT(message_of(run_fail("table.sort({1, 'x', 2})")),
             Catch::Contains("attempt to compare"));
  CHECK_THAT(message_of(run_fail("table.sort({3, 2, 1}, 42)")),
             Catch::Contains("bad argument #2 to 'sort'"));
  CHECK_THAT(message_of(run_fail("table.sort('abc')")),
             Catch::Contains("bad argument #1 to 'sort'"));
  CHECK_THAT(message_of(run_fail("table.sort({3, 2, 1}, function() error('mine') end)")),
             Catch::Contains("mine"));
  // An order that is not one: Lua's error, or some order, never a crash or a hang.
  for (const char* order : {"function() return true end", "function(a, b) return a <= b end",
                            "function() return false end"}) {
    INFO(order);
    const auto r = rt::run_lua("local t = {} for i = 1, 1000 do t[i] = i % 17 end table.sort(t, " +
                                   std::string(order) + ") return #t",
                               {}, small_limits());
    if (!r) CHECK_THAT(r.error().message(), Catch::Contains("invalid order function for sorting"));
    if (r) CHECK(*r == 1000);
  }
}

TEST_CASE("lua: the instruction budget", "[runtime][lua]") {
  rt::lua_limits limits = small_limits();
  limits.instructions = 1'000'000;
  limits.timeout = 20s;  // so only the budget can stop these

  SECTION("an infinite loop") {
    const auto e = must_stop("while true do end", limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e),
               Catch::Contains("instruction budget of 1000000 instructions exceeded") &&
                   Catch::Contains("function:1"));
  }
  SECTION("an infinite loop inside pcall, inside an infinite loop") {
    const auto e = must_stop("while true do pcall(function() while true do end end) end", limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget"));
  }
  SECTION("pcall loops nested three deep") {
    const auto e = must_stop(R"(
      while true do
        pcall(function()
          while true do
            pcall(function() while true do pcall(function() while true do end end) end end)
          end
        end)
      end
    )",
                             limits);
    CHECK(e == errc::limit_exceeded);
  }
  SECTION("inside coroutines, resumed in a loop") {
    const auto e = must_stop(R"(
      local co = coroutine.create(function() while true do pcall(function() while true do end end) end end)
      while true do coroutine.resume(co) co = coroutine.create(function() while true do end end) end
    )",
                             limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget"));
  }
  SECTION("deep recursion caught by pcall") {
    const auto e = must_stop(R"(
      local function f() return 1 + f() end
      while true do pcall(f) end
    )",
                             limits);
    CHECK(e == errc::limit_exceeded);
  }
  SECTION("the error caught and ignored: the chunk cannot return normally") {
    const auto e =
        must_stop("local ok = pcall(function() while true do end end) return 'survived'", limits);
    CHECK(e == errc::limit_exceeded);
  }
  SECTION("a budget that a loop of known length fits in, and one it does not") {
    limits.instructions = 100'000;
    CHECK(run_ok("local n = 0 for i = 1, 1000 do n = n + i end return n", {}, limits) == 500500);
    CHECK(must_stop("local n = 0 for i = 1, 1000000 do n = n + i end return n", limits) ==
          errc::limit_exceeded);
    limits.instructions = 0;
    CHECK(must_stop("local x = 1 return x", limits) == errc::limit_exceeded);
  }
}

TEST_CASE("lua: the memory cap", "[runtime][lua]") {
  rt::lua_limits limits = small_limits();
  limits.memory_bytes = std::size_t{4} << 20;
  limits.instructions = 2'000'000'000;  // only the cap should stop these
  limits.timeout = 20s;

  SECTION("a table that grows forever") {
    const auto e =
        must_stop("local t = {} while true do t[#t+1] = ('x'):rep(1000) .. #t end", limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("memory cap of 4194304 bytes exceeded"));
  }
  SECTION("one huge string") {
    const auto e = must_stop("return ('x'):rep(1e10)", limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("memory cap"));
  }
  SECTION("huge strings requested in a pcall loop") {
    CHECK(run_ok("local big = ('x'):rep(1.5e6) return #big", {}, limits) ==
          1'500'000);  // fits; two do not
    for (const char* code :
         {"local n = 1e9 while true do pcall(string.rep, 'x', n) n = n + 1 end",
          "local big = ('x'):rep(1.5e6) while true do pcall(table.concat, {big, big}) end"}) {
      const auto e = must_stop(code, limits);
      CHECK(e == errc::limit_exceeded);
      CHECK_THAT(message_of(e), Catch::Contains("memory cap"));
    }
  }
  SECTION("a growing table in a pcall loop") {
    const auto e = must_stop(R"(
      while true do
        pcall(function() local t = {} while true do t[#t+1] = ('x'):rep(1000) .. #t end end)
      end
    )",
                             limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("memory cap"));
  }
  SECTION("catching the memory error does not let the chunk go on") {
    CHECK(must_stop("local ok = pcall(string.rep, 'x', 1e10) return ok", limits) ==
          errc::limit_exceeded);
    // 1.5 MB strings fit under the 4 MB cap, 3 MB more do not: a refusal Lua's own collection cannot
    // help (s .. s), and one in a string buffer, where Lua does not retry (table.concat).
    CHECK(run_ok("local s = ('x'):rep(1.5e6) return #s", {}, limits) == 1'500'000);
    CHECK(must_stop(
              "local s = ('x'):rep(1.5e6) local ok = pcall(function() return s .. s end) return ok",
              limits) == errc::limit_exceeded);
    CHECK(must_stop("local s = ('x'):rep(1.5e6) local ok = pcall(table.concat, {s, s}) return ok",
                    limits) == errc::limit_exceeded);
  }
  SECTION("garbage alone does not reach the cap: a full collection makes room") {
    // Live data of about 2.5 MB under a 4 MB cap, and 40 MB of garbage made on top of it: the
    // incremental collector lets the heap reach the cap, Lua's emergency collection makes room
    // (about twenty times here), and the run goes on.
    CHECK(run_ok(R"(
      local keep = {}
      for i = 1, 250 do keep[i] = ('k'):rep(10000) .. i end
      local g, total = ('g'):rep(10000), 0
      for i = 1, 4000 do total = total + #(g .. i) end
      return #keep
    )",
                 {}, limits) == 250);
  }
  SECTION("a cap too small for the sandbox itself") {
    limits.memory_bytes = 1000;
    const auto e = run_fail("return 1", {}, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("memory cap of 1000 bytes"));
  }
}

namespace {

// Clocks the time-limit test drives (lua_limits::steady_now): one that moves 1 ms on at each
// read, and one that stands still.
std::chrono::steady_clock::time_point ticking_clock() {
  static std::atomic<std::int64_t> ms{0};
  return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms++));
}
std::chrono::steady_clock::time_point frozen_clock() {
  return std::chrono::steady_clock::time_point(std::chrono::hours(1));
}

}  // namespace

TEST_CASE("lua: the time limit", "[runtime][lua]") {
  rt::lua_limits limits = small_limits();
  limits.timeout = 200ms;
  const char* codes[] = {"while true do end",
                         "while true do pcall(function() while true do end end) end"};
  for (const char* code : codes) {
    INFO(code);
    // The machine's clock: the code is stopped, by the time limit.
    limits.steady_now = nullptr;
    limits.instructions = 1'000'000'000'000;  // far more than 200 ms can run
    auto e = must_stop(code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("time limit of 200 ms exceeded"));
    // A clock that passes 200 ms after 200 reads stops it the same way, however fast the
    // machine runs the code.
    limits.steady_now = &ticking_clock;
    e = must_stop(code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("time limit of 200 ms exceeded"));
    // And only the clock: one that stands still never reaches the limit, so the code runs on to
    // its instruction budget.
    limits.steady_now = &frozen_clock;
    limits.instructions = 20'000'000;
    e = must_stop(code, limits);
    CHECK(e == errc::limit_exceeded);
    CHECK_THAT(message_of(e), Catch::Contains("instruction budget of 20000000 instructions"));
  }
}

TEST_CASE("lua: syntax and runtime errors name the line", "[runtime][lua]") {
  SECTION("a syntax error") {
    const auto e = run_fail("local x = 1\nlocal y = = 2\n");
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e), Catch::StartsWith("function:2:"));
  }
  SECTION("a runtime error") {
    const auto e = run_fail("local a = 1\nlocal b\nreturn b.field\n");
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e),
               Catch::StartsWith("function:3:") && Catch::Contains("attempt to index a nil value"));
  }
  SECTION("error() with a string") {
    const auto e = run_fail("\n\nerror('the ledger is closed')");
    CHECK(e == errc::execution_failed);
    CHECK(message_of(e) == "function:3: the ledger is closed");
  }
  SECTION("error() with a table shows it as JSON") {
    const auto e = run_fail("error({ code = 'E42', detail = 'no such account' })");
    CHECK(e == errc::execution_failed);
    CHECK(message_of(e) == R"(error object is a table: {"code":"E42","detail":"no such account"})");
  }
  SECTION("error() with other values") {
    CHECK(message_of(run_fail("error()")) == "error object is nil");
    CHECK(message_of(run_fail("error(42)")) == "error object is the number 42");
    CHECK(message_of(run_fail(
              "error(setmetatable({}, { __tostring = function() while true do end end }))")) ==
          "error object is a table: {}");  // no metamethod is called to show it
    CHECK_THAT(message_of(run_fail("error({ f = print })")),
               Catch::Contains("cannot be shown as JSON"));
  }
  SECTION("an error in the function the chunk returns") {
    const auto e = run_fail("return function(ctx)\n  return ctx.missing.x\nend");
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e), Catch::StartsWith("function:2:"));
  }
}

TEST_CASE("lua: JSON into Lua", "[runtime][lua]") {
  rt::lua_context ctx;
  ctx.values["input"] = json::parse(R"({
    "n": 42, "neg": -7, "f": 1.5, "whole_float": 2.0, "big": 9007199254740993, "s": "héllo",
    "yes": true, "no": false, "none": null, "list": [10, 20, 30], "nested": {"a": [{"b": "deep"}]},
    "empty_object": {}, "empty_array": []
  })");
  ctx.values["now"] = "2026-03-29T01:00:00Z";
  ctx.values["holes"] = json::array({1, nullptr, 3});
  ctx.values["huge"] = std::numeric_limits<std::uint64_t>::max();
  CHECK(
      run_ok("return { ctx.holes[2] == nil, ctx.holes[3], math.type(ctx.huge), ctx.huge == 2^64 }",
             ctx) ==
      json::array(
          {true, 3, "float", true}));  // documented: a null leaves a hole; above 2^63-1, a float
  const json seen = run_ok(R"(
    local i = ctx.input
    return {
      n = math.type(i.n), neg = i.neg, f = math.type(i.f), whole_float = math.type(i.whole_float),
      big = i.big == 9007199254740993, s = i.s, s_len = #i.s, yes = i.yes, no = i.no,
      none = i.none == nil, list_len = #i.list, first = i.list[1], third = i.list[3],
      deep = i.nested.a[1].b, empty = next(i.empty_object) == nil and next(i.empty_array) == nil,
      now = ctx.now,
    }
  )",
                           ctx);
  CHECK(seen == json::parse(R"({
    "n": "integer", "neg": -7, "f": "float", "whole_float": "float", "big": true, "s": "héllo",
    "s_len": 6, "yes": true, "no": false, "none": true, "list_len": 3, "first": 10, "third": 30,
    "deep": "deep", "empty": true, "now": "2026-03-29T01:00:00Z"
  })"));

  SECTION("values Lua cannot be handed") {
    rt::lua_context bad;
    bad.values["x"] = json::array({1.0, std::nan("")});
    auto e = run_fail("return 1", bad);
    CHECK(e == errc::invalid_json);
    CHECK_THAT(message_of(e), Catch::Contains("ctx.x[2]") && Catch::Contains("NaN"));

    bad.values["x"] = std::string("\xff");
    CHECK(run_fail("return 1", bad) == errc::invalid_json);

    json deep = 1;
    for (int i = 0; i < 65; ++i) deep = json::array({deep});
    bad.values["x"] = deep;
    e = run_fail("return 1", bad);
    CHECK(e == errc::invalid_json);
    CHECK_THAT(message_of(e), Catch::Contains("nesting deeper than 64"));

    rt::lua_context not_object;
    not_object.values = json::array({1});
    CHECK(run_fail("return 1", not_object) == errc::invalid_argument);

    rt::lua_context clash;
    clash.values["f"] = 1;
    clash.functions["f"] = [](const json&) -> logline::result<json> { return json(2); };
    CHECK(run_fail("return 1", clash) == errc::invalid_argument);

    rt::lua_context empty_function;
    empty_function.functions["f"] = nullptr;
    CHECK(run_fail("return 1", empty_function) == errc::invalid_argument);
  }
}

TEST_CASE("lua: Lua values out as JSON", "[runtime][lua]") {
  SECTION("scalars and numbers") {
    const json out = run_ok(R"(
      return { i = 3, neg = -3, f = 3.5, whole = 3.0, pow = 2^10, max = math.maxinteger, t = true,
               s = "text", e = "", q = 7 // 2 }
    )");
    CHECK(out.at("i").is_number_integer());
    CHECK(out.at("i") == 3);
    CHECK(out.at("neg") == -3);
    CHECK(out.at("f").is_number_float());
    CHECK(out.at("f") == 3.5);
    CHECK(out.at("whole").is_number_float());  // a Lua float stays a float
    CHECK(out.at("pow").is_number_float());
    CHECK(out.at("max").is_number_integer());
    CHECK(out.at("max") == std::numeric_limits<std::int64_t>::max());
    CHECK(out.at("q").is_number_integer());
    CHECK(out.at("t") == true);
    CHECK(out.at("s") == "text");
    CHECK(out.at("e") == "");
  }
  SECTION("no value, nil, and an empty table") {
    CHECK(run_ok("local x = 1").is_null());
    CHECK(run_ok("return nil").is_null());
    CHECK(run_ok("return").is_null());
    const json empty = run_ok("return {}");
    CHECK(empty.is_object());  // documented: an empty table is {}
    CHECK(empty.empty());
    CHECK(run_ok("return 1, 2, 3") == 1);  // the first value only
  }
  SECTION("arrays and objects") {
    CHECK(run_ok("return {1, 'two', {3}}") == json::parse(R"([1, "two", [3]])"));
    CHECK(run_ok("return {[1] = 'a', [2] = 'b'}") == json::parse(R"(["a", "b"])"));
    CHECK(run_ok("return {['1'] = 'a'}") ==
          json::parse(R"({"1": "a"})"));  // a string key stays a key
    CHECK(run_ok("local t = {} t[1.0] = 'x' return t") ==
          json::parse(R"(["x"])"));  // Lua makes 1.0 the key 1
    CHECK(run_ok("return {a = {b = {c = {}}}}") == json::parse(R"({"a": {"b": {"c": {}}}})"));
  }
  SECTION("a function returned by the chunk is called with ctx") {
    rt::lua_context ctx;
    ctx.values["input"] = json{{"x", 41}};
    CHECK(run_ok("return function(c) return c.input.x + 1 end", ctx) == 42);
    CHECK(run_ok("local function main(c) return c == ctx end return main", ctx) == true);
  }
  SECTION("values that cannot be JSON") {
    struct refusal {
      const char* code;
      const char* says;
    };
    for (const refusal& r : std::initializer_list<refusal>{
             {"return {1, 2, x = 3}", "both integer keys (2) and string keys (1)"},
             {"return {[1] = 1, [3] = 3}", "not exactly 1..n (2 keys, from 1 to 3)"},
             {"return {[0] = 'zero', 'one'}", "not exactly 1..n"},
             {"return {[-1] = 1}", "not exactly 1..n"},
             {"return {[1.5] = 1}", "non-integer number key 1.5"},
             {"return {[true] = 1}", "a key of type boolean"},
             {"return {[{}] = 1}", "a key of type table"},
             {"return function() return print end", "result: a Lua function cannot be converted"},
             {"return {list = {1, 2, {f = print}}}", "result.list[3].f: a Lua function"},
             {"return coroutine.create(print)", "a Lua thread"},
             {"return 0/0", "NaN"},
             {"return -math.huge", "infinity"},
             {"return {x = math.huge}", "result.x: a Lua infinity"},
             {"return '\\xff'", "not valid UTF-8"},
             {"return {['bad\\xc0key'] = 1}", "key that is not valid UTF-8"},
             {"return {['two words'] = {print}}", "result[\"two words\"][1]: a Lua function"},
             {"local t = {} t.self = t return t", "or a table that contains itself"},
         }) {
      INFO(r.code);
      const auto e = run_fail(r.code);
      CHECK(e == errc::invalid_json);
      CHECK_THAT(message_of(e), Catch::Contains(r.says));
    }
  }
  SECTION("nesting: 64 tables pass, 65 do not") {
    const char* code = R"(
      return function(ctx)
        local t = 'leaf'
        for i = 1, ctx.depth do t = { t } end
        return t
      end
    )";
    rt::lua_context ctx;
    ctx.values["depth"] = 64;
    json expected = "leaf";
    for (int i = 0; i < 64; ++i) expected = json::array({expected});
    CHECK(run_ok(code, ctx) == expected);
    ctx.values["depth"] = 65;
    const auto e = run_fail(code, ctx);
    CHECK(e == errc::invalid_json);
    CHECK_THAT(message_of(e),
               Catch::Contains("nested deeper than 64 levels") && Catch::Contains("..."));
  }
}

TEST_CASE("lua: nested values make the round trip", "[runtime][lua]") {
  const json value = json::parse(R"({
    "id": "0190f1d2-7a3b-7c4d-8e5f-000000000001",
    "amounts": [1, -2, 3.25, 1e300, 9007199254740991],
    "flags": {"on": true, "off": false},
    "matrix": [[1, 2], [3, [4, [5, {"deep": ["x", "ÿ", "日本", "😀"]}]]]],
    "text": "line\nbreak \"quoted\" \\ back",
    "nul": "a\u0000b"
  })");
  rt::lua_context ctx;
  ctx.values["input"] = value;
  CHECK(run_ok("return ctx.input", ctx) == value);
  // Through a copy made in Lua, so the values really were rebuilt.
  CHECK(run_ok(R"(
    local function copy(v)
      if type(v) ~= 'table' then return v end
      local out = {}
      for k, x in pairs(v) do out[k] = copy(x) end
      return out
    end
    return copy(ctx.input)
  )",
               ctx) == value);
  // And through a host function, both ways.
  ctx.functions["echo"] = [](const json& args) -> logline::result<json> { return args.at(0); };
  CHECK(run_ok("return ctx.echo(ctx.input)", ctx) == value);
}

TEST_CASE("lua: host functions", "[runtime][lua]") {
  rt::lua_context ctx;
  json received;
  ctx.functions["record"] = [&](const json& args) -> logline::result<json> {
    received = args;
    return json{{"ok", true}, {"count", args.size()}};
  };
  ctx.functions["fail"] = [](const json& args) -> logline::result<json> {
    return logline::make_error(errc::not_found, "no account " + args.at(0).get<std::string>());
  };
  ctx.functions["throws"] = [](const json&) -> logline::result<json> {
    throw std::runtime_error("host exploded");
  };
  ctx.functions["nan"] = [](const json&) -> logline::result<json> { return json(std::nan("")); };

  SECTION("arguments arrive as a JSON array, the result comes back") {
    const json out = run_ok(R"(
      local r = ctx.record(1, 2.5, "three", { a = 1 }, { 4, 5 }, true)
      return { r.ok, r.count, math.type(r.count) }
    )",
                            ctx);
    CHECK(out == json::parse(R"([true, 6, "integer"])"));
    CHECK(received == json::parse(R"([1, 2.5, "three", {"a": 1}, [4, 5], true])"));
    CHECK(received.at(0).is_number_integer());
    run_ok("ctx.record()", ctx);
    CHECK(received == json::array());
  }
  SECTION("an error not caught fails the run with the host's message") {
    const auto e = run_fail("local x = 1\nctx.fail('acme')", ctx);
    CHECK(e == errc::execution_failed);
    CHECK(message_of(e) == "function:2: ctx.fail: no account acme");
  }
  SECTION("an error caught by pcall") {
    CHECK(run_ok("local ok, err = pcall(ctx.fail, 'acme') return { ok, err }", ctx) ==
          json::array({false, "ctx.fail: no account acme"}));
    CHECK(run_ok("local ok, err = pcall(function() ctx.fail('x') end) return err", ctx) ==
          "function:1: ctx.fail: no account x");
  }
  SECTION("an exception is an error too") {
    const auto e = run_fail("ctx.throws()", ctx);
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e), Catch::Contains("ctx.throws threw: host exploded"));
    CHECK(run_ok("return (pcall(ctx.throws))", ctx) == false);
  }
  SECTION("a value Lua cannot hold") {
    const auto e = run_fail("return ctx.nan()", ctx);
    CHECK(e == errc::execution_failed);
    CHECK_THAT(message_of(e), Catch::Contains("ctx.nan returned a value Lua cannot hold"));
  }
  SECTION("arguments that cannot be JSON") {
    const auto e = run_fail("ctx.record(1, { f = print })", ctx);
    CHECK(e == errc::execution_failed);
    CHECK_THAT(
        message_of(e),
        Catch::Contains("ctx.record argument 2.f: a Lua function cannot be converted to JSON"));
    CHECK(run_fail("ctx:record()", ctx) == errc::execution_failed);  // ctx holds functions
  }
}

TEST_CASE("lua: built-ins ctx.blake3 and ctx.uuid", "[runtime][lua]") {
  const json out = run_ok("return { ctx.blake3('abc'), ctx.blake3(''), ctx.uuid(), ctx.uuid() }");
  CHECK(out.at(0) == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  CHECK(out.at(1) == logline::blake3_hex(""));
  for (int i : {2, 3}) {
    const std::string id = out.at(static_cast<std::size_t>(i)).get<std::string>();
    CHECK(id.size() == 36);
    CHECK(id[14] == '7');
    CHECK(logline::uuid::parse(id));
  }
  CHECK(out.at(2) != out.at(3));
  CHECK(run_fail("return ctx.blake3(12)") == errc::execution_failed);  // strings only

  rt::lua_context fixed;  // a host function may replace a built-in
  fixed.functions["uuid"] = [](const json&) -> logline::result<json> { return json("fixed"); };
  CHECK(run_ok("return ctx.uuid()", fixed) == "fixed");
}

TEST_CASE("lua: sandboxes run side by side in threads", "[runtime][lua]") {
  rt::lua_context ctx;
  ctx.functions["twice"] = [](const json& args) -> logline::result<json> {
    return args.at(0).get<int>() * 2;
  };
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const auto ok = rt::run_lua("return ctx.twice(" + std::to_string(t * 100 + i) + ")", ctx,
                                    small_limits());
        const auto stopped = rt::run_lua("while true do end", ctx, [] {
          rt::lua_limits l = small_limits();
          l.instructions = 100'000;
          return l;
        }());
        if (ok && *ok == 2 * (t * 100 + i) && !stopped && stopped.error() == errc::limit_exceeded)
          ++good;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  CHECK(good == 100);
}

TEST_CASE("lua: every failure leaves the next run clean", "[runtime][lua]") {
  rt::lua_context ctx;
  ctx.values["input"] = json{{"x", 1}};
  ctx.functions["fail"] = [](const json&) -> logline::result<json> {
    return logline::make_error(errc::busy, "busy");
  };
  rt::lua_limits limits;
  limits.instructions = 2'000'000;  // ('x'):rep(8e5) below costs 900'000 (its pieces and bytes)
  limits.memory_bytes = std::size_t{2} << 20;
  limits.timeout = 30s;
  rt::lua_limits timed = limits;
  timed.instructions = 1'000'000'000'000;
  timed.timeout = 1ms;

  struct failing {
    const char* code;
    errc expected;
    bool timed;
  };
  const failing kinds[] = {
      {"while true do end", errc::limit_exceeded, false},
      {"while true do pcall(function() while true do end end) end", errc::limit_exceeded, false},
      {"local t = {} while true do t[#t+1] = ('x'):rep(1000) .. #t end", errc::limit_exceeded,
       false},
      {"return ('x'):rep(1e10)", errc::limit_exceeded, false},
      {"while true do end", errc::limit_exceeded, true},
      {"local = 1", errc::execution_failed, false},
      {"return nil .. 1", errc::execution_failed, false},
      {"ctx.fail()", errc::execution_failed, false},
      {"error({ 1, 2 })", errc::execution_failed, false},
      {"return { 1, x = 2 }", errc::invalid_json, false},
      {"local t = {} t[1] = t return t", errc::invalid_json, false},
      {"\x1bLua", errc::execution_failed, false},
      {"xpcall(function() while true do end end, function() while true do end end)",
       errc::limit_exceeded, false},
      {"local c <close> = setmetatable({}, {__close = function() while true do end end}) while "
       "true do end",
       errc::limit_exceeded, false},
      {"while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
       errc::limit_exceeded, false},
      {"setmetatable({}, {__gc = print})", errc::execution_failed, false},
      {"local big = ('x'):rep(8e5) while true do pcall(table.concat, {big, big}) end",
       errc::limit_exceeded, false},
      {"return #table.move({}, 1, 2^62, 2)", errc::limit_exceeded, false},
      {"local function f() return 1 + f() end while true do pcall(f) end", errc::limit_exceeded,
       false},
      {"while true do pcall(function() local t = {} while true do t[#t+1] = {} end end) end",
       errc::limit_exceeded, false},
  };
  REQUIRE(rt::run_lua("local big = ('x'):rep(8e5) return #big", ctx,
                      limits));  // fits; three copies do not
  for (int round = 0; round < 200; ++round) {
    const failing& f = kinds[static_cast<std::size_t>(round) % std::size(kinds)];
    INFO("round " << round << ": " << f.code);
    const auto r = rt::run_lua(f.code, ctx, f.timed ? timed : limits);
    REQUIRE_FALSE(r);
    REQUIRE(r.error() == f.expected);
    if (round % 10 == 0) {
      const auto ok = rt::run_lua("ctx.input.x = ctx.input.x + 1 return ctx.input", ctx, limits);
      REQUIRE(ok);
      REQUIRE(*ok == json{{"x", 2}});  // each run starts from the context, not from the last run
    }
  }
  CHECK(ctx.values == json{{"input", {{"x", 1}}}});
}
