#pragma once
// Operating errors are values: logline::result<T> holds a T or an error (a std::error_code plus a
// human sentence). It has std::expected's shape and converts implicitly from std::error_code and
// from logline::errc, so `return r.error();` and `return errc::not_found;` both work.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace logline {

enum class errc {
  invalid_span = 1,  // malformed span: wrong type, missing field, bad value, unknown key
  invalid_json,      // not JSON, or not I-JSON (duplicate key, invalid UTF-8, U+0000, lossy number)
  not_found,         // no such span (or not visible to this identity)
  version_conflict,  // (id, seq) already exists, or seq is not the next version
  permission_denied,    // the identity may not write this span
  integrity_violation,  // a stored span failed its hash, link or signature check on read
  bad_signature,        // a signature that does not verify
  unknown_key,          // a public key that is not trusted
  too_large,            // a body, batch or value over its limit
  storage_error,        // the backend failed (I/O, corruption, constraint)
  busy,                 // the backend is locked or unreachable; retry later
  invalid_key,          // a signing key that cannot be read or parsed
  invalid_argument,     // an API argument out of range (limit, cursor, option)
  execution_failed,     // user code (a Lua function or policy) failed: syntax or runtime error
  limit_exceeded,       // user code ran out of its instruction budget, memory or time
  policy_violation,     // the runtime refused a run: over the tenant's daily quota
};

// Every error kind once: its name (the `code` an execution's error and an HTTP error body give
// it) and its sentence (the std::error_code message).
struct errc_entry {
  errc code;
  std::string_view name, text;
};
inline constexpr errc_entry errc_table[] = {
    {errc::invalid_span, "invalid_span", "invalid span"},
    {errc::invalid_json, "invalid_json", "invalid JSON"},
    {errc::not_found, "not_found", "not found"},
    {errc::version_conflict, "version_conflict", "version conflict"},
    {errc::permission_denied, "permission_denied", "permission denied"},
    {errc::integrity_violation, "integrity_violation", "integrity violation"},
    {errc::bad_signature, "bad_signature", "bad signature"},
    {errc::unknown_key, "unknown_key", "unknown key"},
    {errc::too_large, "too_large", "too large"},
    {errc::storage_error, "storage_error", "storage error"},
    {errc::busy, "busy", "busy"},
    {errc::invalid_key, "invalid_key", "invalid key"},
    {errc::invalid_argument, "invalid_argument", "invalid argument"},
    {errc::execution_failed, "execution_failed", "execution failed"},
    {errc::limit_exceeded, "limit_exceeded", "limit exceeded"},
    {errc::policy_violation, "policy_violation", "policy violation"},
};
constexpr bool errc_table_complete() {
  for (std::size_t i = 0; i < std::size(errc_table); ++i)
    if (static_cast<std::size_t>(errc_table[i].code) != i + 1) return false;
  return std::size(errc_table) == static_cast<std::size_t>(errc::policy_violation);
}
static_assert(errc_table_complete(),
              "errc_table names every errc, in the enum's order: add the new one");

// The table's entry of an error code; null for a value that is no errc.
constexpr const errc_entry* errc_entry_of(int code) noexcept {
  return code >= 1 && static_cast<std::size_t>(code) <= std::size(errc_table)
             ? &errc_table[code - 1]
             : nullptr;
}

// The identifier of an error kind ("limit_exceeded"); "unknown" for a value that is no errc.
constexpr std::string_view name(errc e) noexcept {
  const errc_entry* entry = errc_entry_of(static_cast<int>(e));
  return entry ? entry->name : std::string_view("unknown");
}

namespace detail {
class logline_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "logline"; }
  std::string message(int code) const override {
    const errc_entry* entry = errc_entry_of(code);
    return entry ? std::string(entry->text) : "unknown logline error";
  }
};
}  // namespace detail

inline const std::error_category& logline_category() noexcept {
  static const detail::logline_category_impl category;
  return category;
}
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), logline_category()};
}

}  // namespace logline

template <>
struct std::is_error_code_enum<logline::errc> : std::true_type {};

