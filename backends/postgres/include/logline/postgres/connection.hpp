#pragma once
// A libpq connection for logline: RAII handles, text-format parameters, statements prepared once
// per connection, pipelines (several statements in one round trip), COPY, and the mapping of
// PostgreSQL errors (SQLSTATE) to logline::errc.
#include <libpq-fe.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "logline/error.hpp"

namespace logline::postgres {

// An owned PGresult.
class pg_result {
 public:
  pg_result() = default;
  explicit pg_result(PGresult* r) noexcept : r_(r) {}
  pg_result(pg_result&& o) noexcept : r_(std::exchange(o.r_, nullptr)) {}
  pg_result& operator=(pg_result&& o) noexcept {
    if (this != &o) {
      if (r_) PQclear(r_);
      r_ = std::exchange(o.r_, nullptr);
    }
    return *this;
  }
  ~pg_result() {
    if (r_) PQclear(r_);
  }
  PGresult* get() const noexcept { return r_; }
  int rows() const noexcept { return r_ ? PQntuples(r_) : 0; }
  bool is_null(int row, int col) const noexcept { return PQgetisnull(r_, row, col) != 0; }
  std::string_view text(int row, int col) const noexcept {
    return {PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col))};
  }
  std::int64_t integer(int row, int col) const noexcept {
    return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
  }

 private:
  PGresult* r_ = nullptr;
};

// Text-format parameters ($1, $2, ...). A null is a missing value.
class params {
 public:
  params& add(std::string_view v) {
    values_.emplace_back(v);
    null_.push_back(0);
    return *this;
  }
  params& add(const std::string& v) { return add(std::string_view(v)); }
  params& add(const char* v) { return add(std::string_view(v)); }
  params& add(std::int64_t v) { return add(std::string_view(std::to_string(v))); }
  params& add(const std::optional<std::string>& v) {
    return v ? add(std::string_view(*v)) : add_null();
  }
  params& add_null() {
    values_.emplace_back();
    null_.push_back(1);
    return *this;
  }
  std::size_t size() const noexcept { return values_.size(); }
  bool empty() const noexcept { return values_.empty(); }
  void clear() noexcept {
    values_.clear();
    null_.clear();
  }
  // The pointers libpq takes (valid until the next change).
  const char* const* pointers() const {
    pointers_.resize(values_.size());
    for (std::size_t i = 0; i < values_.size(); ++i)
      pointers_[i] = null_[i] ? nullptr : values_[i].c_str();
    return pointers_.data();
  }
  const std::string& value(std::size_t i) const noexcept { return values_[i]; }
  bool is_null(std::size_t i) const noexcept { return null_[i] != 0; }

 private:
  std::vector<std::string> values_;
  std::vector<char> null_;
  mutable std::vector<const char*> pointers_;
};

// SQLSTATEs as std::error_code, for logline::error::native(): the five characters [0-9A-Z] read as
// a base-36 number, so that codes compare as numbers and print as themselves.
inline int sqlstate_number(std::string_view state) noexcept {
  int n = 0;
  for (char c : state.substr(0, 5))
    n = n * 36 + (c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 0);
  return n;
}
inline std::string sqlstate_text(int n) {
  std::string s(5, '0');
  for (int i = 4; i >= 0; --i, n /= 36)
    s[static_cast<std::size_t>(i)] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[n % 36];
  return s;
}
namespace detail {
class sqlstate_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlstate"; }
  std::string message(int code) const override { return "SQLSTATE " + sqlstate_text(code); }
};
}  // namespace detail
inline const std::error_category& sqlstate_category() noexcept {
  static const detail::sqlstate_category_impl category;
  return category;
}
inline std::error_code sqlstate_code(std::string_view state) noexcept {
  return {sqlstate_number(state), sqlstate_category()};
}

