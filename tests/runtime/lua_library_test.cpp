// The sandbox's library functions against Lua's own: the same Lua code runs in the sandbox and in
// a plain lua_State with luaL_openlibs, and must give the same text — results, their types, and
// error messages.
// - string.find, match, gmatch and gsub (lua_string_match.hpp, on lua_pattern.hpp's matcher):
//   hand-picked cases for every feature and error of the reference manual's §6.4.1, and a few
//   thousand generated ones (a fixed seed, so a failure repeats);
// - the functions lua_metered.hpp wraps or rewrites, on ordinary and edge-case arguments.
// Also: the matcher alone, with a meter that says no.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <logline/runtime/lua.hpp>
#include <logline/runtime/detail/lua_pattern.hpp>

#include "support/catch.hpp"

using logline::json;
namespace rt = logline::runtime;

namespace {

// A Lua string literal for any bytes.
std::string literal(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b >= 32 && b < 127 && c != '"' && c != '\\') {
      out += c;
    } else {
      out += '\\' + std::to_string(b);
      out += "\\z";  // ends the decimal escape: the next character may be a digit
    }
  }
  return out + "\"";
}

// Helpers both Lua states run first: `show` writes values with their types; `try` calls f and
// shows what it returned or its error; `printable` escapes bytes the JSON result cannot carry.
constexpr std::string_view prelude = R"lua(
local function printable(s)
  local t = {}
  for i = 1, #s do
    local b = s:byte(i)
    t[i] = (b >= 32 and b < 127 and b ~= 92) and string.char(b) or ("\\" .. b .. ";")
  end
  return table.concat(t)
end
local function show(...)
  local out = {}
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    out[i] = math.type(v) or type(v)
    if type(v) ~= "table" and type(v) ~= "function" then out[i] = out[i] .. ":" .. tostring(v) end
  end
  return "(" .. table.concat(out, ",") .. ")"
end
local function try(f, ...)
  local r = table.pack(pcall(f, ...))
  if r[1] then return "ok " .. show(table.unpack(r, 2, r.n)) end
  return "error " .. tostring(r[2])
