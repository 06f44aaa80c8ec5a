#pragma once
// logline::runtime::run_lua: runs Lua 5.4 source text in a fresh sandbox, with an instruction
// budget, a memory cap and a wall-clock limit, and hands values in and out as JSON.
//
//   runtime::lua_context ctx;
//   ctx.values["input"] = json{{"amount", 12}};
//   ctx.functions["lookup"] = [&](const json& args) -> result<json> { return find(args.at(0)); };
//   auto r = runtime::run_lua("return { total = ctx.input.amount * 2 }", ctx);
//   // r.value() == {"total": 24}; on failure r.error() says why
//
// Every call gets its own lua_State, closed before run_lua returns (also after a limit or an
// error), so nothing a chunk does outlives the call. The contract -- the libraries, the limits
// and their margins, the JSON bridge, the errors, host functions -- is docs/runtime.md's "The Lua
// sandbox"; run_lua never throws.
//
// Implementation note. Debian's liblua5.4 is C: a Lua error is a longjmp, which skips C++
// destructors. So every C function Lua calls here (and the hook, and the allocator) keeps only
// trivially destructible objects in its frame, and does its C++ work (building JSON, calling host
// functions) in helpers that return before anything can raise a Lua error. run_lua itself calls
// only API functions that cannot raise one, or runs Lua under lua_pcall.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <limits>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "logline/blake3.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/idle_companion.hpp"
#include "logline/runtime/detail/lua_metered.hpp"
#include "logline/runtime/lua_sandbox.hpp"
#include "logline/runtime/detail/lua_string_match.hpp"
#include "logline/types.hpp"

namespace logline::runtime {

// Runs `code` (Lua 5.4 source text, never bytecode) in a fresh sandbox; see the top of this file.
inline result<json> run_lua(std::string_view code, const lua_context& ctx,
                            const lua_limits& limits = {});

namespace detail {

inline constexpr std::size_t max_depth = 64;            // nested tables / JSON containers
inline constexpr std::size_t max_message_bytes = 2000;  // of a Lua error message we keep
inline constexpr const char* chunk_name = "=function";  // messages read "function:3: ..."

// Frames that a Lua error can longjmp over iterate JSON with these; they must not need destructors.
static_assert(std::is_trivially_destructible_v<json::object_t::const_iterator>);
static_assert(
    std::is_trivially_destructible_v<std::map<std::string, host_function>::const_iterator>);

// ---------------------------------------------------------------------------------------------
// Messages

// s cut to max_message_bytes, with ill-formed UTF-8 replaced by U+FFFD, so a message is text.
inline std::string readable(std::string_view s) {
  std::string out;
  const bool cut = s.size() > max_message_bytes;
  if (cut) s = s.substr(0, max_message_bytes);
  while (!s.empty()) {
    const std::size_t bad = logline::detail::first_invalid_utf8(s);
    if (bad == logline::detail::utf8_ok) {
      out.append(s);
      break;
    }
    out.append(s.substr(0, bad));
    out += "\xEF\xBF\xBD";
    s.remove_prefix(bad + 1);
  }
  if (cut) out += "...";
  return out;
}

inline std::string number_text(double d) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.14g", d);
  return buf;
}

inline std::string limit_message(const sandbox& sb) {
  std::string m;
  switch (sb.limit) {
    case limit_kind::none:
      return "no limit reached";
    case limit_kind::instructions:
      m = sb.budget_text;
      break;
    case limit_kind::time:
      m = sb.time_text;
      break;
    case limit_kind::memory:
      return sb.memory_text + " (" + std::to_string(sb.used_at_refusal) +
             " bytes in use, an allocation of " + std::to_string(sb.refused_bytes) +
             " bytes refused)";
  }
  if (sb.where[0] != '\0') {
    m += " (at ";
    m += sb.where;
    m += ')';
  }
  return m;
}

// ---------------------------------------------------------------------------------------------
// JSON -> Lua

// Empty if v can be handed to Lua; else why not, with the place ("ctx.input.list[3]").
inline std::string unfit_for_lua(const json& v, std::size_t depth, std::string& place) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::boolean:
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return {};
    case json::value_t::number_float:
      return std::isfinite(*v.get_ptr<const json::number_float_t*>())
                 ? std::string()
                 : "a number that is NaN or infinite";
    case json::value_t::string: {
      const auto& s = *v.get_ptr<const json::string_t*>();
      const std::size_t bad = logline::detail::first_invalid_utf8(s);
      if (bad == logline::detail::utf8_ok) return {};
      return std::string("a string that is not valid UTF-8 (") +
             logline::detail::describe_invalid_utf8(s, bad) + " at byte " + std::to_string(bad) +
             ")";
    }
    case json::value_t::array:
    case json::value_t::object: {
      if (depth + 1 > max_depth)
        return "nesting deeper than " + std::to_string(max_depth) + " levels";
      const std::size_t at = place.size();
      if (v.is_array()) {
        const auto& a = *v.get_ptr<const json::array_t*>();
        for (std::size_t i = 0; i < a.size(); ++i) {
          place += '[' + std::to_string(i + 1) + ']';  // as Lua will index it
          if (std::string why = unfit_for_lua(a[i], depth + 1, place); !why.empty()) return why;
          place.resize(at);
        }
      } else {
        for (const auto& [key, member] : *v.get_ptr<const json::object_t*>()) {
          place += '.';
          logline::detail::append_printable(place, key, 32);
          if (logline::detail::first_invalid_utf8(key) != logline::detail::utf8_ok)
            return "a key that is not valid UTF-8";
          if (std::string why = unfit_for_lua(member, depth + 1, place); !why.empty()) return why;
          place.resize(at);
        }
      }
      return {};
    }
    case json::value_t::binary:
      return "a binary value";
    case json::value_t::discarded:
      return "a discarded value";
  }
  return "a value of unknown type";
}