// The errc for a SQLSTATE (PostgreSQL Appendix A).
inline errc errc_of_sqlstate(std::string_view state) {
  if (state == "23505") return errc::version_conflict;   // unique_violation
  if (state == "42501") return errc::permission_denied;  // insufficient_privilege (incl. RLS)
  if (state == "40001" || state == "40P01" || state == "55P03" || state == "57014")
    return errc::busy;  // serialization, deadlock, lock, cancel
  if (state.substr(0, 2) == "08" || state.substr(0, 3) == "57P" || state.substr(0, 2) == "53")
    return errc::busy;  // connection, shutdown, resources
  if (state.substr(0, 2) == "22" || state == "23514" || state == "23502")
    return errc::invalid_span;  // data exception, check, not null
  return errc::storage_error;
}

// One connection. Not thread-safe: the pool hands it to one thread at a time.
class connection {
 public:
  static result<std::unique_ptr<connection>> open(const std::string& conninfo) {
    std::unique_ptr<connection> c(new connection());
    c->conn_ = PQconnectdb(conninfo.c_str());
    if (!c->conn_)
      return make_error(errc::busy, "PostgreSQL: out of memory connecting").mark_from_storage();
    if (PQstatus(c->conn_) != CONNECTION_OK) {
      std::string msg = PQerrorMessage(c->conn_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
      return make_error(errc::busy, "cannot connect to PostgreSQL: " + msg)
          .mark_from_storage();  // host, role, server's words
    }
    PQsetNoticeProcessor(
        c->conn_, [](void*, const char*) {}, nullptr);  // IF NOT EXISTS notices
    return c;
  }
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;
  ~connection() {
    if (conn_) PQfinish(conn_);
  }

  PGconn* handle() const noexcept { return conn_; }
  bool broken() const noexcept { return PQstatus(conn_) != CONNECTION_OK; }
  bool idle() const noexcept { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  int backend_pid() const noexcept { return PQbackendPID(conn_); }

  // An error from a failed result (or the connection when r is null), with SQLSTATE, detail and
  // the COPY/INSERT context PostgreSQL gives.
  error_info error_of(const PGresult* r, std::string_view what) const {
    std::string state, msg, detail;
    if (r) {
      if (const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE)) state = s;
      if (const char* m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY)) msg = m;
      if (const char* d = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL)) detail = d;
    }
    if (msg.empty()) {
      msg = PQerrorMessage(conn_);
      while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    }
    if (msg.empty()) msg = "unknown error";
    const errc kind =
        state.empty() ? (broken() ? errc::busy : errc::storage_error) : errc_of_sqlstate(state);
    std::string text = std::string(what) + ": " + msg;
    if (!detail.empty()) text += " (" + detail + ")";
    if (!state.empty()) text += " [SQLSTATE " + state + "]";
    error_info e = make_error(kind, text).mark_from_storage();
    if (state.size() == 5) e.with_native(sqlstate_code(state));
    return e;
  }
  static std::string context_of(const PGresult* r) {
    const char* c = r ? PQresultErrorField(r, PG_DIAG_CONTEXT) : nullptr;
    return c ? c : "";
  }

  // Runs SQL text (simple protocol: several statements allowed, no parameters).
  result<void> exec(const std::string& sql, std::string_view what = "PostgreSQL") {
    pg_result r(PQexec(conn_, sql.c_str()));
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error_of(r.get(), what);
    return {};
  }

  // Runs a statement prepared once per connection (named by a counter), with text parameters.
  result<pg_result> query(const std::string& sql, const params& p = {},
                          std::string_view what = "PostgreSQL") {
    LOGLINE_TRY(statement_name, prepared(sql));
    pg_result r(PQexecPrepared(conn_, statement_name->c_str(), static_cast<int>(p.size()),
                               p.pointers(), nullptr, nullptr, 0));
    return checked(std::move(r), what);
  }
  // Runs a statement without preparing it (SQL that is rarely the same twice).
  result<pg_result> query_once(const std::string& sql, const params& p = {},
                               std::string_view what = "PostgreSQL") {
    pg_result r(PQexecParams(conn_, sql.c_str(), static_cast<int>(p.size()), nullptr, p.pointers(),
                             nullptr, nullptr, 0));
    return checked(std::move(r), what);
  }

  // Statements sent together and answered in one round trip (libpq pipeline mode). Outside an
  // explicit transaction they form one implicit transaction. Returns each statement's result;
  // the first failure is the error (later statements were not run).
  struct step {
    const std::string* sql;
    const params* p;
  };
  result<std::vector<pg_result>> pipeline(const std::vector<step>& steps,
                                          std::string_view what = "PostgreSQL") {
    for (const auto& s : steps) LOGLINE_TRY_VOID(prepared(*s.sql));
    if (PQenterPipelineMode(conn_) != 1) return error_of(nullptr, what);
    bool sent = true;
    for (const auto& s : steps) {
      const std::string& name = statements_.find(*s.sql)->second;
      if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(s.p->size()), s.p->pointers(),
                              nullptr, nullptr, 0) != 1) {
        sent = false;
        break;
      }
    }
    if (!sent || PQpipelineSync(conn_) != 1) {
      auto e = error_of(nullptr, what);
      drain_pipeline();
      return e;
    }
    std::vector<pg_result> out;
    std::optional<error_info> failure;
    for (std::size_t i = 0; i < steps.size(); ++i) {
      pg_result r(PQgetResult(conn_));
      if (!r.get()) {
        if (!failure) failure = error_of(nullptr, what);
        break;
      }
      const auto st = PQresultStatus(r.get());
      if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        if (!failure && st != PGRES_PIPELINE_ABORTED) failure = error_of(r.get(), what);
      }
      pg_result end(PQgetResult(conn_));  // null: end of this statement's results
      out.push_back(std::move(r));
    }
    drain_pipeline();
    if (failure) return *failure;
    if (out.size() != steps.size()) return error_of(nullptr, what);
    return out;
  }

  // COPY table (columns) FROM STDIN with the given text-format data.
  result<void> copy_in(const std::string& copy_sql, std::string_view data, std::string_view what,
                       std::string* context = nullptr) {
    pg_result start(PQexec(conn_, copy_sql.c_str()));
    if (PQresultStatus(start.get()) != PGRES_COPY_IN) return error_of(start.get(), what);
    constexpr std::size_t chunk = 1 << 18;
    bool ok = true;
    for (std::size_t at = 0; at < data.size() && ok; at += chunk) {
      const auto n = std::min(chunk, data.size() - at);
      ok = PQputCopyData(conn_, data.data() + at, static_cast<int>(n)) == 1;
    }
    if (PQputCopyEnd(conn_, ok ? nullptr : "logline: sending COPY data failed") != 1)
      return error_of(nullptr, what);
    pg_result r(PQgetResult(conn_));
    for (pg_result extra(PQgetResult(conn_)); extra.get(); extra = pg_result(PQgetResult(conn_))) {
    }
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
      if (context) *context = context_of(r.get());
      return error_of(r.get(), what);
    }
    return {};
  }

 private:
  connection() = default;

  result<const std::string*> prepared(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return &it->second;
    std::string name = "logline_" + std::to_string(statements_.size() + 1);
    pg_result r(PQprepare(conn_, name.c_str(), sql.c_str(), 0, nullptr));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      return error_of(r.get(),
                      "preparing '" + sql.substr(0, 100) + (sql.size() > 100 ? "…'" : "'"));
    return &statements_.emplace(sql, std::move(name)).first->second;
  }

  result<pg_result> checked(pg_result r, std::string_view what) const {
    const auto st = PQresultStatus(r.get());
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return error_of(r.get(), what);
    return r;
  }

  void drain_pipeline() {
    // Read everything up to and including the sync, then leave pipeline mode.
    for (int guard = 0; guard < 100000; ++guard) {
      pg_result r(PQgetResult(conn_));
      if (!r.get()) {
        if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF || broken()) break;
        if (PQexitPipelineMode(conn_) == 1) break;
        continue;
      }
      if (PQresultStatus(r.get()) == PGRES_PIPELINE_SYNC) {
        PQexitPipelineMode(conn_);
        break;
      }
    }
    if (PQpipelineStatus(conn_) != PQ_PIPELINE_OFF) PQexitPipelineMode(conn_);
  }

  PGconn* conn_ = nullptr;
  std::unordered_map<std::string, std::string> statements_;
};

}  // namespace logline::postgres
