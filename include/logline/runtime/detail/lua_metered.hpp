#pragma once
// The sandbox's library functions (lua.hpp) whose work grows with their input, paid for from the
// run's budget. A C function runs to completion before the count hook can fire, so a loop of
// such calls could run for a long time between two hook calls, and one call could loop for as
// long as an argument says (table.move({}, 1, 2^62, 2)). Each function here pays, through
// lua_sandbox.hpp's pay(), for the work it is about to do, before doing it wherever its
// arguments tell; paying also reads the clock every clock_interval units. Units: one per element
// or value handled, one per comparison, one per 8 bytes read or written (byte_units).
//
// What each pays (audit of every function the sandbox exposes; those not listed do a constant
// amount of work per call, or work on values already on the stack, as any call does):
// - string.rep: the pieces plus the bytes of the result, after refusing a result larger than the
//   memory cap as the memory limit; empty pieces return "" at once.
// - string.sub, byte, upper, lower, reverse: the bytes (or values) of the result, up front.
// - string.format: the format and the strings formatted up front, the result after.
// - string.pack: up front, a bound of the result (every size the format names, 16 bytes per
//   format character, the strings packed), capped at the memory cap; packsize: the format.
// - string.unpack: up front the format and all the data from the start position; what it did
//   not read is given back (refund()) once it returns, so a run near the end of its budget may
//   be stopped by a call that would have fit.
// - string.char, utf8.char, table.pack, math.max, math.min, warn: one per argument.
// - table.concat, table.unpack: rewritten here (same behaviour): the element count up front, so
//   table.concat(t, "", 1, 2^40) stops at once, and each element's bytes before it is copied.
// - table.insert, table.remove: the elements they shift, up front; a table with __len is
//   refused (they shift up to whatever length it claims).
// - table.move: the elements it moves, up front (over nils it takes no memory).
// - table.sort: rewritten here (introsort on the same lua_geti/lua_seti/lua_compare as Lua's):
//   one unit per comparison, plus the bytes of two strings compared without a comparator. Not
//   stable, as Lua's is not; the order of equal elements may differ from Lua's. An order function
//   that is not consistent gets Lua's error "invalid order function for sorting" or some order.
// - utf8.len, utf8.codepoint: the span they decode, up front. utf8.offset: the distance it moved,
//   after (it raises its errors before moving). utf8.codes: its iterator pays for the
//   continuation bytes it skips before skipping them.
// - tonumber of a string: its bytes; rawequal of two long strings: their bytes.
// - pcall and coroutine.resume read the clock whenever they catch an error, so a loop of calls
//   that fail part-way (after work that failing kept from being paid for) stops in time.
// string.find, match, gmatch, gsub are in lua_string_match.hpp; string.len, select and the rest
// are constant-time.
//
// Each wrapper calls the function it replaces (its upvalue 1) directly, in its own frame, so
// Lua's argument checks and error messages stay as they were ("bad argument #1 to 'sub'",
// prefixed with the caller's line). As everywhere Lua can raise, frames hold only trivially
// destructible objects.
#include <algorithm>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <type_traits>

#include "logline/runtime/lua_sandbox.hpp"

namespace logline::runtime::detail {

inline int call_original(lua_State* L) noexcept {
  return lua_tocfunction(L, lua_upvalueindex(1))(L);
}

// Replaces field `name` of the table at the top of the stack with `wrapper`, the old value as its
// upvalue 1.
inline void wrap_field(lua_State* L, const char* name, lua_CFunction wrapper) noexcept {
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, wrapper, 1);
  lua_setfield(L, -2, name);
}

// ---------------------------------------------------------------------------------------------
// Strings

// Results a string function pushes whose size the arguments fix: the bytes of the string.
inline int pay_string_bytes(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  pay(L, byte_units(length));
  return call_original(L);
}

