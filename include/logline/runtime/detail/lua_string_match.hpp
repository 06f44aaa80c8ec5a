#pragma once
// string.find, string.match, string.gmatch and string.gsub for the Lua sandbox (lua.hpp), on
// lua_pattern's matcher instead of Lua's own. Lua's matcher backtracks inside one C call, where
// the count hook cannot stop it; this one pays for every step from the run's budget
// (lua_sandbox.hpp's charge()), which also reads the clock, so a pattern bomb ends with the
// instruction or the time limit like any loop.
//
// The functions behave as Lua 5.4's (reference manual §6.4.1 and §6.4): the same arguments
// (negative and out-of-range init positions, find's `plain`, gmatch's `init`, gsub's string,
// table and function replacements and its `n`), the same results and the same error messages;
// tests/runtime/lua_pattern_test.cpp compares them with Lua's library. What they pay:
// - the matcher's steps (lua_pattern.hpp);
// - bytes copied into results: captures, replacements, gsub's output (1 unit per 8 bytes);
// - find's plain search: 1 unit per 8 bytes scanned or compared. It is linear however crafted
//   the input (memchr and memcmp, then Knuth-Morris-Pratt once the simple search has compared
//   twice the haystack; Lua's own is quadratic on "aaa...ab").
// Replacement functions and __index metamethods are Lua code, counted by the hook as usual.
//
// Every C function here keeps only trivially destructible objects in its frame: a Lua error
// (a replacement function's, a limit, a malformed pattern) unwinds it with longjmp.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "logline/runtime/detail/lua_pattern.hpp"
#include "logline/runtime/lua_sandbox.hpp"