namespace logline {

// An error: a code to branch on, a message for people, and -- when a storage engine reported
// it -- the engine's own code (`native()`: a SQLite extended result code in sqlite_category(),
// a PostgreSQL SQLSTATE in sqlstate_category()), so that a caller can tell a unique violation
// from a full disk without parsing text. result<T>::error() returns one; value() throws
// logline::bad_result_access, which is one too (`catch (const logline::error& e)` catches it).
class error {
 public:
  error() = default;
  error(std::error_code code) : code_(code) {}        // NOLINT: implicit by design
  error(errc code) : code_(make_error_code(code)) {}  // NOLINT
  error(std::error_code code, std::string message) : code_(code), message_(std::move(message)) {}
  error(errc code, std::string message)
      : code_(make_error_code(code)), message_(std::move(message)) {}

  const std::error_code& code() const noexcept { return code_; }
  // The detailed sentence if there is one, else the code's generic message.
  std::string message() const { return message_.empty() ? code_.message() : message_; }
  bool operator==(errc e) const noexcept { return code_ == make_error_code(e); }
  bool operator==(const std::error_code& c) const noexcept { return code_ == c; }

  // The storage engine's own code for this error, if it came from one.
  const std::optional<std::error_code>& native() const noexcept { return native_; }
  error& with_native(std::error_code code) noexcept {
    native_ = code;
    return *this;
  }

  // Whether the message quotes the storage engine (a driver message, a SQLSTATE, a constraint
  // name): fine for the operator's logs and tools, never for a remote client, who gets a generic
  // sentence instead (logline::http).
  bool from_storage() const noexcept { return from_storage_; }
  error& mark_from_storage() noexcept {
    from_storage_ = true;
    return *this;
  }

 private:
  std::error_code code_;
  std::string message_;
  std::optional<std::error_code> native_;
  bool from_storage_ = false;
};

// The name the library used for logline::error before there was one error type.
using error_info = error;

// Thrown by result<T>::value() when it holds an error: the error itself, and a std::exception.
class bad_result_access : public std::runtime_error, public error {
 public:
  explicit bad_result_access(const logline::error& e) : std::runtime_error(e.message()), error(e) {}
  const logline::error& info() const noexcept { return *this; }
};

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = error_info;