// string.rep: the memory cap first (Lua refuses only results over 2^31-1 bytes, as an ordinary
// error), then the pieces and bytes. Empty pieces return at once: Lua would loop n times
// copying nothing, up to 2^63 times.
inline int metered_rep(lua_State* L) noexcept {
  std::size_t length = 0, separator = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Integer n = luaL_checkinteger(L, 2);
  luaL_optlstring(L, 3, "", &separator);
  if (n <= 0 || length + separator == 0) {
    lua_pushliteral(L, "");
    return 1;
  }
  sandbox& sb = sandbox_of(L);
  const double count = static_cast<double>(n);
  const double total =
      static_cast<double>(length) * count + static_cast<double>(separator) * (count - 1);
  if (total > static_cast<double>(sb.limits.memory_bytes)) {
    if (sb.limit == limit_kind::none) {
      sb.limit = limit_kind::memory;  // final: this string can never fit
      sb.memory_tentative = false;
      sb.refused_bytes = total >= 1.8e19 ? std::numeric_limits<std::size_t>::max()
                                         : static_cast<std::size_t>(total);
      sb.used_at_refusal = sb.used;
    }
    return raise_limit(L, sb, 1);
  }
  pay(L, static_cast<std::uint64_t>(n) + byte_units(static_cast<std::uint64_t>(total)));
  return call_original(L);
}

inline int metered_sub(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  const std::size_t first = start_position(luaL_checkinteger(L, 2), length);
  const std::size_t last = end_position(luaL_optinteger(L, 3, -1), length);
  pay(L, first <= last ? byte_units(last - first + 1) : 1);
  return call_original(L);
}

inline int metered_byte(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Integer i = luaL_optinteger(L, 2, 1);
  const std::size_t first = start_position(i, length);
  const std::size_t last = end_position(luaL_optinteger(L, 3, i), length);
  pay(L, first <= last ? last - first + 1 : 1);
  return call_original(L);
}

inline int metered_format(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  std::uint64_t units = byte_units(length);
  const int top = lua_gettop(L);
  for (int i = 2; i <= top; ++i)
    units += 1 + (lua_type(L, i) == LUA_TSTRING ? byte_units(lua_rawlen(L, i)) : 0);
  pay(L, units);
  const int results = call_original(L);
  pay(L, byte_units(lua_rawlen(L, -1)));
  return results;
}

inline int metered_pack(lua_State* L) noexcept {
  std::size_t length = 0;
  const char* format = luaL_checklstring(L, 1, &length);
  const std::uint64_t cap = sandbox_of(L).limits.memory_bytes;
  std::uint64_t bound = 16 * static_cast<std::uint64_t>(length), number = 0;
  for (std::size_t i = 0; i <= length && bound < cap;
       ++i) {  // every number in the format, as a size
    if (i < length && format[i] >= '0' && format[i] <= '9') {
      number =
          std::min<std::uint64_t>(number * 10 + static_cast<std::uint64_t>(format[i] - '0'), cap);
    } else {
      bound += number;
      number = 0;
    }
  }
  const int top = lua_gettop(L);
  for (int i = 2; i <= top; ++i)
    if (lua_type(L, i) == LUA_TSTRING) bound += lua_rawlen(L, i);
  pay(L, byte_units(length) + static_cast<std::uint64_t>(top) + byte_units(std::min(bound, cap)));
  return call_original(L);
}

inline int metered_unpack(lua_State* L) noexcept {
  std::size_t format_length = 0, data_length = 0;
  luaL_checklstring(L, 1, &format_length);
  luaL_checklstring(L, 2, &data_length);
  const std::size_t from = start_position(luaL_optinteger(L, 3, 1), data_length) - 1;
  const std::uint64_t rest = from <= data_length ? data_length - from : 0;
  // At most one value per format character, and all the data.
  const std::uint64_t most = byte_units(format_length) + format_length + 1 + byte_units(rest);
  pay(L, most);
  const int results = call_original(L);
  const lua_Integer next = lua_tointeger(L, -1);  // the last result: where reading stopped, 1-based
  const std::uint64_t read = next > 0 && static_cast<std::uint64_t>(next - 1) >= from
                                 ? static_cast<std::uint64_t>(next - 1) - from
                                 : 0;
  const std::uint64_t used =
      byte_units(format_length) + static_cast<std::uint64_t>(results) + byte_units(read);
  if (used < most) refund(sandbox_of(L), most - used);
  return results;
}

// Functions that handle each argument once (string.char, utf8.char, table.pack, ...).
inline int pay_per_argument(lua_State* L) noexcept {
  pay(L, static_cast<std::uint64_t>(lua_gettop(L)) + 1);
  return call_original(L);
}

// tonumber reads all of a string argument.
inline int metered_tonumber(lua_State* L) noexcept {
  if (lua_type(L, 1) == LUA_TSTRING) pay(L, byte_units(lua_rawlen(L, 1)));
  return call_original(L);
}