// Pushes v (checked by unfit_for_lua). Runs where a Lua error may strike: references and
// trivially destructible iterators only.
inline void push_json(lua_State* L, const json& v) {
  switch (v.type()) {
    case json::value_t::boolean:
      lua_pushboolean(L, *v.get_ptr<const json::boolean_t*>() ? 1 : 0);
      return;
    case json::value_t::number_integer:
      lua_pushinteger(L, static_cast<lua_Integer>(*v.get_ptr<const json::number_integer_t*>()));
      return;
    case json::value_t::number_unsigned: {
      const auto u = *v.get_ptr<const json::number_unsigned_t*>();
      if (u <= static_cast<json::number_unsigned_t>(std::numeric_limits<lua_Integer>::max()))
        lua_pushinteger(L, static_cast<lua_Integer>(u));
      else
        lua_pushnumber(L, static_cast<lua_Number>(u));
      return;
    }
    case json::value_t::number_float:
      lua_pushnumber(L, static_cast<lua_Number>(*v.get_ptr<const json::number_float_t*>()));
      return;
    case json::value_t::string: {
      const auto& s = *v.get_ptr<const json::string_t*>();
      lua_pushlstring(L, s.data(), s.size());
      return;
    }
    case json::value_t::array: {
      const auto& a = *v.get_ptr<const json::array_t*>();
      luaL_checkstack(L, 3, "JSON nested too deeply");
      lua_createtable(L, static_cast<int>(std::min<std::size_t>(a.size(), 1u << 24)), 0);
      for (std::size_t i = 0; i < a.size(); ++i) {
        push_json(L, a[i]);
        lua_rawseti(L, -2, static_cast<lua_Integer>(i + 1));  // a null leaves a hole
      }
      return;
    }
    case json::value_t::object: {
      const auto& o = *v.get_ptr<const json::object_t*>();
      luaL_checkstack(L, 3, "JSON nested too deeply");
      lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(o.size(), 1u << 24)));
      for (const auto& [key, member] : o) {
        lua_pushlstring(L, key.data(), key.size());
        push_json(L, member);
        lua_rawset(L, -3);  // a null member is absent
      }
      return;
    }
    case json::value_t::null:
    case json::value_t::binary:
    case json::value_t::discarded:
      break;
  }
  lua_pushnil(L);
}

// ---------------------------------------------------------------------------------------------
// Lua -> JSON. Uses only API calls that cannot raise a Lua error (raw reads, lua_next over a
// table nobody modifies, lua_checkstack), so it runs in ordinary C++ frames.

class reader {
 public:
  explicit reader(lua_State* L) : L_(L) {}

