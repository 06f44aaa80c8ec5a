#pragma once
// A SQLite connection for logline: RAII handle, statements, binding, change notification.
// SQLite errors become logline::errc values (busy, storage_error, ...) carrying SQLite's message.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "logline/detail/commit_signal.hpp"
#include "logline/error.hpp"
#include "logline/schema.hpp"

namespace logline::sqlite {

// SQLite's result codes as std::error_code, for logline::error::native(): the extended result
// code (SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_BUSY_SNAPSHOT, ...); `code & 0xff` is the primary.
namespace detail {
class sqlite_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sqlite"; }
  std::string message(int code) const override { return sqlite3_errstr(code); }
};
}  // namespace detail
inline const std::error_category& sqlite_category() noexcept {
  static const detail::sqlite_category_impl category;
  return category;
}
inline std::error_code sqlite_error_code(int rc) noexcept { return {rc, sqlite_category()}; }

namespace detail {
// An SQL identifier in double quotes. logline's own names are C++ identifiers; a name read from
// a file (recorded.hpp) is checked to be one too, and a double quote is doubled regardless.
inline std::string quote(std::string_view name) {
  std::string q = "\"";
  for (char c : name) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}
}  // namespace detail

// Durability of commits. full: every commit is on disk when append returns (the default:
// nothing acknowledged is lost, even on power failure). normal: WAL without fsync per commit
// (survives a process crash, may lose the last commits on power loss).
enum class durability { full, normal };

struct open_options {
  durability sync = durability::full;
  std::chrono::milliseconds busy_timeout{5000};
  bool read_only = false;
  // With read_only: read the file as one nothing writes while it is open (SQLite's `immutable`
  // URI parameter): no locks, and no -wal or -shm file is created beside it, so a copy on
  // read-only media or in a read-only directory opens, and verifying a copy leaves nothing
  // behind. Only for a file no process has open for writing (a WAL database being written
  // always has its -wal file; logline-cli uses this when there is none).
  bool immutable = false;
  // Page cache of this connection, in KiB (SQLite's default is 2 MiB): appends touch index pages
  // all over the table, and pages that fall out of the cache are read back with pread.
  std::int64_t cache_kib = 64 * 1024;
  // Reads through a memory map of up to this many bytes (address space, not memory).
  std::int64_t mmap_bytes = std::int64_t{1} << 30;
  // WAL pages before an automatic checkpoint (SQLite's default is 1000): fewer, larger
  // checkpoints, each with its fsync. Durability is set by `sync` alone. The commit that crosses
  // the threshold runs the checkpoint: 10000 favours throughput (batched appends 46 k/s against
  // 31 k/s at 1000), 1000 bounds a writer's worst stall (single appends at 2000/s over HTTP:
  // p99 6-8 ms against 37-39 ms), which is what logline-server uses.
  int wal_autocheckpoint_pages = 10000;
  // Read-only connections a ledger opens beside this one for its reads (get, history, timeline,
  // changes), so that readers run in parallel with each other and with the writer (WAL).
  // File databases only; 0 reads on this connection.
  unsigned read_readers = 2;
};

// The PRAGMAs database::open applies for these options (besides journal_mode and synchronous);
// the raw-SQLite benchmarks apply the same, so that they measure the same engine settings.
inline std::string tuning_pragmas(const open_options& o) {
  return "PRAGMA cache_size = -" + std::to_string(o.cache_kib) +
         "; PRAGMA mmap_size = " + std::to_string(o.mmap_bytes) +
         "; PRAGMA wal_autocheckpoint = " + std::to_string(o.wal_autocheckpoint_pages) + ";";
}

class statement {
 public:
  statement() = default;
  explicit statement(sqlite3_stmt* s) noexcept : stmt_(s) {}
  statement(statement&& o) noexcept : stmt_(std::exchange(o.stmt_, nullptr)) {}
  statement& operator=(statement&& o) noexcept {
    if (this != &o) {
      if (stmt_) sqlite3_finalize(stmt_);
      stmt_ = std::exchange(o.stmt_, nullptr);
    }
    return *this;
  }
  ~statement() {
    if (stmt_) sqlite3_finalize(stmt_);
  }
  sqlite3_stmt* get() const noexcept { return stmt_; }
  explicit operator bool() const noexcept { return stmt_ != nullptr; }
  void reset() noexcept {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

// Binds values to consecutive parameters starting at 1.
class binder final : public value_sink {
 public:
  explicit binder(sqlite3_stmt* s, int first = 1) noexcept : stmt_(s), index_(first) {}
  void null() override { check(sqlite3_bind_null(stmt_, index_++)); }
  void integer(std::int64_t v) override { check(sqlite3_bind_int64(stmt_, index_++, v)); }
  void real(double v) override { check(sqlite3_bind_double(stmt_, index_++, v)); }
  void text(std::string_view v) override {
    check(sqlite3_bind_text64(stmt_, index_++, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  int index() const noexcept { return index_; }
  int status() const noexcept { return status_; }

 private:
  void check(int rc) noexcept {
    if (rc != SQLITE_OK && status_ == SQLITE_OK) status_ = rc;
  }
  sqlite3_stmt* stmt_;
  int index_;
  int status_ = SQLITE_OK;
};

// Reads one column of the current row.
class column_reader final : public value_source {
 public:
  column_reader(sqlite3_stmt* s, int column) noexcept : stmt_(s), column_(column) {}
  void at(int column) noexcept { column_ = column; }
  bool is_null() override { return sqlite3_column_type(stmt_, column_) == SQLITE_NULL; }
  bool is_integer() override { return sqlite3_column_type(stmt_, column_) == SQLITE_INTEGER; }
  std::int64_t integer() override { return sqlite3_column_int64(stmt_, column_); }
  double real() override { return sqlite3_column_double(stmt_, column_); }
  // The stored bytes. sqlite3_column_blob hands out TEXT without making a NUL-terminated copy
  // (sqlite3_column_text would copy every value); the view is valid until the next step.
  std::string_view text() override {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, column_));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column_)))
             : std::string_view();
  }