// rawequal compares two long strings byte by byte (short ones are interned: one comparison).
inline int metered_rawequal(lua_State* L) noexcept {
  if (lua_type(L, 1) == LUA_TSTRING && lua_type(L, 2) == LUA_TSTRING &&
      lua_rawlen(L, 1) == lua_rawlen(L, 2))
    pay(L, byte_units(lua_rawlen(L, 1)));
  return call_original(L);
}

// pcall and coroutine.resume: when they caught an error (their first result is false), the clock
// is read. A call that failed part-way paid only for what it charged up front.
inline int clock_on_error(lua_State* L) noexcept {
  const int results = call_original(L);
  if (results > 0 && !lua_toboolean(L, -results)) {
    sandbox& sb = sandbox_of(L);
    if (charge(L, sb, 1, 1, true)) return raise_limit(L, sb, 1);
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// utf8

// A position as utf8's functions read it: negative counts from the end, before the start is 0.
constexpr lua_Integer utf8_position(lua_Integer pos, std::size_t length) noexcept {
  if (pos >= 0) return pos;
  if (0u - static_cast<std::size_t>(pos) > length) return 0;
  return static_cast<lua_Integer>(length) + pos + 1;
}

// The span [i, j] a function decodes (its errors for a bad span are Lua's).
constexpr std::uint64_t span_length(lua_Integer i, lua_Integer j, std::size_t length) noexcept {
  if (i < 1) i = 1;
  if (j > static_cast<lua_Integer>(length)) j = static_cast<lua_Integer>(length);
  return i <= j ? static_cast<std::uint64_t>(j - i + 1) : 0;
}

inline int metered_utf8_len(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Integer i = utf8_position(luaL_optinteger(L, 2, 1), length);
  const lua_Integer j = utf8_position(luaL_optinteger(L, 3, -1), length);
  pay(L, 1 + byte_units(span_length(i, j, length)));
  return call_original(L);
}

inline int metered_codepoint(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Integer i = utf8_position(luaL_optinteger(L, 2, 1), length);
  const lua_Integer j = utf8_position(luaL_optinteger(L, 3, i), length);
  pay(L, 1 + span_length(i, j, length));
  return call_original(L);
}

inline int metered_offset(lua_State* L) noexcept {
  std::size_t length = 0;
  luaL_checklstring(L, 1, &length);
  const lua_Integer n = luaL_checkinteger(L, 2);
  const lua_Integer from = utf8_position(
      luaL_optinteger(L, 3, n >= 0 ? 1 : static_cast<lua_Integer>(length) + 1), length);
  const int results = call_original(L);  // raises its errors before it moves
  lua_Integer to =
      n > 0 ? static_cast<lua_Integer>(length) + 1 : 1;  // not found: it went to the end
  if (lua_isinteger(L, -1)) to = lua_tointeger(L, -1);
  pay(L, 1 + byte_units(static_cast<std::uint64_t>(to > from ? to - from : from - to)));
  return results;
}

// utf8.codes's iterator (upvalue 1: Lua's): it skips the continuation bytes after the current
// position, however many; paid for here first.
inline int metered_codes_step(lua_State* L) noexcept {
  std::size_t length = 0;
  const char* s = luaL_checklstring(L, 1, &length);
  const lua_Integer current = lua_tointeger(L, 2);
  std::size_t skip = 0;
  if (current >= 0 && static_cast<std::uint64_t>(current) < length) {
    const auto start = static_cast<std::size_t>(current);
    while (start + skip < length && (static_cast<unsigned char>(s[start + skip]) & 0xC0) == 0x80)
      ++skip;
  }
  pay(L, 1 + byte_units(skip));
  return call_original(L);
}

inline int metered_codes(lua_State* L) noexcept {
  const int results = call_original(L);  // iterator, string, 0
  lua_pushvalue(L, -results);
  lua_pushcclosure(L, &metered_codes_step, 1);
  lua_replace(L, -results - 1);
  return results;
}

// ---------------------------------------------------------------------------------------------
// Tables

// table.concat(list, sep, i, j) as Lua 5.4 defines it, paying as it goes.
inline int metered_concat(lua_State* L) noexcept {
  luaL_checktype(L, 1, LUA_TTABLE);  // (Lua also takes a proxy with __index and __len: in the
                                     // sandbox only tables can have a metatable)
  lua_Integer last = luaL_len(L, 1);
  std::size_t separator = 0;
  const char* sep = luaL_optlstring(L, 2, "", &separator);
  lua_Integer i = luaL_optinteger(L, 3, 1);
  last = luaL_optinteger(L, 4, last);
  if (i > last) {
    lua_pushliteral(L, "");
    return 1;
  }
  const auto count =
      static_cast<lua_Unsigned>(last) - static_cast<lua_Unsigned>(i);  // + 1 may overflow
  pay(L, count == ~lua_Unsigned{0} ? count : count + 1);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (;; ++i) {
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1))
      return luaL_error(L, "invalid value (%s) at index %I in table for 'concat'",
                        luaL_typename(L, -1), static_cast<LUAI_UACINT>(i));
    std::size_t length = 0;
    lua_tolstring(L, -1, &length);
    pay(L, byte_units(length + (i < last ? separator : 0)));
    luaL_addvalue(&b);
    if (i == last) break;
    luaL_addlstring(&b, sep, separator);
  }
  luaL_pushresult(&b);
  return 1;
}

