#pragma once
// The state behind one run_lua call (logline/runtime/lua.hpp) and its three limits: the
// allocator that enforces the memory cap, the count hook that enforces the instruction budget
// and the time limit, and charge(), through which library functions
// (detail/lua_string_match.hpp, detail/lua_metered.hpp) pay for the work they do in C, where the
// hook cannot see it. docs/runtime.md documents the contract; this header is what the pieces
// share.
#if __has_include(<lua5.4/lua.hpp>)
#include <lua5.4/lua.hpp>
#else
#include <lua.hpp>
#endif

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <map>
#include <string>

#include "logline/error.hpp"
#include "logline/json.hpp"

static_assert(LUA_VERSION_NUM == 504, "logline/runtime/lua.hpp needs Lua 5.4 headers");

namespace logline::runtime {

struct lua_limits {
  std::uint64_t instructions = 100'000'000;          // Lua VM instructions and library work units
  std::size_t memory_bytes = std::size_t{64} << 20;  // bytes the Lua state may hold
  std::chrono::milliseconds timeout{5000};           // wall clock
  // Run the VM on a companion thread of Linux's SCHED_IDLE class (idle_companion.hpp): the code
  // gets only CPU that no normal thread wants, and host functions still run on the calling
  // thread at its priority. The time limit counts from when the code starts; on a saturated
  // machine code that gets no CPU reaches it. runtime::node sets this for tenants' code.
  bool idle_cpu = false;
  // The clock the time limit is measured by; null: std::chrono::steady_clock::now. Tests give
  // one they drive, so that what they check does not depend on how fast the machine is.
  std::chrono::steady_clock::time_point (*steady_now)() = nullptr;
};

// A host function reachable from Lua as ctx.<name>(...): its arguments arrive as a JSON array,
// its result goes back as a Lua value; an error becomes a Lua error (catchable by pcall) with its
// message.
using host_function = std::function<result<json>(const json& args)>;

struct lua_context {
  json values = json::object();  // each member becomes ctx.<key> (input, env, now, ...)
  std::map<std::string, host_function> functions;  // each becomes ctx.<name>
};

namespace detail {

// Instructions between hook calls, each of which reads the clock: a single VM instruction can do
// work that grows with the data (comparing two 20 MB strings), so the time limit's margin is up
// to this many of them (decision 63: 100 costs the VM ~5%, and cuts that margin tenfold).
inline constexpr std::uint64_t hook_interval = 100;
inline constexpr std::uint64_t clock_interval = 1000;  // work units charged between clock reads
inline constexpr std::uint64_t bytes_per_unit =
    8;  // bytes a library function reads or writes per unit

enum class limit_kind { none, instructions, memory, time };

// Everything the callbacks need. Every lua_State of a run (coroutines included) reaches it as
// the allocator's userdata.
struct sandbox {
  lua_limits limits;
  const lua_context* context = nullptr;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point now() const noexcept {
    return limits.steady_now ? limits.steady_now() : std::chrono::steady_clock::now();
  }
  int interval = 1;             // the count hook's period
  std::uint64_t executed = 0;   // instructions (a hook period at a time) and library work units
  std::uint64_t clock_due = 0;  // charge() reads the clock once `executed` reaches this

  std::size_t used = 0;  // bytes the state holds
  // The last refused growth. Lua answers a refusal with a full collection and the same request
  // again; if that one succeeds, the refusal was not the end.
  struct {
    const void* block = nullptr;
    std::size_t osize = 0, nsize = 0;
    bool set = false;
  } refused;
  bool memory_tentative = false;  // limit == memory came from that refusal and may be withdrawn
  std::size_t refused_bytes = 0, used_at_refusal = 0;

  limit_kind limit =
      limit_kind::none;  // the first limit reached; the state is poisoned from then on
  char where[96] = {};   // "function:3", where the budget or the time ran out

  // What the hook raises in a poisoned state (built up front: the hook must not allocate C++).
  std::string budget_text, memory_text, time_text;