  // The value at `index` as JSON; `root` names it in messages ("result", "argument 2").
  result<json> read(int index, std::string_view root) {
    json out;
    if (value(lua_absindex(L_, index), 0, out)) return out;
    std::string message(root);
    const std::size_t n = path_.size();  // innermost first
    for (std::size_t i = n; i-- > 0;) {
      if (n > 12 && i == n - 7) {  // deep: the 6 outermost steps, "...", the 6 innermost
        message += "...";
        i = 6;
        continue;
      }
      message += path_[i];
    }
    message += ": ";
    message += what_;
    return make_error(code_, std::move(message));
  }

 private:
  bool fail(std::string what, errc code = errc::invalid_json) {
    what_ = std::move(what);
    code_ = code;
    return false;
  }

  static std::string key_step(std::string_view key) {
    const bool identifier = !key.empty() && key.size() <= 32 &&
                            std::all_of(key.begin(), key.end(),
                                        [](char c) {
                                          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                                 (c >= '0' && c <= '9') || c == '_';
                                        }) &&
                            !(key[0] >= '0' && key[0] <= '9');
    if (identifier) return "." + std::string(key);
    std::string step = "[\"";
    logline::detail::append_printable(step, key, 32);
    return step + "\"]";
  }

  bool value(int index, std::size_t depth, json& out) {
    switch (lua_type(L_, index)) {
      case LUA_TNIL:
        out = nullptr;
        return true;
      case LUA_TBOOLEAN:
        out = lua_toboolean(L_, index) != 0;
        return true;
      case LUA_TNUMBER: {
        if (lua_isinteger(L_, index)) {
          out = static_cast<json::number_integer_t>(lua_tointeger(L_, index));
          return true;
        }
        const double d = static_cast<double>(lua_tonumber(L_, index));
        if (std::isnan(d)) return fail("a Lua NaN (not a number) cannot be converted to JSON");
        if (std::isinf(d)) return fail("a Lua infinity cannot be converted to JSON");
        out = d;
        return true;
      }
      case LUA_TSTRING: {
        std::size_t len = 0;
        const char* p = lua_tolstring(L_, index, &len);  // a string already: no conversion
        const std::string_view s(p, len);
        if (const std::size_t bad = logline::detail::first_invalid_utf8(s);
            bad != logline::detail::utf8_ok)
          return fail(
              std::string("a Lua string that is not valid UTF-8 cannot be converted to JSON (") +
              logline::detail::describe_invalid_utf8(s, bad) + " at byte " + std::to_string(bad) +
              ")");
        out = std::string(s);
        return true;
      }
      case LUA_TTABLE:
        return table(index, depth, out);
      default:
        return fail(std::string("a Lua ") + lua_typename(L_, lua_type(L_, index)) +
                    " cannot be converted to JSON");
    }
  }