// table.unpack(list, i, j) as Lua 5.4 defines it, paying for the values first.
inline int metered_table_unpack(lua_State* L) noexcept {
  lua_Integer i = luaL_optinteger(L, 2, 1);
  const lua_Integer last = lua_isnoneornil(L, 3) ? luaL_len(L, 1) : luaL_checkinteger(L, 3);
  if (i > last) return 0;
  const lua_Unsigned n = static_cast<lua_Unsigned>(last) - static_cast<lua_Unsigned>(i);
  if (n >= static_cast<lua_Unsigned>(INT_MAX) || lua_checkstack(L, static_cast<int>(n + 1)) == 0)
    return luaL_error(L, "too many results to unpack");
  pay(L, n + 1);
  for (; i < last; ++i) lua_geti(L, 1, i);
  lua_geti(L, 1, last);
  return static_cast<int>(n + 1);
}

// table.insert and table.remove (upvalue 2: the name): a table with __len is refused, since they
// shift elements in C up to the length it claims; the elements shifted are paid for first.
inline int metered_shift(lua_State* L) noexcept {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (luaL_getmetafield(L, 1, "__len") != LUA_TNIL)
    return luaL_error(L, "table.%s: a table with a __len metamethod is not allowed in the sandbox",
                      lua_tostring(L, lua_upvalueindex(2)));
  const lua_Integer n = luaL_len(L, 1);  // the border: no metamethod, nothing but a count
  const bool insert = lua_tostring(L, lua_upvalueindex(2))[0] == 'i';
  // insert(t, pos, v) shifts t[pos..n] up; remove(t, pos) shifts t[pos+1..n] down. A bad pos is
  // Lua's error, after a payment of one.
  lua_Integer shifted = 0;
  if (insert ? lua_gettop(L) == 3 : lua_gettop(L) >= 2) {
    const lua_Integer pos = lua_tointeger(L, 2);
    if (pos >= 1 && pos <= n) shifted = n - pos + (insert ? 1 : 0);
  }
  pay(L, 1 + static_cast<std::uint64_t>(shifted));
  return call_original(L);
}

// table.move, paying for the elements it moves first: it loops in C, and over nils in an empty
// table it takes no memory, so table.move({}, 1, 2^62, 2) would never end.
inline int metered_move(lua_State* L) noexcept {
  const lua_Integer first = luaL_checkinteger(L, 2);
  const lua_Integer last = luaL_checkinteger(L, 3);
  const lua_Integer to = luaL_checkinteger(L, 4);
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!lua_isnoneornil(L, 5)) luaL_checktype(L, 5, LUA_TTABLE);
  if (last >= first) {  // Lua's own checks first, so its errors stay errors
    constexpr lua_Integer most = std::numeric_limits<lua_Integer>::max();
    luaL_argcheck(L, first > 0 || last < most + first, 3, "too many elements to move");
    const lua_Integer n = last - first + 1;
    luaL_argcheck(L, to <= most - n + 1, 4, "destination wrap around");
    pay(L, static_cast<std::uint64_t>(n));
  }
  return call_original(L);
}

// ---------------------------------------------------------------------------------------------
// table.sort: introsort (quicksort with the median of three, insertion sort for short ranges,
// heapsort when quicksort goes too deep) over the list in place. Stack: 1 the list, 2 the order
// function or nil, 3 the pivot, then an element or two at a time.