  // A host call's outcome, kept here rather than in the C function's frame (see lua.hpp).
  json host_result;
  std::string host_error;
  std::uint64_t host_units = 0;  // the work of converting its arguments and value
};

inline sandbox& sandbox_of(lua_State* L) noexcept {
  void* ud = nullptr;
  lua_getallocf(L, &ud);
  return *static_cast<sandbox*>(ud);
}

// ---------------------------------------------------------------------------------------------
// The allocator: counts what the state holds and refuses to go over the cap.

inline void refuse(sandbox& sb, const void* block, std::size_t osize, std::size_t nsize) noexcept {
  if (sb.limit == limit_kind::none) {
    // Poison now: some refusals are final at once (lauxlib's buffers allocate without Lua's
    // retry). If the very next growth is Lua's retry of this one and it fits, allocate()
    // withdraws the poison.
    sb.limit = limit_kind::memory;
    sb.memory_tentative = true;
    sb.refused_bytes = nsize;
    sb.used_at_refusal = sb.used;
  } else {
    // The retry failed too, or this is another request, so the earlier refusal got no retry.
    sb.memory_tentative = false;
  }
  sb.refused = {block, osize, nsize, true};
}

inline void* allocate(void* ud, void* block, std::size_t osize, std::size_t nsize) noexcept {
  sandbox& sb = *static_cast<sandbox*>(ud);
  const std::size_t old_size =
      block != nullptr ? osize : 0;  // for a new block, osize is a type tag
  if (nsize == 0) {
    std::free(block);
    sb.used -= old_size;
    return nullptr;
  }
  const std::size_t cap = sb.limits.memory_bytes;
  if (nsize > old_size && nsize - old_size > cap - std::min(sb.used, cap)) {
    refuse(sb, block, osize, nsize);
    return nullptr;
  }
  void* moved = std::realloc(block, nsize);
  if (moved == nullptr) {
    if (nsize <= old_size) {  // Lua assumes shrinking never fails: keep the larger block
      sb.used -= old_size - nsize;
      return block;
    }
    refuse(sb, block, osize, nsize);  // the process itself is out of memory: the same for Lua
    return nullptr;
  }
  sb.used = sb.used - old_size + nsize;
  if (nsize > old_size) {
    if (sb.refused.set && sb.memory_tentative && sb.refused.block == block &&
        sb.refused.osize == osize && sb.refused.nsize == nsize)
      sb.limit = limit_kind::none;  // Lua's retry after a full collection fit: not the end
    sb.refused.set = false;
    sb.memory_tentative = false;
  }
  return moved;
}

// ---------------------------------------------------------------------------------------------
// The budget and the clock.

inline void hook(lua_State* L, lua_Debug* ar) noexcept;

// Poisons the state with `kind` and records where: the Lua function at stack `level`.
inline bool poison(lua_State* L, sandbox& sb, limit_kind kind, int level) noexcept {
  sb.limit = kind;
  lua_Debug ar;
  if (lua_getstack(L, level, &ar) != 0 && lua_getinfo(L, "Sl", &ar) != 0 && ar.currentline > 0)
    std::snprintf(sb.where, sizeof sb.where, "%s:%d", ar.short_src, ar.currentline);
  return true;
}

// Adds `units` of work to the budget. The clock is read once clock_interval units have been
// charged since the last read, or at once when `read_clock`. True once the state is poisoned;
// the call that reaches a limit records where (the Lua function at stack `level`).
inline bool charge(lua_State* L, sandbox& sb, std::uint64_t units, int level,
                   bool read_clock = false) noexcept {
  if (sb.limit != limit_kind::none) return true;
  constexpr std::uint64_t most = std::numeric_limits<std::uint64_t>::max();
  sb.executed = units > most - sb.executed ? most : sb.executed + units;
  if (sb.executed > sb.limits.instructions) return poison(L, sb, limit_kind::instructions, level);
  if (!read_clock && sb.executed < sb.clock_due) return false;
  sb.clock_due = clock_interval > most - sb.executed ? most : sb.executed + clock_interval;
  if (sb.now() >= sb.deadline) return poison(L, sb, limit_kind::time, level);
  return false;
}

// The hook's check: `units` instructions ran, and the clock is read every time.
inline bool reached_limit(lua_State* L, sandbox& sb, std::uint64_t units, int level) noexcept {
  return charge(L, sb, units, level, true);
}

// Raises the limit error of a poisoned state. First the hook is re-armed to fire on every
// instruction of this coroutine (others re-arm at their next hook call): if a pcall catches the
// error, the caller's next instruction raises it again, so each enclosing pcall costs one
// instruction and the error reaches run_lua.
inline int raise_limit(lua_State* L, const sandbox& sb, int level) noexcept {
  lua_sethook(L, &hook, LUA_MASKCOUNT, 1);
  const std::string& text = sb.limit == limit_kind::instructions ? sb.budget_text
                            : sb.limit == limit_kind::time       ? sb.time_text
                                                                 : sb.memory_text;
  luaL_where(L, level);
  lua_pushlstring(L, text.data(), text.size());
  lua_concat(L, 2);
  return lua_error(L);
}

// Charges `units` from a C function Lua called, and raises the limit error when that reaches a
// limit (or one was reached before). Returns normally only while no limit is reached.
inline void pay(lua_State* L, std::uint64_t units) noexcept {
  sandbox& sb = sandbox_of(L);
  if (charge(L, sb, units, 1)) raise_limit(L, sb, 1);
}

// Gives back units charged up front beyond what a call turned out to do (see lua_metered.hpp).
// Nothing is given back once a limit is reached.
inline void refund(sandbox& sb, std::uint64_t units) noexcept {
  if (sb.limit == limit_kind::none) sb.executed -= std::min(units, sb.executed);
}

// Every `interval` instructions of every coroutine (each has its own count, inherited from the
// coroutine that created it).
inline void hook(lua_State* L, lua_Debug*) noexcept {
  sandbox& sb = sandbox_of(L);
  if (reached_limit(L, sb, static_cast<std::uint64_t>(lua_gethookcount(L)), 0))
    raise_limit(L, sb, 0);
}

// Units for `bytes` bytes of reading or writing (rounded up: any work costs something).
constexpr std::uint64_t byte_units(std::uint64_t bytes) noexcept {
  return bytes / bytes_per_unit + (bytes % bytes_per_unit != 0 ? 1 : 0);
}

// ---------------------------------------------------------------------------------------------
// Positions as Lua's string functions read them (reference manual §6.4: negative positions count
// from the end).

// A start position, 1-based: 0 and anything before the start mean 1; may lie past the end.
constexpr std::size_t start_position(lua_Integer pos, std::size_t len) noexcept {
  if (pos > 0) return static_cast<std::size_t>(pos);
  if (pos == 0 || pos < -static_cast<lua_Integer>(len)) return 1;
  return static_cast<std::size_t>(static_cast<lua_Integer>(len) + pos + 1);
}

// An end position, 1-based, clipped to 0..len (0: before the first byte).
constexpr std::size_t end_position(lua_Integer pos, std::size_t len) noexcept {
  if (pos > static_cast<lua_Integer>(len)) return len;
  if (pos >= 0) return static_cast<std::size_t>(pos);
  if (pos < -static_cast<lua_Integer>(len)) return 0;
  return static_cast<std::size_t>(static_cast<lua_Integer>(len) + pos + 1);
}

}  // namespace detail
}  // namespace logline::runtime