  bool table(int index, std::size_t depth, json& out) {
    if (depth + 1 > max_depth)
      return fail("tables nested deeper than " + std::to_string(max_depth) +
                  " levels (or a table that contains itself) cannot be converted to JSON");
    if (lua_checkstack(L_, 4) == 0) return fail("out of Lua stack space", errc::limit_exceeded);
    // First pass: which keys are there?
    std::size_t strings = 0, integers = 0;
    lua_Integer low = std::numeric_limits<lua_Integer>::max(),
                high = std::numeric_limits<lua_Integer>::min();
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      const int key_type = lua_type(L_, -2);
      if (key_type == LUA_TSTRING) {
        ++strings;
      } else if (key_type == LUA_TNUMBER && lua_isinteger(L_, -2)) {
        const lua_Integer k = lua_tointeger(L_, -2);
        ++integers;
        low = std::min(low, k);
        high = std::max(high, k);
      } else {
        std::string key = key_type == LUA_TNUMBER
                              ? "the non-integer number key " +
                                    number_text(static_cast<double>(lua_tonumber(L_, -2)))
                              : std::string("a key of type ") + lua_typename(L_, key_type);
        lua_pop(L_, 2);
        return fail("a Lua table with " + key +
                    " cannot be converted to JSON (object keys are strings, array "
                    "indices the integers 1..n)");
      }
      lua_pop(L_, 1);
    }
    if (strings > 0 && integers > 0)
      return fail("a Lua table with both integer keys (" + std::to_string(integers) +
                  ") and string keys (" + std::to_string(strings) +
                  ") cannot be converted to JSON: an array has only the keys 1..n, "
                  "an object only string keys");
    if (integers > 0) {
      if (low != 1 || high != static_cast<lua_Integer>(integers))
        return fail("a Lua table whose integer keys are not exactly 1..n (" +
                    std::to_string(integers) + " keys, from " + std::to_string(low) + " to " +
                    std::to_string(high) +
                    ") cannot be converted to JSON: a JSON array has no holes");
      out = json::array();
      auto& array = *out.get_ptr<json::array_t*>();
      array.reserve(integers);
      for (lua_Integer i = 1; i <= high; ++i) {
        lua_rawgeti(L_, index, i);
        array.emplace_back();
        const bool ok = value(lua_gettop(L_), depth + 1, array.back());
        lua_pop(L_, 1);
        if (!ok) {
          path_.push_back('[' + std::to_string(i) + ']');
          return false;
        }
      }
      return true;
    }
    out = json::object();  // string keys only, or an empty table
    auto& object = *out.get_ptr<json::object_t*>();
    lua_pushnil(L_);
    while (lua_next(L_, index) != 0) {
      std::size_t len = 0;
      const char* p = lua_tolstring(L_, -2, &len);  // keys are strings here: no conversion
      const std::string_view key(p, len);
      if (const std::size_t bad = logline::detail::first_invalid_utf8(key);
          bad != logline::detail::utf8_ok) {
        path_.push_back(key_step(key));
        lua_pop(L_, 2);
        return fail(
            std::string("a Lua table key that is not valid UTF-8 cannot be converted to JSON (") +
            logline::detail::describe_invalid_utf8(key, bad) + " at byte " + std::to_string(bad) +
            ")");
      }
      json& member = object[std::string(key)];
      const bool ok = value(lua_gettop(L_), depth + 1, member);
      lua_pop(L_, 1);
      if (!ok) {
        path_.push_back(key_step(key));
        lua_pop(L_, 1);
        return false;
      }
    }
    return true;
  }

  lua_State* L_;
  errc code_ = errc::invalid_json;
  std::string what_;
  std::vector<std::string> path_;  // steps from the failing value up to the root
};

// A readable sentence for the error value at `index`. Calls no metamethod (__tostring could loop).
inline std::string error_text(lua_State* L, int index) {
  switch (lua_type(L, index)) {
    case LUA_TSTRING: {
      std::size_t len = 0;
      const char* p = lua_tolstring(L, index, &len);
      return readable(std::string_view(p, len));
    }
    case LUA_TNIL:
      return "error object is nil";
    case LUA_TBOOLEAN:
      return lua_toboolean(L, index) != 0 ? "error object is true" : "error object is false";
    case LUA_TNUMBER:
      return "error object is the number " +
             (lua_isinteger(L, index) ? std::to_string(lua_tointeger(L, index))
                                      : number_text(static_cast<double>(lua_tonumber(L, index))));
    case LUA_TTABLE: {
      reader r(L);
      auto j = r.read(index, "error object");
      if (!j)
        return "error object is a table that cannot be shown as JSON (" + j.error().message() + ")";
      return "error object is a table: " +
             readable(j->dump(-1, ' ', false, json::error_handler_t::replace));
    }
    default:
      return std::string("error object is a ") + lua_typename(L, lua_type(L, index));
  }
}

// ---------------------------------------------------------------------------------------------
// Functions Lua calls. Each keeps only trivially destructible objects in its frame.

// Work units for carrying v across the bridge: one per value, one per 8 bytes of text.
inline std::uint64_t json_units(const json& v) noexcept {
  std::uint64_t units = 1;
  if (const auto* s = v.get_ptr<const json::string_t*>(); s != nullptr) {
    units += byte_units(s->size());
  } else if (const auto* a = v.get_ptr<const json::array_t*>(); a != nullptr) {
    for (const json& x : *a) units += json_units(x);
  } else if (const auto* o = v.get_ptr<const json::object_t*>(); o != nullptr) {
    for (const auto& [key, x] : *o) units += byte_units(key.size()) + json_units(x);
  }
  return units;
}