  result() requires std::is_default_constructible_v<T> : state_(std::in_place_index<0>) {}
  template <class U = T>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, result> &&
           !std::is_convertible_v<U&&, error_info>) result(U&& value)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}               // NOLINT
  result(error_info e) : state_(std::in_place_index<1>, std::move(e)) {}        // NOLINT
  result(std::error_code e) : state_(std::in_place_index<1>, error_info(e)) {}  // NOLINT
  result(errc e) : state_(std::in_place_index<1>, error_info(e)) {}             // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check();
    return std::get<0>(state_);
  }
  const T& value() const& {
    check();
    return std::get<0>(state_);
  }
  // By value on rvalues, so `for (auto& x : f().value())` does not dangle.
  T value() && {
    check();
    return std::get<0>(std::move(state_));
  }
  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }
  const error_info& error() const& noexcept { return *std::get_if<1>(&state_); }
  error_info&& error() && noexcept { return std::move(*std::get_if<1>(&state_)); }

  // std::expected's monadic members.
  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? **this : static_cast<T>(std::forward<U>(fallback));
  }
  template <class U>
  T value_or(U&& fallback) && {
    return has_value() ? std::move(**this) : static_cast<T>(std::forward<U>(fallback));
  }
  // f(value) -> result<U>: called with the value; an error passes through.
  template <class F>
  auto and_then(F&& f) const& {
    return chain(*this, std::forward<F>(f));
  }
  template <class F>
  auto and_then(F&& f) && {
    return chain(std::move(*this), std::forward<F>(f));
  }
  // f(value) -> U: result<U> of its value; an error passes through.
  template <class F>
  auto transform(F&& f) const& {
    return map(*this, std::forward<F>(f));
  }
  template <class F>
  auto transform(F&& f) && {
    return map(std::move(*this), std::forward<F>(f));
  }
  // f(error) -> result<T>: called with the error (to recover or replace it); a value passes through.
  template <class F>
  result or_else(F&& f) const& {
    return has_value() ? *this : result(std::forward<F>(f)(error()));
  }
  template <class F>
  result or_else(F&& f) && {
    return has_value() ? std::move(*this) : result(std::forward<F>(f)(std::move(*this).error()));
  }

 private:
  template <class Self, class F>
  static auto chain(Self&& self, F&& f) {
    using R = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
    if (!self) return R(std::forward<Self>(self).error());
    return std::forward<F>(f)(*std::forward<Self>(self));
  }
  template <class Self, class F>
  static auto map(Self&& self, F&& f) {
    using U = std::remove_cvref_t<std::invoke_result_t<F, decltype(*std::forward<Self>(self))>>;
    if (!self) return result<U>(std::forward<Self>(self).error());
    if constexpr (std::is_void_v<U>) {
      std::forward<F>(f)(*std::forward<Self>(self));
      return result<U>();
    } else {
      return result<U>(std::forward<F>(f)(*std::forward<Self>(self)));
    }
  }
  void check() const {
    if (!has_value()) throw bad_result_access(std::get<1>(state_));
  }
  std::variant<T, error_info> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  using error_type = error_info;
  result() = default;
  result(error_info e) : error_(std::move(e)), failed_(true) {}  // NOLINT
  result(std::error_code e) : error_(e), failed_(true) {}        // NOLINT
  result(errc e) : error_(e), failed_(true) {}                   // NOLINT
  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return !failed_; }
  void value() const {
    if (failed_) throw bad_result_access(error_);
  }
  const error_info& error() const& noexcept { return error_; }
  error_info&& error() && noexcept { return std::move(error_); }

  // f() -> result<U> after success; an error passes through.
  template <class F>
  auto and_then(F&& f) const {
    using R = std::remove_cvref_t<std::invoke_result_t<F>>;
    if (failed_) return R(error_);
    return std::forward<F>(f)();
  }
  // f() -> U after success: result<U> of its value; an error passes through.
  template <class F>
  auto transform(F&& f) const {
    using U = std::remove_cvref_t<std::invoke_result_t<F>>;
    if (failed_) return result<U>(error_);
    if constexpr (std::is_void_v<U>) {
      std::forward<F>(f)();
      return result<U>();
    } else {
      return result<U>(std::forward<F>(f)());
    }
  }
  // f(error) -> result<void>: called with the error; success passes through.
  template <class F>
  result or_else(F&& f) const {
    if (!failed_) return *this;
    return std::forward<F>(f)(error_);
  }

 private:
  error_info error_;
  bool failed_ = false;
};

// The same error with a prefix on its message ("span #3 of the batch: ...").
inline error_info with_context(const error_info& e, std::string_view prefix) {
  error_info out{e.code(), std::string(prefix) + e.message()};
  if (e.native()) out.with_native(*e.native());
  if (e.from_storage()) out.mark_from_storage();
  return out;
}

// Shorthand for returning a detailed error.
inline error_info make_error(errc code, std::string message) { return {code, std::move(message)}; }

// What a remote client, or a record a user can read, may say of an error: its message, or for
// one that quotes the storage engine (from_storage), a sentence of its kind. The engine's words
// (table, constraint and role names, SQLSTATEs) belong in the operator's log.
inline std::string public_message(const error_info& e) {
  if (!e.from_storage()) return e.message();
  if (e == errc::busy) return "the database is busy; try again";
  if (e == errc::version_conflict) return "the span takes a key that is already taken";
  if (e == errc::permission_denied) return "the database refused the write";
  if (e == errc::invalid_span) return "the span breaks a rule of the table";
  return "the storage failed; the operator's log has the details";
}

}  // namespace logline

// Propagate an error from an expression returning result<...>.
#define LOGLINE_TRY_VOID(expr)                                                                   \
  do {                                                                                           \
    if (auto logline_try_r_ = (expr); !logline_try_r_) return std::move(logline_try_r_).error(); \
  } while (false)

// Declares `var` with the value of an expression returning result<T>, or returns its error:
//   LOGLINE_TRY(page, store.timeline(q, who));  // page is the timeline_page
// It expands to several statements: use it where a declaration may stand, not as the body of an
// if without braces.
#define LOGLINE_TRY(var, expr)                                         \
  auto logline_try_##var = (expr);                                     \
  if (!logline_try_##var) return std::move(logline_try_##var).error(); \
  auto var = std::move(*logline_try_##var)
