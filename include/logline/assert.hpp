#pragma once
// LOGLINE_ASSERT stays on in release builds. A broken invariant around the chain is never
// something to continue from: the default handler prints the failed condition and aborts.
// Users may install their own handler (it must not return).
#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace logline {

using assert_handler = void (*)(const char* condition, const char* file, int line,
                                const char* message);

namespace detail {
[[noreturn]] inline void default_assert_handler(const char* condition, const char* file, int line,
                                                const char* message) {
  std::fprintf(stderr, "logline: assertion failed: %s (%s) at %s:%d\n", message, condition, file,
               line);
  std::abort();
}
inline std::atomic<assert_handler>& assert_handler_slot() {
  static std::atomic<assert_handler> slot{&default_assert_handler};
  return slot;
}
[[noreturn]] inline void assert_failed(const char* condition, const char* file, int line,
                                       const char* message) {
  assert_handler_slot().load()(condition, file, line, message);
  std::abort();  // a handler that returns still stops the program
}
}  // namespace detail

// Installs a handler and returns the previous one.
inline assert_handler set_assert_handler(assert_handler handler) noexcept {
  return detail::assert_handler_slot().exchange(handler ? handler
                                                        : &detail::default_assert_handler);
}

}  // namespace logline

#define LOGLINE_ASSERT(condition, message)                                       \
  do {                                                                           \
    if (!(condition)) [[unlikely]]                                               \
      ::logline::detail::assert_failed(#condition, __FILE__, __LINE__, message); \
  } while (false)