class list_sorter {
 public:
  explicit list_sorter(lua_State* L) noexcept : L_(L), ordered_(!lua_isnil(L, 2)) {}

  void sort(lua_Integer lo, lua_Integer hi, int depth) noexcept {
    while (hi - lo >= 12) {
      if (depth-- == 0) {
        heapsort(lo, hi);
        return;
      }
      const lua_Integer p = partition(lo, hi);
      if (p - lo < hi - p) {  // recurse on the shorter side: the C stack stays O(log n)
        sort(lo, p - 1, depth);
        lo = p + 1;
      } else {
        sort(p + 1, hi, depth);
        hi = p - 1;
      }
    }
    insertion(lo, hi);
  }

  void settle() noexcept {
    if (unpaid_ > 0) pay(L_, unpaid_);
    unpaid_ = 0;
  }

 private:
  void get(lua_Integer i) noexcept { lua_geti(L_, 1, i); }
  void set(lua_Integer i) noexcept { lua_seti(L_, 1, i); }  // pops the value

  void swap(lua_Integer i, lua_Integer j) noexcept {
    get(i);
    get(j);
    set(i);
    set(j);
  }

  // a < b for the values at stack indices a and b, by the order function or Lua's <.
  bool less(int a, int b) noexcept {
    a = lua_absindex(L_, a);
    b = lua_absindex(L_, b);
    std::uint64_t units = 1;
    if (!ordered_ && lua_type(L_, a) == LUA_TSTRING && lua_type(L_, b) == LUA_TSTRING)
      units += byte_units(std::min(lua_rawlen(L_, a), lua_rawlen(L_, b)));
    unpaid_ += units;
    if (unpaid_ >= 256) settle();
    if (!ordered_) return lua_compare(L_, a, b, LUA_OPLT) != 0;
    lua_pushvalue(L_, 2);
    lua_pushvalue(L_, a);
    lua_pushvalue(L_, b);
    lua_call(L_, 2, 1);
    const bool result = lua_toboolean(L_, -1) != 0;
    lua_pop(L_, 1);
    return result;
  }

  // Is list[i] < list[j]?
  bool less_at(lua_Integer i, lua_Integer j) noexcept {
    get(i);
    get(j);
    const bool result = less(-2, -1);
    lua_pop(L_, 2);
    return result;
  }

  [[noreturn]] void invalid_order() noexcept {
    luaL_error(L_, "invalid order function for sorting");
    std::abort();  // not reached: luaL_error does not return
  }

  // Puts the median of list[lo], list[mid], list[hi] at hi - 1 and the other two in order at lo
  // and hi, where they stop the scans; partitions lo+1..hi-2 around it; returns its final place.
  lua_Integer partition(lua_Integer lo, lua_Integer hi) noexcept {
    const lua_Integer mid = lo + (hi - lo) / 2;
    if (less_at(mid, lo)) swap(mid, lo);
    if (less_at(hi, mid)) {
      swap(hi, mid);
      if (less_at(mid, lo)) swap(mid, lo);
    }
    swap(mid, hi - 1);
    lua_settop(L_, 2);
    get(hi - 1);  // the pivot, at index 3
    lua_Integer i = lo, j = hi - 1;
    for (;;) {
      for (;;) {  // up to an element not below the pivot; list[hi - 1] is the pivot itself
        get(++i);
        const bool below = less(-1, 3);
        lua_pop(L_, 1);
        if (!below) break;
        if (i >= hi - 1) invalid_order();  // only an inconsistent order gets past the pivot
      }
      for (;;) {  // down to an element not above the pivot; list[lo] is not
        get(--j);
        const bool above = less(3, -1);
        lua_pop(L_, 1);
        if (!above) break;
        if (j <= lo) invalid_order();
      }
      if (i >= j) break;
      swap(i, j);
    }
    swap(i, hi - 1);
    lua_settop(L_, 2);
    return i;
  }

  void insertion(lua_Integer lo, lua_Integer hi) noexcept {
    for (lua_Integer k = lo + 1; k <= hi; ++k) {
      get(k);  // the element to place, at index 3
      lua_Integer j = k - 1;
      for (; j >= lo; --j) {
        get(j);
        if (!less(3, -1)) {
          lua_pop(L_, 1);
          break;
        }
        set(j + 1);  // list[j] moves up
      }
      set(j + 1);
    }
  }