 private:
  sqlite3_stmt* stmt_;
  int column_;
};

class database {
 public:
  // Opens (creating if needed) a database file, or ":memory:".
  static result<std::unique_ptr<database>> open(const std::string& path,
                                                open_options options = {}) {
    std::unique_ptr<database> db(new database());
    db->path_ = path;
    db->options_ = options;
    if (options.immutable && !options.read_only)
      return make_error(
          errc::invalid_argument,
          "open_options.immutable needs read_only (an immutable file is never written)");
    if (!options.read_only) create_private(path);
    int flags =
        (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
    if (options.immutable) flags |= SQLITE_OPEN_URI;
    const std::string name = options.immutable ? immutable_uri(path) : path;
    const int rc = sqlite3_open_v2(name.c_str(), &db->handle_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = db->handle_ ? sqlite3_errmsg(db->handle_) : sqlite3_errstr(rc);
      return make_error(errc::storage_error, "cannot open SQLite database '" + path + "': " + msg)
          .mark_from_storage()
          .with_native(sqlite_error_code(rc));
    }
    sqlite3_busy_timeout(db->handle_, static_cast<int>(options.busy_timeout.count()));
    sqlite3_extended_result_codes(db->handle_, 1);
    if (!options.read_only && path != ":memory:" && !path.empty()) {
      LOGLINE_TRY_VOID(db->exec("PRAGMA journal_mode=WAL"));
    }
    LOGLINE_TRY_VOID(db->exec(options.sync == durability::full ? "PRAGMA synchronous=FULL"
                                                               : "PRAGMA synchronous=NORMAL"));
    LOGLINE_TRY_VOID(db->exec(tuning_pragmas(options)));
    return db;
  }
  // The URI that opens `path` with immutable=1: '%', '?' and '#' are escaped so that any file
  // name stays a file name; an absolute path gets the empty authority ("file:///...").
  static std::string immutable_uri(const std::string& path) {
    std::string uri = path.rfind('/', 0) == 0 ? "file://" : "file:";
    for (char c : path) {
      if (c == '%')
        uri += "%25";
      else if (c == '?')
        uri += "%3f";
      else if (c == '#')
        uri += "%23";
      else
        uri += c;
    }
    return uri + "?immutable=1";
  }

  database(const database&) = delete;
  database& operator=(const database&) = delete;
  ~database() {
    if (handle_) sqlite3_close_v2(handle_);
  }

  sqlite3* handle() const noexcept { return handle_; }
  const std::string& path() const noexcept { return path_; }
  const open_options& options() const noexcept { return options_; }
  bool is_memory() const noexcept {
    return path_.empty() || path_ == ":memory:" || path_.rfind("file::memory:", 0) == 0;
  }
  // Serializes use of the connection between threads of this process.
  std::mutex& mutex() const noexcept { return mutex_; }

  error_info last_error(int rc, std::string_view what) const {
    const int code = rc & 0xff;
    const errc kind =
        code == SQLITE_BUSY || code == SQLITE_LOCKED ? errc::busy : errc::storage_error;
    return make_error(kind, std::string(what) + ": " + sqlite3_errmsg(handle_))
        .mark_from_storage()
        .with_native(sqlite_error_code(rc));
  }

  result<void> exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      const int code = rc & 0xff;
      return make_error(
                 code == SQLITE_BUSY || code == SQLITE_LOCKED ? errc::busy : errc::storage_error,
                 "SQLite: " + msg)
          .mark_from_storage()
          .with_native(sqlite_error_code(rc));
    }
    return {};
  }

  result<statement> prepare(std::string_view sql) const {
    sqlite3_stmt* s = nullptr;
    const int rc = sqlite3_prepare_v3(handle_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK)
      return last_error(rc, "cannot prepare '" + std::string(sql.substr(0, 80)) + "'");
    return statement(s);
  }

  // In-process change notification: writers call notify_commit after each commit; readers of
  // the feed wait for the counter to move.
  void notify_commit() { commits_.notify(); }
  std::uint64_t commits() const { return commits_.count(); }
  bool wait_for_commit(std::uint64_t seen, std::chrono::milliseconds timeout) const {
    return commits_.wait(seen, timeout);
  }

 private:
  database() = default;

  // Creates the database file `path` empty with mode 0600 if nothing is there yet. SQLite would
  // create it 0644 (less the umask), and it gives the -wal, -shm and -journal files it creates
  // later the permissions of the main file: made 0600 here, they all stay the owner's. An
  // existing file keeps the mode its operator chose (logline-server and the other programs warn
  // when every user may read it). In-memory databases, temporary ones ("") and URIs
  // ("file:...", whose path SQLite decodes) are left to SQLite. A file that cannot be made here
  // is not an error: sqlite3_open_v2 then reports why it cannot open the path.
  static void create_private(const std::string& path) {
    if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) return;
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return;
    (void)::fchmod(fd, 0600);  // exactly 0600, whatever the umask took away
    ::close(fd);
  }

  sqlite3* handle_ = nullptr;
  std::string path_;
  open_options options_;
  mutable std::mutex mutex_;
  logline::detail::commit_signal commits_;
};

}  // namespace logline::sqlite
