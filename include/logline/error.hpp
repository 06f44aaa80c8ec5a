#pragma once
// Operating errors are values: logline::result<T> holds a T or an error (a std::error_code plus a
// human sentence). It has std::expected's shape and converts implicitly from std::error_code and
// from logline::errc, so `return r.error();` and `return errc::not_found;` both work.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace logline {

enum class errc {
  invalid_span = 1,       // malformed span: wrong type, missing field, bad value, unknown key
  invalid_json,           // not JSON, or not I-JSON (duplicate key, invalid UTF-8, U+0000, lossy number)
  not_found,              // no such span (or not visible to this identity)
  version_conflict,       // (id, seq) already exists, or seq is not the next version
  permission_denied,      // the identity may not write this span
  integrity_violation,    // a stored span failed its hash, link or signature check on read
  bad_signature,          // a signature that does not verify
  unknown_key,            // a public key that is not trusted
  too_large,              // a body, batch or value over its limit
  storage_error,          // the backend failed (I/O, corruption, constraint)
  busy,                   // the backend is locked or unreachable; retry later
  invalid_key,            // a signing key that cannot be read or parsed
  invalid_argument,       // an API argument out of range (limit, cursor, option)
  execution_failed,       // user code (a Lua function or policy) failed: syntax or runtime error
  limit_exceeded,         // user code ran out of its instruction budget, memory or time
  policy_violation,       // the runtime refused a run: over the tenant's daily quota
};

namespace detail {
class logline_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "logline"; }
  std::string message(int code) const override {
    switch (static_cast<errc>(code)) {
      case errc::invalid_span: return "invalid span";
      case errc::invalid_json: return "invalid JSON";
      case errc::not_found: return "not found";
      case errc::version_conflict: return "version conflict";
      case errc::permission_denied: return "permission denied";
      case errc::integrity_violation: return "integrity violation";
      case errc::bad_signature: return "bad signature";
      case errc::unknown_key: return "unknown key";
      case errc::too_large: return "too large";
      case errc::storage_error: return "storage error";
      case errc::busy: return "busy";
      case errc::invalid_key: return "invalid key";
      case errc::invalid_argument: return "invalid argument";
      case errc::execution_failed: return "execution failed";
      case errc::limit_exceeded: return "limit exceeded";
      case errc::policy_violation: return "policy violation";
    }
    return "unknown logline error";
  }
};
}  // namespace detail

inline const std::error_category& logline_category() noexcept {
  static const detail::logline_category_impl category;
  return category;
}
inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), logline_category()}; }

}  // namespace logline

template <>
struct std::is_error_code_enum<logline::errc> : std::true_type {};

namespace logline {

// An error: a code to branch on and a message for people.
class error_info {
 public:
  error_info() = default;
  error_info(std::error_code code) : code_(code) {}                      // NOLINT: implicit by design
  error_info(errc code) : code_(make_error_code(code)) {}                // NOLINT
  error_info(std::error_code code, std::string message) : code_(code), message_(std::move(message)) {}
  error_info(errc code, std::string message) : code_(make_error_code(code)), message_(std::move(message)) {}

  const std::error_code& code() const noexcept { return code_; }
  // The detailed sentence if there is one, else the code's generic message.
  std::string message() const { return message_.empty() ? code_.message() : message_; }
  bool operator==(errc e) const noexcept { return code_ == make_error_code(e); }
  bool operator==(const std::error_code& c) const noexcept { return code_ == c; }

  // Whether the message quotes the storage engine (a driver message, a SQLSTATE, a constraint
  // name): fine for the operator's logs and tools, never for a remote client, who gets a generic
  // sentence instead (logline::http).
  bool from_storage() const noexcept { return from_storage_; }
  error_info& mark_from_storage() noexcept {
    from_storage_ = true;
    return *this;
  }

 private:
  std::error_code code_;
  std::string message_;
  bool from_storage_ = false;
};

// Thrown by result<T>::value() when it holds an error.
class error : public std::runtime_error {
 public:
  explicit error(error_info info) : std::runtime_error(info.message()), info_(std::move(info)) {}
  const error_info& info() const noexcept { return info_; }
  const std::error_code& code() const noexcept { return info_.code(); }

 private:
  error_info info_;
};

template <class T>
class [[nodiscard]] result {
 public:
  using value_type = T;
  using error_type = error_info;

  result() requires std::is_default_constructible_v<T> : state_(std::in_place_index<0>) {}
  template <class U = T>
    requires(std::is_constructible_v<T, U &&> && !std::is_same_v<std::remove_cvref_t<U>, result> &&
             !std::is_convertible_v<U &&, error_info>)
  result(U&& value) : state_(std::in_place_index<0>, std::forward<U>(value)) {}  // NOLINT
  result(error_info e) : state_(std::in_place_index<1>, std::move(e)) {}        // NOLINT
  result(std::error_code e) : state_(std::in_place_index<1>, error_info(e)) {}  // NOLINT
  result(errc e) : state_(std::in_place_index<1>, error_info(e)) {}             // NOLINT

  bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { check(); return std::get<0>(state_); }
  const T& value() const& { check(); return std::get<0>(state_); }
  // By value on rvalues, so `for (auto& x : f().value())` does not dangle.
  T value() && { check(); return std::get<0>(std::move(state_)); }
  T& operator*() & noexcept { return *std::get_if<0>(&state_); }
  const T& operator*() const& noexcept { return *std::get_if<0>(&state_); }
  T&& operator*() && noexcept { return std::move(*std::get_if<0>(&state_)); }
  T* operator->() noexcept { return std::get_if<0>(&state_); }
  const T* operator->() const noexcept { return std::get_if<0>(&state_); }
  const error_info& error() const& noexcept { return *std::get_if<1>(&state_); }
  error_info&& error() && noexcept { return std::move(*std::get_if<1>(&state_)); }

 private:
  void check() const {
    if (!has_value()) throw logline::error(std::get<1>(state_));
  }
  std::variant<T, error_info> state_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  using value_type = void;
  using error_type = error_info;
  result() = default;
  result(error_info e) : error_(std::move(e)), failed_(true) {}                // NOLINT
  result(std::error_code e) : error_(e), failed_(true) {}                      // NOLINT
  result(errc e) : error_(e), failed_(true) {}                                 // NOLINT
  bool has_value() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return !failed_; }
  void value() const {
    if (failed_) throw logline::error(error_);
  }
  const error_info& error() const& noexcept { return error_; }
  error_info&& error() && noexcept { return std::move(error_); }

 private:
  error_info error_;
  bool failed_ = false;
};

// The same error with a prefix on its message ("span #3 of the batch: ...").
inline error_info with_context(const error_info& e, std::string_view prefix) {
  error_info out{e.code(), std::string(prefix) + e.message()};
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
#define LOGLINE_TRY_VOID(expr)                       \
  do {                                               \
    if (auto logline_try_r_ = (expr); !logline_try_r_) \
      return std::move(logline_try_r_).error();      \
  } while (false)