  void sift_down(lua_Integer lo, lua_Integer root, lua_Integer end) noexcept {
    for (;;) {
      lua_Integer child = lo + 2 * (root - lo) + 1;
      if (child > end) return;
      if (child + 1 <= end && less_at(child, child + 1)) ++child;
      if (!less_at(root, child)) return;
      swap(root, child);
      root = child;
    }
  }

  void heapsort(lua_Integer lo, lua_Integer hi) noexcept {
    for (lua_Integer start = lo + (hi - lo - 1) / 2; start >= lo; --start) sift_down(lo, start, hi);
    for (lua_Integer end = hi; end > lo; --end) {
      swap(lo, end);
      sift_down(lo, lo, end - 1);
    }
  }

  lua_State* L_;
  bool ordered_;              // an order function was given
  std::uint64_t unpaid_ = 0;  // comparisons (and bytes) not paid for yet
};
static_assert(std::is_trivially_destructible_v<list_sorter>);

inline int metered_sort(lua_State* L) noexcept {
  luaL_checktype(L, 1, LUA_TTABLE);  // (Lua also takes a proxy with __index, __newindex and __len:
                                     // in the sandbox only tables can have a metatable)
  const lua_Integer n = luaL_len(L, 1);
  if (n > 1) {
    luaL_argcheck(L, n < INT_MAX, 1, "array too big");
    if (!lua_isnoneornil(L, 2)) luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_settop(L, 2);
    luaL_checkstack(L, 8, "sorting");
    int depth = 0;
    for (lua_Integer m = n; m > 1; m >>= 1)
      depth += 2;  // 2 log2(n) levels of quicksort, then heapsort
    list_sorter sorter(L);
    sorter.sort(1, n, depth);
    sorter.settle();
  }
  return 0;
}

// ---------------------------------------------------------------------------------------------

// Installs the wrappers over the libraries already loaded (as globals).
inline void install_metered(lua_State* L) noexcept {
  lua_getglobal(L, LUA_STRLIBNAME);  // also the strings' metatable's __index
  for (const char* name : {"upper", "lower", "reverse", "packsize"})
    wrap_field(L, name, &pay_string_bytes);
  wrap_field(L, "sub", &metered_sub);
  wrap_field(L, "rep", &metered_rep);
  wrap_field(L, "byte", &metered_byte);
  wrap_field(L, "char", &pay_per_argument);
  wrap_field(L, "format", &metered_format);
  wrap_field(L, "pack", &metered_pack);
  wrap_field(L, "unpack", &metered_unpack);
  lua_pop(L, 1);

  lua_getglobal(L, LUA_TABLIBNAME);
  lua_pushcfunction(L, &metered_concat);
  lua_setfield(L, -2, "concat");
  lua_pushcfunction(L, &metered_table_unpack);
  lua_setfield(L, -2, "unpack");
  lua_pushcfunction(L, &metered_sort);
  lua_setfield(L, -2, "sort");
  wrap_field(L, "pack", &pay_per_argument);
  wrap_field(L, "move", &metered_move);
  for (const char* name : {"insert", "remove"}) {
    lua_getfield(L, -1, name);
    lua_pushstring(L, name);
    lua_pushcclosure(L, &metered_shift, 2);
    lua_setfield(L, -2, name);
  }
  lua_pop(L, 1);

  lua_getglobal(L, LUA_UTF8LIBNAME);
  wrap_field(L, "char", &pay_per_argument);
  wrap_field(L, "len", &metered_utf8_len);
  wrap_field(L, "codepoint", &metered_codepoint);
  wrap_field(L, "offset", &metered_offset);
  wrap_field(L, "codes", &metered_codes);
  lua_pop(L, 1);

  lua_getglobal(L, LUA_MATHLIBNAME);
  wrap_field(L, "max", &pay_per_argument);
  wrap_field(L, "min", &pay_per_argument);
  lua_pop(L, 1);

  lua_getglobal(L, LUA_COLIBNAME);
  wrap_field(L, "resume", &clock_on_error);
  lua_pop(L, 1);

  lua_pushglobaltable(L);
  wrap_field(L, "tonumber", &metered_tonumber);
  wrap_field(L, "rawequal", &metered_rawequal);
  wrap_field(L, "pcall", &clock_on_error);
  wrap_field(L, "warn", &pay_per_argument);
  lua_pop(L, 1);
}

}  // namespace logline::runtime::detail