// The C++ half of a host call: reads the arguments, calls the function, checks its value. Leaves
// the value in sb.host_result (true) or a message in sb.host_error (false), and in sb.host_units
// the work of carrying arguments and value across. Raises no Lua error.
inline bool call_host(lua_State* L, sandbox& sb,
                      const std::pair<const std::string, host_function>& entry) noexcept {
  try {
    const std::string label = "ctx." + entry.first;
    json args = json::array();
    reader r(L);
    const int n = lua_gettop(L);
    for (int i = 1; i <= n; ++i) {
      auto arg = r.read(i, label + " argument " + std::to_string(i));
      if (!arg) {
        sb.host_error = arg.error().message();
        return false;
      }
      args.push_back(std::move(*arg));
    }
    sb.host_units = json_units(args);
    result<json> out;
    idle_companion::call_back(
        [&] { out = entry.second(args); });  // on a companion: at the caller's priority
    if (!out) {
      sb.host_error = label + ": " + out.error().message();
      return false;
    }
    std::string place = label + "()";
    if (std::string why = unfit_for_lua(*out, 0, place); !why.empty()) {
      sb.host_error = label + " returned a value Lua cannot hold: " + why + " at " + place;
      return false;
    }
    sb.host_units += json_units(*out);
    sb.host_result = std::move(*out);
    return true;
  } catch (const std::exception& e) {
    try {
      sb.host_error = "ctx." + entry.first + " threw: " + e.what();
    } catch (...) {
      sb.host_error.clear();
    }
  } catch (...) {
    try {
      sb.host_error = "ctx." + entry.first + " threw an exception";
    } catch (...) {
      sb.host_error.clear();
    }
  }
  return false;
}

inline int host_trampoline(lua_State* L) noexcept {
  sandbox& sb = sandbox_of(L);
  const auto* entry = static_cast<const std::pair<const std::string, host_function>*>(
      lua_touserdata(L, lua_upvalueindex(1)));
  sb.host_units = 1;
  const bool ok = call_host(L, sb, *entry);
  pay(L, sb.host_units);  // after the call: what the host itself does is its own affair
  if (!ok) {
    luaL_where(L, 1);  // "function:7: "
    if (sb.host_error.empty())
      lua_pushliteral(L, "host function failed");
    else
      lua_pushlstring(L, sb.host_error.data(), sb.host_error.size());
    lua_concat(L, 2);
    return lua_error(L);
  }
  lua_settop(L, 0);
  push_json(L, sb.host_result);
  sb.host_result = json();
  return 1;
}

inline int builtin_blake3(lua_State* L) noexcept {
  luaL_checktype(L, 1, LUA_TSTRING);
  std::size_t len = 0;
  const char* p = lua_tolstring(L, 1, &len);
  pay(L, byte_units(len));
  const std::array<std::uint8_t, 32> digest = logline::blake3(std::string_view(p, len));
  static constexpr char digits[] = "0123456789abcdef";
  char hex[64];
  for (std::size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = digits[digest[i] >> 4];
    hex[2 * i + 1] = digits[digest[i] & 0x0f];
  }
  lua_pushlstring(L, hex, sizeof hex);
  return 1;
}

inline bool make_uuid(char (&out)[36]) noexcept {
  try {
    const std::string s = logline::uuid::v7().to_string();
    if (s.size() != sizeof out) return false;
    std::copy(s.begin(), s.end(), out);
    return true;
  } catch (...) {
    return false;
  }
}

inline int builtin_uuid(lua_State* L) noexcept {
  char text[36];
  if (!make_uuid(text)) return luaL_error(L, "ctx.uuid: could not make a UUID");
  lua_pushlstring(L, text, sizeof text);
  return 1;
}

inline int print_nothing(lua_State*) noexcept { return 0; }

// setmetatable, refusing a metatable with __gc.
inline int guarded_setmetatable(lua_State* L) noexcept {
  luaL_checktype(L, 1, LUA_TTABLE);
  const int type = lua_type(L, 2);
  luaL_argexpected(L, type == LUA_TNIL || type == LUA_TTABLE, 2, "nil or table");
  if (type == LUA_TTABLE) {
    lua_pushliteral(L, "__gc");
    const int gc = lua_rawget(L, 2);
    lua_pop(L, 1);
    if (gc != LUA_TNIL)
      return luaL_error(L,
                        "setmetatable: a __gc metamethod is not allowed in the sandbox (finalizers "
                        "run outside its limits)");
  }
  return call_original(L);
}