namespace logline::runtime::detail {

// The matcher's meter: its steps are work units of the run.
struct budget_meter {
  lua_State* L;
  sandbox* sb;
  bool charge(std::uint64_t steps) noexcept { return !detail::charge(L, *sb, steps, 1); }
};

using lua_matcher = lua_pattern::matcher<budget_meter>;
static_assert(std::is_trivially_destructible_v<lua_matcher>);

// Raises the error for the matcher's failure: the limit error, or Lua's message for a malformed
// pattern.
inline int pattern_failed(lua_State* L, const lua_matcher& m) noexcept {
  if (m.failed() == lua_pattern::failure::stopped) return raise_limit(L, sandbox_of(L), 1);
  return luaL_error(L, lua_pattern::message_format(m.failed()), m.failure_detail());
}

// A capture of the last match [s, e): its text, or the position of a position capture. Index 0
// of a pattern without captures is the whole match; any other index past the captures is an error.
struct capture_value {
  const char* text = nullptr;  // nullptr: a position capture
  std::size_t length = 0;      // or the position, 1-based
};

inline capture_value capture_of(lua_State* L, const lua_matcher& m, const char* subject,
                                std::size_t s, std::size_t e, int i) noexcept {
  if (i >= m.captures()) {
    if (i != 0) luaL_error(L, "invalid capture index %%%d", i + 1);
    return {subject + s, e - s};
  }
  const lua_pattern::capture c = m.capture_at(i);
  if (c.length == lua_pattern::capture::unfinished) luaL_error(L, "unfinished capture");
  if (c.length == lua_pattern::capture::position) return {nullptr, c.start + 1};
  return {subject + c.start, static_cast<std::size_t>(c.length)};
}

inline void push_capture(lua_State* L, lua_matcher& m, const char* subject, std::size_t s,
                         std::size_t e, int i) noexcept {
  const capture_value v = capture_of(L, m, subject, s, e, i);
  if (v.text == nullptr) {
    lua_pushinteger(L, static_cast<lua_Integer>(v.length));
    return;
  }
  m.spend(byte_units(v.length));
  lua_pushlstring(L, v.text, v.length);
}

// Pushes the captures of the match [s, e) (with `whole`, the whole match when there are none);
// returns how many.
inline int push_captures(lua_State* L, lua_matcher& m, const char* subject, std::size_t s,
                         std::size_t e, bool whole) noexcept {
  const int n = (m.captures() == 0 && whole) ? 1 : m.captures();
  luaL_checkstack(L, n, "too many captures");
  for (int i = 0; i < n; ++i) push_capture(L, m, subject, s, e, i);
  return n;
}

// Lua treats a pattern without any of these as plain text in find.
constexpr bool has_specials(std::string_view p) noexcept {
  for (const char c : p) {
    switch (c) {
      case '^':
      case '$':
      case '*':
      case '+':
      case '?':
      case '.':
      case '(':
      case '[':
      case '%':
      case '-':
        return true;
      default:
        break;
    }
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// Plain search

// Knuth-Morris-Pratt from hay[from..): the first occurrence of needle (m >= 1 bytes), or npos.
// Pays as it goes; its table lives in a Lua userdata (the memory cap counts it), popped after.
inline std::size_t kmp_find(lua_State* L, const unsigned char* hay, std::size_t n, std::size_t from,
                            const unsigned char* needle, std::size_t m) noexcept {
  pay(L, 2 * byte_units(m));
  auto* border = static_cast<std::size_t*>(lua_newuserdatauv(L, m * sizeof(std::size_t), 0));
  border[0] = 0;  // border[i]: the longest proper prefix of needle[0..i] that is also its suffix
  for (std::size_t i = 1, k = 0; i < m; ++i) {
    while (k > 0 && needle[i] != needle[k]) k = border[k - 1];
    if (needle[i] == needle[k]) ++k;
    border[i] = k;
  }
  constexpr std::size_t chunk =
      4096;  // pay for this many bytes at a time (each costs at most two steps)
  std::size_t k = 0, found = lua_pattern::npos;
  for (std::size_t i = from; i < n; ++i) {
    if ((i - from) % chunk == 0) pay(L, 2 * byte_units(std::min(chunk, n - i)));
    while (k > 0 && hay[i] != needle[k]) k = border[k - 1];
    if (hay[i] == needle[k]) ++k;
    if (k == m) {
      found = i + 1 - m;
      break;
    }
  }
  lua_pop(L, 1);
  return found;
}

// The first occurrence of needle in hay[from..), or npos; pays as it goes (in batches: a find
// of a short word is one payment).
inline std::size_t plain_find(lua_State* L, const char* hay_text, std::size_t n, std::size_t from,
                              const char* needle_text, std::size_t m) noexcept {
  if (m == 0) return from;
  if (m > n - from) return lua_pattern::npos;
  const auto* hay = reinterpret_cast<const unsigned char*>(hay_text);
  const auto* needle = reinterpret_cast<const unsigned char*>(needle_text);
  const std::size_t last = n - m;                // the last offset where needle fits
  const std::size_t allowance = 2 * (n - from);  // bytes the simple search may compare
  std::size_t compared = 0, unpaid = 0;          // bytes
  std::size_t at = from;
  std::size_t found = lua_pattern::npos;
  while (at <= last) {
    const void* hit = std::memchr(hay + at, needle[0], last - at + 1);
    const std::size_t next =
        hit == nullptr ? last + 1
                       : static_cast<std::size_t>(static_cast<const unsigned char*>(hit) - hay);
    unpaid += next - at + 1;
    if (hit == nullptr) break;
    if (std::memcmp(hay + next + 1, needle + 1, m - 1) == 0) {
      found = next;
      break;
    }
    unpaid += m;
    compared += m;
    at = next + 1;
    if (unpaid >= 64 * 1024) {
      pay(L, byte_units(unpaid));
      unpaid = 0;
    }
    if (compared > allowance) {
      pay(L, byte_units(unpaid));
      return kmp_find(L, hay, n, at, needle, m);
    }
  }
  pay(L, byte_units(unpaid));
  return found;
}

// ---------------------------------------------------------------------------------------------
// find and match

inline int find_or_match(lua_State* L, bool find) noexcept {
  std::size_t ls = 0, lp = 0;
  const char* s = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const std::size_t init = start_position(luaL_optinteger(L, 3, 1), ls);  // 1-based
  if (init > ls + 1) {
    luaL_pushfail(L);
    return 1;
  }
  if (find && (lua_toboolean(L, 4) || !has_specials({p, lp}))) {
    pay(L, byte_units(lp));  // has_specials read the pattern
    const std::size_t at = plain_find(L, s, ls, init - 1, p, lp);
    if (at == lua_pattern::npos) {
      luaL_pushfail(L);
      return 1;
    }
    lua_pushinteger(L, static_cast<lua_Integer>(at + 1));
    lua_pushinteger(L, static_cast<lua_Integer>(at + lp));
    return 2;
  }
  budget_meter meter{L, &sandbox_of(L)};
  lua_matcher m({s, ls}, {p, lp}, meter);
  const bool anchored = lp > 0 && p[0] == '^';
  for (std::size_t at = init - 1;; ++at) {
    const std::size_t end = m.match(at, anchored ? 1 : 0);
    if (end != lua_pattern::npos) {
      int n = 0;
      if (find) {
        lua_pushinteger(L, static_cast<lua_Integer>(at + 1));
        lua_pushinteger(L, static_cast<lua_Integer>(end));
        n = 2 + push_captures(L, m, s, at, end, false);
      } else {
        n = push_captures(L, m, s, at, end, true);
      }
      if (!m.settle()) return pattern_failed(L, m);
      return n;
    }
    if (m.failed() != lua_pattern::failure::none) return pattern_failed(L, m);
    if (anchored || at >= ls) break;  // the last try is at the end: an empty match is a match
  }
  if (!m.settle()) return pattern_failed(L, m);
  luaL_pushfail(L);
  return 1;
}

inline int string_find(lua_State* L) noexcept { return find_or_match(L, true); }
inline int string_match(lua_State* L) noexcept { return find_or_match(L, false); }

// ---------------------------------------------------------------------------------------------
// gmatch

// The iterator's position, in a userdata (upvalue 3; the subject and the pattern are 1 and 2).
struct gmatch_state {
  std::size_t next = 0;                  // where the next search starts
  std::size_t last = lua_pattern::npos;  // where the last match ended: no empty match there
};

inline int gmatch_step(lua_State* L) noexcept {
  std::size_t ls = 0, lp = 0;
  const char* s = lua_tolstring(L, lua_upvalueindex(1), &ls);
  const char* p = lua_tolstring(L, lua_upvalueindex(2), &lp);
  auto* state = static_cast<gmatch_state*>(lua_touserdata(L, lua_upvalueindex(3)));
  budget_meter meter{L, &sandbox_of(L)};
  lua_matcher m({s, ls}, {p, lp}, meter);
  for (std::size_t at = state->next; at <= ls; ++at) {  // '^' is no anchor here: it matches itself
    const std::size_t end = m.match(at, 0);
    if (end != lua_pattern::npos && end != state->last) {
      state->next = state->last = end;
      const int n = push_captures(L, m, s, at, end, true);
      if (!m.settle()) return pattern_failed(L, m);
      return n;
    }
    if (m.failed() != lua_pattern::failure::none) return pattern_failed(L, m);
  }
  if (!m.settle()) return pattern_failed(L, m);
  return 0;
}

inline int string_gmatch(lua_State* L) noexcept {
  std::size_t ls = 0;
  luaL_checklstring(L, 1, &ls);
  luaL_checklstring(L, 2, nullptr);
  std::size_t from = start_position(luaL_optinteger(L, 3, 1), ls) - 1;
  if (from > ls) from = ls + 1;  // past the end: no match at all, not even an empty one
  lua_settop(L, 2);
  auto* state = static_cast<gmatch_state*>(lua_newuserdatauv(L, sizeof(gmatch_state), 0));
  *state = {from, lua_pattern::npos};
  lua_pushcclosure(L, &gmatch_step, 3);
  return 1;
}

// ---------------------------------------------------------------------------------------------
// gsub

// A replacement string: %0 the whole match, %1..%9 captures, %% a '%'.
inline void add_template(lua_State* L, lua_matcher& m, luaL_Buffer* b, const char* src,
                         std::size_t s, std::size_t e) noexcept {
  std::size_t length = 0;
  const char* t = lua_tolstring(L, 3, &length);  // a number becomes its text in place, as in Lua
  const char* const end = t + length;
  std::size_t copied = 0;
  while (t < end) {
    const auto* percent =
        static_cast<const char*>(std::memchr(t, '%', static_cast<std::size_t>(end - t)));
    if (percent == nullptr) {
      luaL_addlstring(b, t, static_cast<std::size_t>(end - t));
      copied += static_cast<std::size_t>(end - t);
      break;
    }
    luaL_addlstring(b, t, static_cast<std::size_t>(percent - t));
    copied += static_cast<std::size_t>(percent - t);
    const char c = percent + 1 < end ? percent[1] : '\0';
    if (c == '%') {
      luaL_addchar(b, '%');
    } else if (c >= '0' && c <= '9') {
      const capture_value v =
          c == '0' ? capture_value{src + s, e - s} : capture_of(L, m, src, s, e, c - '1');
      if (v.text == nullptr) {
        lua_pushinteger(L, static_cast<lua_Integer>(v.length));
        luaL_addvalue(b);
      } else {
        luaL_addlstring(b, v.text, v.length);
        copied += v.length;
      }
    } else {
      luaL_error(L, "invalid use of '%c' in replacement string", '%');
    }
    t = percent + 2;
  }
  m.spend(byte_units(copied));
}

// Appends the replacement for the match [s, e). False when the match stays as it was (a table or
// a function gave nil or false).
inline bool add_replacement(lua_State* L, lua_matcher& m, luaL_Buffer* b, const char* src,
                            std::size_t s, std::size_t e, int kind) noexcept {
  if (kind == LUA_TFUNCTION) {
    lua_pushvalue(L, 3);
    const int n = push_captures(L, m, src, s, e, true);
    lua_call(L, n, 1);
  } else if (kind == LUA_TTABLE) {
    push_capture(L, m, src, s, e, 0);
    lua_gettable(L, 3);
  } else {
    add_template(L, m, b, src, s, e);
    return true;
  }
  if (!lua_toboolean(L, -1)) {
    lua_pop(L, 1);
    luaL_addlstring(b, src + s, e - s);
    m.spend(byte_units(e - s));
    return false;
  }
  if (!lua_isstring(L, -1))
    return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1)) != 0;
  std::size_t length = 0;
  lua_tolstring(L, -1, &length);
  m.spend(byte_units(length));
  luaL_addvalue(b);
  return true;
}

inline int string_gsub(lua_State* L) noexcept {
  std::size_t ls = 0, lp = 0;
  const char* src = luaL_checklstring(L, 1, &ls);
  const char* p = luaL_checklstring(L, 2, &lp);
  const int kind = lua_type(L, 3);
  const lua_Integer most = luaL_optinteger(L, 4, static_cast<lua_Integer>(ls) + 1);
  luaL_argexpected(
      L, kind == LUA_TNUMBER || kind == LUA_TSTRING || kind == LUA_TFUNCTION || kind == LUA_TTABLE,
      3, "string/function/table");
  const bool anchored = lp > 0 && p[0] == '^';
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  budget_meter meter{L, &sandbox_of(L)};
  lua_matcher m({src, ls}, {p, lp}, meter);
  std::size_t at = 0, last = lua_pattern::npos;
  lua_Integer count = 0;
  bool changed = false;
  while (count < most) {
    const std::size_t end = m.match(at, anchored ? 1 : 0);
    if (m.failed() != lua_pattern::failure::none) return pattern_failed(L, m);
    if (end != lua_pattern::npos && end != last) {  // no empty match where the last one ended
      ++count;
      changed = add_replacement(L, m, &b, src, at, end, kind) || changed;
      at = last = end;
    } else if (at < ls) {
      luaL_addchar(&b, src[at++]);
    } else {
      break;
    }
    if (anchored) break;
  }
  if (changed) m.spend(byte_units(ls - at));
  if (!m.settle()) return pattern_failed(L, m);
  if (changed) {
    luaL_addlstring(&b, src + at, ls - at);
    luaL_pushresult(&b);
  } else {
    lua_pushvalue(L, 1);  // nothing replaced: the subject itself
  }
  lua_pushinteger(L, count);
  return 2;
}

// Puts the four functions into the string table at the top of the stack (which is also the
// strings' metatable's __index, so ("x"):find(...) finds them too).
inline void install_string_match(lua_State* L) noexcept {
  static const luaL_Reg functions[] = {{"find", &string_find},
                                       {"match", &string_match},
                                       {"gmatch", &string_gmatch},
                                       {"gsub", &string_gsub},
                                       {nullptr, nullptr}};
  luaL_setfuncs(L, functions, 0);
}

}  // namespace logline::runtime::detail