end
local function all(s, p, init)
  local r = {}
  for a, b, c in string.gmatch(s, p, init) do
    r[#r + 1] = show(a, b, c)
    if #r > 50 then break end
  end
  return table.concat(r, ";")
end
local replacements = { [1] = "one", [3] = 3.5, a = "A", b = false, ab = "<ab>", ["("] = "paren", x = {} }
local function replace(a, ...)
  if type(a) == "number" then return a * 2 end
  if a == "" then return "<empty>" end
  if #a % 3 == 0 then return nil end
  if #a % 3 == 1 then return "[" .. a .. "|" .. select("#", ...) .. "]" end
  return false
end
local out = {}
current = 0
local function case(text) out[#out + 1] = current .. " " .. printable(text) end
)lua";

constexpr std::string_view epilogue = "\nreturn table.concat(out, '\\n')\n";

// What the code returns in the sandbox, or its error.
std::string in_sandbox(const std::string& code) {
  rt::lua_limits limits;
  limits.timeout = std::chrono::seconds(60);
  const auto r = rt::run_lua(code, {}, limits);
  if (!r) return "run failed: " + r.error().message();
  return r->is_string() ? r->get<std::string>() : r->dump();
}

// What the code returns in a plain Lua state with every library, or its error.
std::string in_stock_lua(const std::string& code) {
  lua_State* L = luaL_newstate();
  REQUIRE(L != nullptr);
  luaL_openlibs(L);
  std::string out;
  if (luaL_loadbufferx(L, code.data(), code.size(), "=function", "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK)
    out = std::string("run failed: ") + lua_tostring(L, -1);
  else
    out = lua_tostring(L, -1);
  lua_close(L);
  return out;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    out.push_back(text.substr(start, end - start));
  out.push_back(text.substr(start));
  return out;
}

// Runs the cases (Lua statements that call case(...)) both ways; every line must agree.
void compare(const std::vector<std::string>& cases) {
  constexpr std::size_t batch = 40;  // cases per run
  for (std::size_t first = 0; first < cases.size(); first += batch) {
    std::string code(prelude);
    for (std::size_t i = first; i < std::min(cases.size(), first + batch); ++i)
      code += "current = " + std::to_string(i) + "\n" + cases[i] + "\n";
    code += epilogue;
    const std::string mine = in_sandbox(code), theirs = in_stock_lua(code);
    if (mine == theirs) {
      SUCCEED();
      continue;
    }
    // The first line that differs, with its case.
    const std::vector<std::string> a = lines(mine), b = lines(theirs);
    for (std::size_t i = 0; i < std::max(a.size(), b.size()); ++i) {
      const std::string x = i < a.size() ? a[i] : "(nothing)",
                        y = i < b.size() ? b[i] : "(nothing)";
      if (x == y) continue;
      const std::size_t index =
          std::stoul(y.substr(0, y.find(' ')).empty() ? "0" : y.substr(0, y.find(' ')));
      INFO("case: " << (index < cases.size() ? cases[index] : std::string("?")));
      REQUIRE(x == y);
    }
    REQUIRE(mine == theirs);
  }
}

// Statements calling every function on one subject and pattern.
std::string all_calls(std::string_view subject, std::string_view pattern, long init) {
  const std::string s = literal(subject), p = literal(pattern), i = std::to_string(init);
  return "do local s, p = " + s + ", " + p + "\n" +
         "case(try(string.find, s, p)) case(try(string.find, s, p, " + i + "))\n" +
         "case(try(string.find, s, p, " + i + ", true))\n" +
         "case(try(string.match, s, p)) case(try(string.match, s, p, " + i + "))\n" +
         "case(try(all, s, p)) case(try(all, s, p, " + i + "))\n" +
         "case(try(string.gsub, s, p, '<%0>')) case(try(string.gsub, s, p, '%1-%%', " + i + "))\n" +
         "case(try(string.gsub, s, p, replacements)) case(try(string.gsub, s, p, replace))\n" +
         "end";
}

// A small deterministic generator (xorshift), so generated cases are the same on every run.
struct generator {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  template <class T, std::size_t N>
  const T& pick(const T (&items)[N]) {
    return items[below(N)];
  }
};

}  // namespace

TEST_CASE("lua patterns: every feature, as Lua does it", "[runtime][lua]") {
  struct pair {
    const char* subject;
    const char* pattern;
  };
  const pair pairs[] = {
      // single characters, classes and their complements
      {"hello world", "o"},
      {"hello world", "l+"},
      {"hello", "x"},
      {"hello", ""},
      {"", ""},
      {"", "a*"},
      {"a.b", "."},
      {"a.b", "%."},
      {"a1 B_2\t!", "%a"},
      {"a1 B_2\t!", "%A+"},
      {"a1 B_2\t!", "%d+"},
      {"a1 B_2\t!", "%D+"},
      {"a1 B_2\t!", "%s"},
      {"a1 B_2\t!", "%S+"},
      {"a1 B_2\t!", "%w+"},
      {"a1 B_2\t!", "%W"},
      {"a1 B_2\t!", "%p"},
      {"a1 B_2\t!", "%P+"},
      {"a1 B_2\t!", "%l"},
      {"a1 B_2\t!", "%u"},
      {"a1 B_2\t!", "%U+"},
      {"a1 B_2\t!", "%c"},
      {"a1 B_2\t!", "%C+"},
      {"a1 B_2\t!", "%g+"},
      {"a1 B_2\t!", "%G"},
      {"0x1F zz", "%x+"},
      {"0x1F zz", "%X+"},
      {"a%b", "%%"},
      {"a-b", "%-"},
      {"zq", "%z"},
      {"zq", "%q"},
      {"\x01\x7f\x80\xff", "%c+"},
      {"\xe9t\xe9", "%a+"},
      {"\xe9t\xe9", "[\xe0-\xff]+"},
      // sets
      {"hello", "[aeiou]"},
      {"hello", "[^aeiou]+"},
      {"a-z", "[a-]"},
      {"a-z", "[-a]+"},
      {"x]y", "[]]"},
      {"x]y", "[^]]+"},
      {"a^b", "[%^]"},
      {"a^b", "[b^]+"},
      {"abc123", "[a-c1-2]+"},
      {"abc", "[c-a]"},
      {"a_b9", "[%a_]+"},
      {"a%b", "[%%]"},
      {"a]b", "[%]]"},
      {"a-b", "[a%-b]+"},
      {"abc", "[%a-z]+"},
      {"-", "[a-%]]"},
      {"]", "[a-%]]"},
      {"[", "[[]"},
      {"abc", "[^%a]"},
      {"a\0b", "[%z]"},
      {"a\0b", "[\0]"},
      // quantifiers
      {"aaa", "a*"},
      {"aaa", "a+"},
      {"aaa", "a-"},
      {"aaa", "a?"},
      {"baaa", "a*"},
      {"baaa", "ba-a"},
      {"<a><b>", "<.->"},
      {"<a><b>", "<.*>"},
      {"color colour", "colou?r"},
      {"xyz", "x?y?z?w?"},
      {"aaab", "a-b"},
      {"ab", "a**"},
      {"ab", "a+?"},
      {"*", "*"},
      {"+a", "+a"},
      {"-", "-"},
      {"?", "?"},
      // anchors
      {"hello", "^h"},
      {"hello", "^e"},
      {"hello", "o$"},
      {"hello", "l$"},
      {"hello", "^hello$"},
      {"a$b", "$b"},
      {"a$b", "a$b"},
      {"^a", "^^a"},
      {"^a", "a^"},
      {"", "^$"},
      {"abc", "^"},
      {"abc", "$"},
      {"abc", "^.-$"},
      // captures
      {"key = value", "(%w+)%s*=%s*(%w+)"},
      {"hello", "()ll()"},
      {"hello", "(h)(e)(l)(l)(o)"},
      {"hello", "()"},
      {"abc", "((a)(b))c"},
      {"abc", "(a(b(c)))"},
      {"abc", "(x)"},
      {"abc", "()x"},
      {"hello", "(l)%1"},
      {"hello hello", "(%w+) %1"},
      {"abab", "(ab)%1"},
      {"aa", "()%1"},
      {"abc", "(a)(b)%2"},
      // %b and %f
      {"f(a(b)c) d", "%b()"},
      {"((x)", "%b()"},
      {"[a][b]", "%b[]"},
      {"'q'q'", "%b''"},
      {"ab", "%bab"},
      {"THE (quick) fox", "%f[%a]%a+"},
      {"THE (quick) fox", "%f[%A]"},
      {"hello", "%f[%l]"},
      {"hello", "%f[%z]"},
      {"a,b,,c", "%f[^,]"},
      {"x", "%f[x]x"},
      {"", "%f[%z]"},
      // malformed patterns (an error only when matching gets there)
      {"abc", "%"},
      {"abc", "a%"},
      {"xbc", "x["},
      {"abc", "x["},
      {"abc", "[a"},
      {"abc", "[^"},
      {"abc", "[]"},
      {"abc", "[%"},
      {"abc", "%b"},
      {"abc", "%ba"},
      {"abc", "a%b"},
      {"abc", "%f"},
      {"abc", "%fa"},
      {"abc", "%f[a"},
      {"abc", "%1"},
      {"abc", "%0"},
      {"abc", "(a)%2"},
      {"abc", "(a%1)"},
      {"abc", "a)"},
      {"abc", ")"},
      {"abc", "(a"},
      {"abc", "(()"},
      {"abc", "%9"},
      {"ab", "(a)(b)%3"},
  };
  std::vector<std::string> cases;
  for (const pair& c : pairs)
    for (long init : {-100L, -2L, 0L, 2L, 4L, 10L})
      cases.push_back(all_calls(c.subject, c.pattern, init));
  compare(cases);
}

TEST_CASE("lua patterns: arguments, replacements and limits of the functions", "[runtime][lua]") {
  compare({
      // methods on strings, numbers as strings
      "case(try(function() return ('hello'):find('l') end))",
      "case(try(function() return ('x=1'):match('(%w)=(%d)') end))",
      "case(try(string.find, 12345, 34)) case(try(string.gsub, 12345, 3, 9)) "
      "case(try(string.match, 3.5, '%.'))",
      "case(try(string.gsub, 'abc', 'b', 42)) case(try(string.gsub, 'abc', '(b)', 1.5))",
      // init positions
      "case(try(string.find, 'abc', 'c', 3)) case(try(string.find, 'abc', 'c', 4)) "
      "case(try(string.find, 'abc', '', 4))",
      "case(try(string.find, 'abc', '', 5)) case(try(string.find, 'abc', '', 3)) "
      "case(try(string.find, 'abc', 'a', -1))",
      "case(try(string.find, 'abc', 'a', -3)) case(try(string.find, 'abc', 'a', -4)) "
      "case(try(string.find, 'abc', 'a', math.mininteger))",
      "case(try(string.find, 'abc', 'a', math.maxinteger)) case(try(string.match, 'abc', '()', 4)) "
      "case(try(string.match, 'abc', '()', 5))",
      "case(try(string.find, 'abc', 'b', 1.0)) case(try(string.find, 'abc', 'b', 1.5)) "
      "case(try(string.find, 'abc', 'b', '2'))",
      "case(try(string.find, 'abc', 'b', 'x'))",
      // plain
      "case(try(string.find, 'a.b', '.', 1, true)) case(try(string.find, 'a+b', '+', 1, 1)) "
      "case(try(string.find, 'a(b', '(', 1, true))",
      "case(try(string.find, 'a(b', '(')) case(try(string.find, 'a)b', ')')) case(try(string.find, "
      "'a]b', ']'))",
      "case(try(string.find, 'a.b', '.', 1, false)) case(try(string.find, 'a.b', '.', 1, nil))",
      "case(try(string.find, 'aaaaab', 'aab', 1, true)) case(try(string.find, 'abc', 'abcd', 1, "
      "true))",
      "case(try(string.find, 'abc', '', 2, true)) case(try(string.find, 'abc', 'c', -1, true)) "
      "case(try(string.find, 'a\\0b', '\\0', 1, true))",
      // gmatch
      "case(try(all, 'one two  three', '%a+')) case(try(all, 'k1=v1, k2=v2', '(%w+)=(%w+)')) "
      "case(try(all, 'abc', ''))",
      "case(try(all, 'abc', 'x*')) case(try(all, 'abc', '()')) case(try(all, 'hello', '()l')) "
      "case(try(all, 'abc', '.', 2))",
      "case(try(all, 'abc', '.', -1)) case(try(all, 'abc', '.', 10)) case(try(all, 'abc', '', 4)) "
      "case(try(all, 'abc', '', 10))",
      "case(try(all, '^a^a', '^a')) case(try(all, 'aXbXc', '%u?'))",
      "case(try(function() local f = string.gmatch('a1b2', '%a(%d)') return f(), f(), f(), f() "
      "end))",
      // gsub: replacement strings
      "case(try(string.gsub, 'hello world', 'o', '0')) case(try(string.gsub, 'hello', '', '-'))",
      "case(try(string.gsub, 'abc', '%w', '%0%0')) case(try(string.gsub, 'abc', '(%w)', '%1.')) "
      "case(try(string.gsub, 'abc', '%w', '%1'))",
      "case(try(string.gsub, 'abc', '%w', '%2')) case(try(string.gsub, 'abc', '(%w)', '%2')) "
      "case(try(string.gsub, 'abc', '%w', '%'))",
      "case(try(string.gsub, 'abc', '%w', '%x')) case(try(string.gsub, 'abc', '%w', '100%%')) "
      "case(try(string.gsub, 'abc', '()', '%1'))",
      "case(try(string.gsub, 'abc', 'b()', '[%1]')) case(try(string.gsub, 'abc', '(b)', '%0%1%0')) "
      "case(try(string.gsub, 'abc', 'b', '%\\0'))",
      "case(try(string.gsub, 'abc', '(', 'x')) case(try(string.gsub, 'abc', '(b', '%1'))",
      // gsub: n, anchors, empty matches
      "case(try(string.gsub, 'aaaa', 'a', 'b', 2)) case(try(string.gsub, 'aaaa', 'a', 'b', 0)) "
      "case(try(string.gsub, 'aaaa', 'a', 'b', -1))",
      "case(try(string.gsub, 'aaaa', 'a', 'b', 2.0)) case(try(string.gsub, 'aaaa', 'a', 'b', 2.5)) "
      "case(try(string.gsub, 'aaaa', 'a', 'b', math.maxinteger))",
      "case(try(string.gsub, 'aaaa', '^a', 'b')) case(try(string.gsub, 'aaaa', '^', 'b')) "
      "case(try(string.gsub, 'abc', '$', '!'))",
      "case(try(string.gsub, 'abc', '%w*', '-')) case(try(string.gsub, 'a b c', '%w*', '<%0>')) "
      "case(try(string.gsub, '', '', 'x'))",
      "case(try(string.gsub, 'abc', '.-', '-')) case(try(string.gsub, 'a,b,,c', ',?', '|'))",
      // gsub: tables and functions
      "case(try(string.gsub, 'a b ab', '%w+', replacements)) case(try(string.gsub, 'x', 'x', "
      "replacements))",
      "case(try(string.gsub, 'abc', '()', replacements)) case(try(string.gsub, 'f(a)', '%(', "
      "replacements))",
      "case(try(string.gsub, 'abc', '%w', setmetatable({}, { __index = function(_, k) return "
      "k:upper() end })))",
      "case(try(string.gsub, 'abc def', '%w+', string.upper)) case(try(string.gsub, 'abc', '%w', "
      "function() end))",
      "case(try(string.gsub, 'abc', '%w', function() return {} end)) case(try(string.gsub, 'abc', "
      "'%w', function() return true end))",
      "case(try(string.gsub, 'abc', '%w', function() error('inside') end)) case(try(string.gsub, "
      "'abc', '(%w)(%w)', replace))",
      "case(try(string.gsub, 'abc', '%w', function(c) return string.gsub(c, '.', '%0%0') end))",
      // bad arguments
      "case(try(string.find)) case(try(string.find, 'a')) case(try(string.find, {}, 'a')) "
      "case(try(string.match, 'a', nil))",
      "case(try(string.gmatch, 'a')) case(try(string.gmatch, 'a', 'a', 'x')) case(try(string.gsub, "
      "'a', 'a'))",
      "case(try(string.gsub, 'a', 'a', true)) case(try(string.gsub, 'a', 'a', 'b', 'n')) "
      "case(try(string.gsub, 'a', 'a', nil, 'n'))",
      // depth and capture limits
      "case(try(string.find, string.rep('a', 199), string.rep('a?', 199)))",
      "case(try(string.find, string.rep('a', 200), string.rep('a?', 200)))",
      "case(try(string.find, string.rep('a', 250), string.rep('a?', 250)))",
      "case(try(string.match, string.rep('a', 40), string.rep('(a)', 32))) case(try(string.match, "
      "string.rep('a', 40), string.rep('(a)', 33)))",
      "case(try(string.match, string.rep('a', 40), string.rep('()', 32))) case(try(string.match, "
      "'a', string.rep('(', 33)))",
      "case(try(string.find, string.rep('a', 300), string.rep('(', 99) .. string.rep(')', 99)))",
      "case(try(string.find, string.rep('a', 300), string.rep('(', 100) .. string.rep(')', 100)))",
      "case(try(string.find, 'a', string.rep('a*', 198) .. 'b')) case(try(string.find, 'a', "
      "string.rep('a*', 199) .. 'b'))",
      "case(try(string.find, 'aaa', string.rep('a-', 199))) case(try(string.find, 'aaa', "
      "string.rep('a-', 200)))",
      // long subjects, long captures, back-references over them
      "case(try(string.find, string.rep('ab', 5000) .. 'c', '(ab)%1c'))",
      "case(try(string.match, string.rep('x', 5000), '(.*)%1'))",
      "case(try(string.gsub, string.rep('x', 3000), '(x)', '%1%1'))",
      "case(try(string.find, string.rep('a', 5000) .. 'b', string.rep('a', 100) .. 'b', 1, true))",
      "case(try(string.find, string.rep('ab', 5000), string.rep('ab', 300) .. 'a' .. 'c', 1, "
      "true))",
  });
}

TEST_CASE("lua patterns: generated patterns and subjects", "[runtime][lua]") {
  static const char* const pieces[] = {
      "a",    "b",      "c",      ".",      "%a",    "%d",    "%s",         "%w",  "%A",
      "%x",   "%p",     "%S",     "[ab]",   "[^a]",  "[a-c]", "[%a_]",      "[]]", "[^]]",
      "[a-]", "[%]b]",  "*",      "+",      "-",     "?",     "*",          "+",   "-",
      "?",    "(",      ")",      "()",     "(",     ")",     "%1",         "%2",  "%b()",
      "%bab", "%f[%w]", "%f[^a]", "%f[a-]", "^",     "$",     "%",          "[",   "%z",
      "%%",   "%.",     "%-",     "\\0",    "\\255", " ",     "[\\0-\\31]",
  };
  static const char* const letters[] = {"a", "b",   "c",     "(",  ")",  " ", "1", "_",
                                        "%", "\\0", "\\255", "ab", "aa", "-", "]"};
  static const long inits[] = {-20, -3, -1, 0, 1, 2, 3, 5, 8, 30};
  generator g{0x9e3779b97f4a7c15ULL};
  std::vector<std::string> cases;
  for (int k = 0; k < 3000; ++k) {
    std::string pattern, subject;
    for (std::size_t n = 1 + g.below(7); n > 0; --n) pattern += g.pick(pieces);
    for (std::size_t n = g.below(12); n > 0; --n) subject += g.pick(letters);
    // The pieces are Lua source: "\\0" is a NUL once Lua reads the literal.
    const std::string s = "\"" + subject + "\"", p = "\"" + pattern + "\"",
                      i = std::to_string(g.pick(inits));
    cases.push_back(
        "do local s, p = " + s + ", " + p + "\n" + "case(try(string.find, s, p, " + i +
        ")) case(try(string.match, s, p, " + i + "))\n" + "case(try(all, s, p, " + i +
        ")) case(try(string.gsub, s, p, '<%0%1>', " + std::to_string(g.below(4)) + "))\n" +
        "case(try(string.gsub, s, p, replace)) case(try(string.gsub, s, p, replacements)) end");
  }
  compare(cases);
}

TEST_CASE("lua library: the metered functions behave as Lua's", "[runtime][lua]") {
  compare({
      // string
      "case(try(string.sub, 'hello', 2, 4)) case(try(string.sub, 'hello', -3)) "
      "case(try(string.sub, 'hello', 0))",
      "case(try(string.sub, 'hello', 10)) case(try(string.sub, 'hello', 3, 2)) "
      "case(try(string.sub, 'hello', -100, 100))",
      "case(try(string.sub, 'hello')) case(try(string.sub, 'hello', 'x')) case(try(string.sub, "
      "'hello', 1.5)) case(try(string.sub, 123, 2))",
      "case(try(string.sub, 'hello', math.mininteger, math.maxinteger)) case(try(function() return "
      "('hello'):sub(2, -2) end))",
      "case(try(string.byte, 'hello')) case(try(string.byte, 'hello', 2, 4)) case(try(string.byte, "
      "'hello', -1)) case(try(string.byte, 'hello', 0))",
      "case(try(string.byte, 'hello', 10)) case(try(string.byte, 'hello', -10, 10)) "
      "case(try(string.byte, '')) case(try(string.byte, 'hello', 3, 1))",
      "case(try(string.byte, 'abc', math.mininteger, math.maxinteger)) case(try(string.byte, "
      "'abc', 2, nil)) case(try(string.byte, {}))",
      "case(try(string.upper, 'aBc1\\255')) case(try(string.lower, 'aBc1')) "
      "case(try(string.reverse, 'abc')) case(try(string.reverse, ''))",
      "case(try(string.upper)) case(try(string.upper, {})) case(try(string.lower, 42)) "
      "case(try(function() return ('Ab'):upper() end))",
      "case(try(string.rep, 'ab', 3)) case(try(string.rep, 'ab', 3, ',')) case(try(string.rep, "
      "'ab', 0)) case(try(string.rep, 'ab', -1))",
      "case(try(string.rep, '', 5)) case(try(string.rep, 'x', 2.5)) case(try(string.rep, 'x')) "
      "case(try(string.rep, 'x', 2, 3))",
      "case(try(string.format, '%d %s %q %5.2f %x %c', 42, 'hi', 'a\\nb', 3.14159, 255, 65)) "
      "case(try(string.format, '%s', nil))",
      "case(try(string.format, '%d', 'x')) case(try(string.format, '%', 1)) "
      "case(try(string.format, '%10s|%-10s|', 'a', 'b'))",
      "case(try(string.format, '%q', 1/0)) case(try(string.format, '%i', 3.0)) "
      "case(try(string.format)) case(try(string.format, '%5'))",
      "case(try(string.format, '%s %s', 1)) case(try(string.format, '%s', setmetatable({}, "
      "{__tostring = function() return 'T' end})))",
      "case(try(string.pack, 'i4', 100)) case(try(string.pack, 'i4 s1 z', 7, 'ab', 'cd')) "
      "case(try(string.pack, 'c5', 'ab'))",
      "case(try(string.pack, 'c2', 'abc')) case(try(string.pack, 'i17', 1)) case(try(string.pack, "
      "'!4 i1 i4', 1, 2)) case(try(string.pack, 'i4'))",
      "case(try(string.pack, '>I2 <I2 =I2 Xi4 b', 258, 258, 258, 1)) case(try(string.pack, 'd n "
      "j', 1.5, 2, 3)) case(try(string.pack, 'z', 'a\\0b'))",
      "case(try(string.packsize, 'i4 i8')) case(try(string.packsize, 's')) "
      "case(try(string.packsize, 'c100 !8 d')) case(try(string.packsize, 'q'))",
      "case(try(string.unpack, 'i4', string.pack('i4', 100))) case(try(string.unpack, 'z z', "
      "'ab\\0cd\\0')) case(try(string.unpack, 'z', 'abc'))",
      "case(try(string.unpack, 's1', '\\5ab')) case(try(string.unpack, 'B', 'abc', 2)) "
      "case(try(string.unpack, 'B', 'abc', -1)) case(try(string.unpack, 'B', 'abc', 4))",
      "case(try(string.unpack, 'B', 'abc', 5)) case(try(string.unpack, 'c2 c2', 'abc')) "
      "case(try(string.unpack, 'i4')) case(try(string.unpack, 'BBB', 'abc', -10))",
      "case(try(string.unpack, '', 'abc', 2)) case(try(string.unpack, 'c0', '')) "
      "case(try(string.unpack, 'B', 'abc', math.mininteger))",
      "case(try(string.char, 72, 105)) case(try(string.char)) case(try(string.char, 256)) "
      "case(try(string.char, 'x')) case(try(string.char, '65'))",
      // table
      "case(try(table.concat, {1, 2, 3})) case(try(table.concat, {1, 2, 3}, ', ')) "
      "case(try(table.concat, {1, 2, 3}, ', ', 2))",
      "case(try(table.concat, {1, 2, 3}, ', ', 2, 3)) case(try(table.concat, {1, 2, 3}, ', ', 3, "
      "2)) case(try(table.concat, {'a', {}, 'c'}))",
      "case(try(table.concat, {'a', 'b'}, '', 1, 3)) case(try(table.concat, {})) "
      "case(try(table.concat, 'abc')) case(try(table.concat, {1.5, 'x', 2^63}))",
      "case(try(table.concat, {'a'}, 1)) case(try(table.concat, {'a', 'b'}, {})) "
      "case(try(table.concat, {'a', 'b'}, 0, 1, 2)) case(try(table.concat))",
      "case(try(table.concat, {'a', 'b', 'c'}, '', math.maxinteger - 1, math.maxinteger)) "
      "case(try(table.concat, {'a'}, '', 1, 1.5))",
      "case(try(table.concat, setmetatable({}, {__index = function(_, i) return 'v' .. i end, "
      "__len = function() return 3 end}), '-'))",
      "case(try(function() return table.concat({'x', 'y'}, nil, 2) end)) case(try(function() "
      "return table.concat({{}}) end))",
      "case(try(table.unpack, {1, 2, 3})) case(try(table.unpack, {1, 2, 3}, 2)) "
      "case(try(table.unpack, {1, 2, 3}, 2, 5)) case(try(table.unpack, {1, 2, 3}, 3, 1))",
      "case(try(table.unpack, {}, 1, 1e7)) case(try(table.unpack, {}, math.mininteger, "
      "math.maxinteger)) case(try(table.unpack, 'abc'))",
      "case(try(table.unpack)) case(try(table.unpack, {1, 2}, 'x')) case(try(table.unpack, {1, 2}, "
      "1, 'y')) case(try(table.unpack, {1, 2}, nil, 1))",
      "case(try(table.unpack, setmetatable({}, {__index = function(_, i) return i * 2 end}), 1, "
      "3)) case(try(table.unpack, {1, 2}, 1.0, 2.0))",
      "case(try(table.unpack, setmetatable({}, {__len = function() return 2 end, __index = "
      "function(_, i) return -i end})))",
      "case(try(function() local t = {1, 2, 3} table.insert(t, 2, 'x') table.insert(t, 'y') return "
      "table.unpack(t) end))",
      "case(try(table.insert, {1}, 5, 'x')) case(try(table.insert, {1}, 1, 2, 3)) "
      "case(try(table.insert, {1})) case(try(table.insert, {1}, 'a', 2))",
      "case(try(function() local t = {1, 2, 3} return table.remove(t), table.remove(t, 1), #t, "
      "t[1] end)) case(try(table.remove, {}, 0))",
      "case(try(table.remove, {1, 2}, 5)) case(try(table.remove, {})) case(try(table.remove, {1, "
      "2}, 3)) case(try(table.remove, 'x'))",
      "case(try(function() local t = table.pack(1, nil, 3) return t.n, t[1], t[2], t[3] end)) "
      "case(try(function() return table.pack().n end))",
      "case(try(function() return table.unpack(table.move({1, 2, 3}, 1, 3, 2)) end)) "
      "case(try(table.move, {}, 1, math.maxinteger, 2))",
      // table.sort, where the order is unique (equal elements may come out in another order)
      "case(try(function() local t = {5, 2, 8, 1, 9, 3} table.sort(t) return table.concat(t, ',') "
      "end))",
      "case(try(function() local t = {5, 2, 8, 1, 9, 3} table.sort(t, function(a, b) return a > b "
      "end) return table.concat(t, ',') end))",
      "case(try(function() local t = {'pear', 'apple', 'fig', 'Apple'} table.sort(t) return "
      "table.concat(t, ',') end))",
      "case(try(function() local t = {} for i = 1, 500 do t[i] = (i * 7919) % 503 end "
      "table.sort(t) return table.concat(t, ',') end))",
      "case(try(function() local t = {} for i = 1, 500 do t[i] = -i end table.sort(t) return "
      "table.concat(t, ',') end))",
      "case(try(function() local store = {3, 1, 2} local p = setmetatable({}, {__index = store, "
      "__newindex = store, __len = function() return #store end}) table.sort(p) return "
      "table.concat(store, ',') end))",
      "case(try(table.sort, {3, 1, 2}, 1)) case(try(table.sort, 'abc')) case(try(table.sort)) "
      "case(try(table.sort, {}, 'x'))",
      "case(try(table.sort, setmetatable({}, {__len = function() return math.maxinteger end}))) "
      "case(try(table.sort, {1, 2}, nil))",
      "case(try(table.sort, {{}, {}})) case(try(table.sort, {2, 1}, function() error('in order') "
      "end)) case(try(table.sort, {1, 2, 3}, 42))",
      // utf8
      "case(try(utf8.len, 'h\\195\\164ll\\u{10FFFF}')) case(try(utf8.len, 'a\\255b')) "
      "case(try(utf8.len, 'abc', 2)) case(try(utf8.len, 'abc', 5))",
      "case(try(utf8.len, 'abc', 1, 5)) case(try(utf8.len, 'abc', -1)) case(try(utf8.len, "
      "'\\xed\\xa0\\x80')) case(try(utf8.len, '\\xed\\xa0\\x80', 1, -1, true))",
      "case(try(utf8.len, '')) case(try(utf8.len, 'abc', 0)) case(try(utf8.len, 'abc', 4)) "
      "case(try(utf8.len, 'abc', 3, 1)) case(try(utf8.len, 'a\\x80', 2))",
      "case(try(utf8.codepoint, 'h\\195\\164ll')) case(try(utf8.codepoint, 'h\\195\\164ll', 1, "
      "-1)) case(try(utf8.codepoint, 'h\\195\\164ll', 3))",
      "case(try(utf8.codepoint, 'a\\255', 1, 2)) case(try(utf8.codepoint, 'abc', 0)) "
      "case(try(utf8.codepoint, 'abc', 1, 4)) case(try(utf8.codepoint, 'abc', 3, 1))",
      "case(try(utf8.codepoint, 'abc', -1)) case(try(utf8.codepoint, '\\xed\\xa0\\x80', 1, 1, "
      "true)) case(try(utf8.codepoint, '\\xed\\xa0\\x80'))",
      "case(try(utf8.offset, 'h\\195\\164ll', 3)) case(try(utf8.offset, 'h\\195\\164ll', -1)) "
      "case(try(utf8.offset, 'h\\195\\164ll', 0, 3))",
      "case(try(utf8.offset, 'h\\195\\164ll', 10)) case(try(utf8.offset, 'h\\195\\164ll', -10)) "
      "case(try(utf8.offset, 'h\\195\\164ll', 1, 3))",
      "case(try(utf8.offset, 'abc', 1, 5)) case(try(utf8.offset, 'abc', 0)) case(try(utf8.offset, "
      "'abc', 1, -1)) case(try(utf8.offset, 'abc', -1, 1))",
      "case(try(function() local r = {} for p, c in utf8.codes('h\\195\\164l\\u{7FF}') do r[#r+1] "
      "= p .. ':' .. c end return table.concat(r, ' ') end))",
      "case(try(function() local r = {} for p, c in utf8.codes('a\\255b') do r[#r+1] = p .. ':' .. "
      "c end return table.concat(r, ' ') end))",
      "case(try(function() local r = {} for p, c in utf8.codes('a\\xed\\xa0\\x80', true) do "
      "r[#r+1] = p .. ':' .. c end return table.concat(r, ' ') end))",
      "case(try(function() local r = {} for p, c in utf8.codes('a\\xed\\xa0\\x80') do r[#r+1] = p "
      ".. ':' .. c end return table.concat(r, ' ') end))",
      "case(try(function() local f = utf8.codes('') return f('a\\x80\\x80b', 1) end)) "
      "case(try(function() local f = utf8.codes('') return f('abc', 0), f('abc', 3), f('abc', -5) "
      "end))",
      "case(try(function() local f, s, i = utf8.codes('xy') return type(f), s, i end)) "
      "case(try(utf8.codes)) case(try(utf8.codes, {}))",
      "case(try(utf8.char, 72, 228, 0x10FFFF, 0x7FFFFFFF)) case(try(utf8.char)) "
      "case(try(utf8.char, -1)) case(try(utf8.char, 'x'))",
      // base, math, coroutine
      "case(try(tonumber, '0x10')) case(try(tonumber, '  12  ')) case(try(tonumber, '1e2')) "
      "case(try(tonumber, 'z', 36)) case(try(tonumber, 'ff', 16))",
      "case(try(tonumber, '8', 8)) case(try(tonumber, {}, 10)) case(try(tonumber, 'x')) "
      "case(try(tonumber)) case(try(tonumber, '10', 99)) case(try(tonumber, 10, 16))",
      "case(try(rawequal, 'a', 'a')) case(try(rawequal, string.rep('x', 100), string.rep('x', "
      "100))) case(try(rawequal, string.rep('x', 100), string.rep('x', 99) .. 'y'))",
      "case(try(rawequal, 1)) case(try(rawequal, {}, {})) case(try(rawequal, 1, 1.0))",
      "case(try(math.max, 1, 5, 3)) case(try(math.min, 2, -1)) case(try(math.max)) "
      "case(try(math.min, 'x')) case(try(math.max, 1, 2.5))",
      "case(try(pcall, error, 'x')) case(try(pcall, function() return 1, 2 end)) case(try(pcall)) "
      "case(try(pcall, error))",
      "case(try(coroutine.resume, coroutine.create(function(a) return a * 2 end), 21)) "
      "case(try(coroutine.resume, coroutine.create(function() error('boom') end)))",
      "case(try(coroutine.resume, 42)) case(try(function() local co = coroutine.create(print) "
      "coroutine.resume(co) return coroutine.resume(co) end))",
      "case(try(function() local co = coroutine.create(function() local ok, v = "
      "pcall(coroutine.yield, 1) return ok, v end) return select(2, coroutine.resume(co)), "
      "coroutine.resume(co, 'back') end))",
      "case(try(function() local co = coroutine.wrap(function(...) local a = coroutine.yield(...) "
      "return a end) return co(1, 2), co('x') end))",
      "case(try(warn, 'a', 'b')) case(try(warn, 1)) case(try(warn)) case(try(warn, 'a', {}))",
  });
}

// ---------------------------------------------------------------------------------------------
// The matcher alone.

namespace {

struct counting_meter {
  std::uint64_t used = 0;
  std::uint64_t allowed = ~std::uint64_t{0};
  bool charge(std::uint64_t steps) {
    used += steps;
    return used <= allowed;
  }
};

}  // namespace

TEST_CASE("lua patterns: the matcher pays for every step and stops when told", "[runtime][lua]") {
  namespace lp = logline::runtime::lua_pattern;
  static_assert(std::is_trivially_destructible_v<lp::matcher<counting_meter>>);

  SECTION("a match, its captures, and what it cost") {
    counting_meter meter;
    lp::matcher<counting_meter> m("key = value", "(%w+)%s*=%s*(%w+)", meter);
    CHECK(m.match(0, 0) == 11);
    REQUIRE(m.captures() == 2);
    CHECK(m.capture_at(0).start == 0);
    CHECK(m.capture_at(0).length == 3);
    CHECK(m.capture_at(1).start == 6);
    CHECK(m.capture_at(1).length == 5);
    CHECK(meter.used == 0);  // charged 1024 steps at a time...
    CHECK(m.settle());
    CHECK(meter.used > 11);  // ...and the rest when settled
    CHECK(meter.used < 100);
  }
  SECTION("the work grows with the subject, and a refusal stops it at once") {
    const std::string subject(300, 'a');
    counting_meter free;
    lp::matcher<counting_meter> unlimited(subject, ".-.-b", free);
    CHECK(unlimited.match(0, 0) == lp::npos);
    CHECK(unlimited.settle());
    CHECK(free.used > 300u * 300u / 2);  // quadratic from one start position

    counting_meter tight;
    tight.allowed = 5000;
    lp::matcher<counting_meter> limited(subject, ".-.-b", tight);
    CHECK(limited.match(0, 0) == lp::npos);
    CHECK(limited.failed() == lp::failure::stopped);
    CHECK(tight.used <= 5000 + lp::steps_per_charge);
    CHECK(limited.match(1, 0) == lp::npos);  // stays stopped
    CHECK_FALSE(limited.settle());
  }
  SECTION("a set or a back-reference costs by its length") {
    const std::string big_set = "[" + std::string(16000, 'x') + "a]";
    counting_meter meter;
    lp::matcher<counting_meter> m("a", big_set, meter);
    CHECK(m.match(0, 0) == 1);
    m.settle();
    CHECK(meter.used >= 2 * 16000 / 8);  // found its end, then looked through it
  }
  SECTION("errors") {
    counting_meter meter;
    lp::matcher<counting_meter> m("abc", "a(", meter);
    CHECK(m.match(0, 0) == 1);  // an unfinished capture is the caller's error, at the end
    CHECK(m.capture_at(0).length == lp::capture::unfinished);
    lp::matcher<counting_meter> bad("abc", "a[", meter);
    CHECK(bad.match(0, 0) == lp::npos);
    CHECK(bad.failed() == lp::failure::missing_bracket);
    CHECK(std::string(lp::message_format(bad.failed())) == "malformed pattern (missing ']')");
    lp::matcher<counting_meter> index("abc", "%2", meter);
    CHECK(index.match(0, 0) == lp::npos);
    CHECK(index.failed() == lp::failure::invalid_capture_index);
    CHECK(index.failure_detail() == 2);
  }
}