// xpcall on top of pcall: the handler runs as ordinary code once the failed call has returned
// (see the top of this file). Returns what xpcall returns; an error in the handler becomes the
// error value, as Lua's xpcall would give its own error.
inline constexpr std::string_view xpcall_source = R"lua(
local pcall, error, type, pack, unpack = pcall, error, type, table.pack, table.unpack
return function(f, handler, ...)
  if type(handler) ~= "function" then
    error("bad argument #2 to 'xpcall' (function expected, got " .. type(handler) .. ")", 2)
  end
  local r = pack(pcall(f, ...))
  if r[1] then return unpack(r, 1, r.n) end
  local _, value = pcall(handler, r[2])
  return false, value
end
)lua";

// Builds the sandbox in the fresh state; returns the ctx table. Run under lua_pcall.
inline int setup(lua_State* L) noexcept {
  sandbox& sb = sandbox_of(L);
  static const luaL_Reg libraries[] = {
      {LUA_GNAME, luaopen_base},       {LUA_STRLIBNAME, luaopen_string},
      {LUA_TABLIBNAME, luaopen_table}, {LUA_MATHLIBNAME, luaopen_math},
      {LUA_UTF8LIBNAME, luaopen_utf8}, {LUA_COLIBNAME, luaopen_coroutine},
  };
  for (const luaL_Reg& library : libraries) {
    luaL_requiref(L, library.name, library.func, 1);
    lua_pop(L, 1);
  }
  for (const char* name :
       {"dofile", "loadfile", "load", "loadstring", "require", "collectgarbage"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushcfunction(L, &print_nothing);
  lua_setglobal(L, "print");
  lua_getglobal(L, LUA_STRLIBNAME);  // also the strings' metatable's __index
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  install_string_match(L);
  lua_pop(L, 1);
  install_metered(L);  // before xpcall's source below takes pcall
  lua_getglobal(L, "setmetatable");
  lua_pushcclosure(L, &guarded_setmetatable, 1);
  lua_setglobal(L, "setmetatable");
  if (luaL_loadbufferx(L, xpcall_source.data(), xpcall_source.size(), "=xpcall", "t") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  lua_setglobal(L, "xpcall");

  const lua_context& context = *sb.context;
  lua_createtable(L, 0, 2);
  lua_pushcfunction(L, &builtin_blake3);
  lua_setfield(L, -2, "blake3");
  lua_pushcfunction(L, &builtin_uuid);
  lua_setfield(L, -2, "uuid");
  if (const auto* values = context.values.get_ptr<const json::object_t*>(); values != nullptr) {
    for (const auto& [key, value] : *values) {
      lua_pushlstring(L, key.data(), key.size());
      push_json(L, value);
      lua_rawset(L, -3);
    }
  }
  for (const auto& entry : context.functions) {
    lua_pushlstring(L, entry.first.data(), entry.first.size());
    lua_pushlightuserdata(L, const_cast<void*>(static_cast<const void*>(&entry)));
    lua_pushcclosure(L, &host_trampoline, 1);
    lua_rawset(L, -3);
  }
  lua_pushvalue(L, -1);
  lua_setglobal(L, "ctx");
  return 1;
}

struct state_closer {
  void operator()(lua_State* L) const noexcept { lua_close(L); }
};

// The error for a failed protected call whose error value is on top of the stack.
inline error_info failure(lua_State* L, const sandbox& sb, int status) {
  if (sb.limit != limit_kind::none) return make_error(errc::limit_exceeded, limit_message(sb));
  if (status == LUA_ERRMEM)
    return make_error(errc::limit_exceeded, sb.memory_text + " (out of memory)");
  return make_error(errc::execution_failed, error_text(L, -1));
}

inline result<json> run(std::string_view code, const lua_context& ctx, const lua_limits& limits) {
  // The context, checked before any Lua runs.
  if (!ctx.values.is_object() && !ctx.values.is_null())
    return make_error(
        errc::invalid_argument,
        std::string("lua_context::values must be a JSON object, not ") + ctx.values.type_name());
  if (const auto* values = ctx.values.get_ptr<const json::object_t*>(); values != nullptr) {
    for (const auto& [key, value] : *values) {
      std::string place = "ctx.";
      logline::detail::append_printable(place, key, 32);
      if (logline::detail::first_invalid_utf8(key) != logline::detail::utf8_ok)
        return make_error(errc::invalid_json, place + ": the key is not valid UTF-8");
      if (std::string why = unfit_for_lua(value, 0, place); !why.empty())
        return make_error(errc::invalid_json, place + ": " + why + " cannot be handed to Lua");
      if (ctx.functions.count(key) != 0)
        return make_error(errc::invalid_argument, place + " is both a value and a host function");
    }
  }
  for (const auto& [name, function] : ctx.functions)
    if (!function)
      return make_error(errc::invalid_argument, "host function ctx." + name + " is empty");

  sandbox sb;  // outlives the state: lua_close frees through its allocator
  sb.limits = limits;
  sb.context = &ctx;
  sb.interval = static_cast<int>(std::clamp<std::uint64_t>(limits.instructions, 1, hook_interval));
  sb.clock_due = clock_interval;  // as the hook, library work reads the clock after 1000 units
  const auto start = sb.now();
  const std::chrono::milliseconds timeout = std::max(limits.timeout, std::chrono::milliseconds(0));
  const auto room = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::time_point::max() - start);
  sb.deadline =
      timeout >= room
          ? std::chrono::steady_clock::time_point::max()
          : start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout);
  sb.budget_text =
      "Lua instruction budget of " + std::to_string(limits.instructions) + " instructions exceeded";
  sb.memory_text = "Lua memory cap of " + std::to_string(limits.memory_bytes) + " bytes exceeded";
  sb.time_text = "Lua time limit of " + std::to_string(limits.timeout.count()) + " ms exceeded";

  const std::unique_ptr<lua_State, state_closer> state(lua_newstate(&allocate, &sb));
  lua_State* L = state.get();
  if (L == nullptr) {
    sb.limit = limit_kind::memory;
    return make_error(errc::limit_exceeded, sb.memory_text + " (a Lua state does not fit)");
  }
  // Set on the main thread; coroutines inherit it when they are created.
  lua_sethook(L, &hook, LUA_MASKCOUNT, sb.interval);

  // Stack: [ctx] once set up.
  lua_pushcfunction(L, &setup);
  if (const int status = lua_pcall(L, 0, 1, 0); status != LUA_OK || sb.limit != limit_kind::none) {
    error_info e = failure(L, sb, status);
    if (e == errc::execution_failed) return with_context(e, "setting up the Lua sandbox failed: ");
    return e;
  }

  // Text mode: bytecode is refused here (and string.dump / load are gone from the sandbox).
  if (const int status = luaL_loadbufferx(L, code.data(), code.size(), chunk_name, "t");
      status != LUA_OK)
    return failure(L, sb, status);
  if (const int status = lua_pcall(L, 0, 1, 0); status != LUA_OK) return failure(L, sb, status);
  if (sb.limit != limit_kind::none) return make_error(errc::limit_exceeded, limit_message(sb));
  if (lua_type(L, -1) == LUA_TFUNCTION) {
    lua_pushvalue(L, 1);  // ctx
    if (const int status = lua_pcall(L, 1, 1, 0); status != LUA_OK) return failure(L, sb, status);
    if (sb.limit != limit_kind::none) return make_error(errc::limit_exceeded, limit_message(sb));
  }
  reader r(L);
  result<json> out = r.read(-1, "result");
  if (sb.limit != limit_kind::none) return make_error(errc::limit_exceeded, limit_message(sb));
  return out;
}

}  // namespace detail

inline result<json> run_lua(std::string_view code, const lua_context& ctx,
                            const lua_limits& limits) {
  result<json> out;
  try {
    auto go = [&] { out = detail::run(code, ctx, limits); };
    if (limits.idle_cpu)
      idle_companion::run(go);
    else
      go();
  } catch (const std::bad_alloc&) {
    return make_error(errc::limit_exceeded, "out of memory outside the Lua state (building JSON)");
  } catch (const std::exception& e) {
    return make_error(errc::execution_failed, std::string("running Lua failed: ") + e.what());
  }
  return out;
}

}  // namespace logline::runtime
