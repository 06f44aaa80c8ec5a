#pragma once
// logline-cli's shared pieces: exit codes, output, the command line, keys, opening a ledger
// (SQLite or PostgreSQL, any span type for the offline commands) and progress lines.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).
#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <logline/http/tokens.hpp>
#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/runtime/manifest.hpp>
#include <logline/runtime/run_code.hpp>
#include <logline/runtime/seed_policies.hpp>
#include <logline/sqlite.hpp>
#include <logline/version.hpp>

#include "../common/database_file.hpp"
#include "../common/ledger_on.hpp"
#include "../common/postgres_url.hpp"
#include "../common/signing_key.hpp"

namespace {

using span = logline::universal_span;
using logline_tools::ledger_on;
using ledger_type = ledger_on<logline::sqlite::backend>;
using pg_ledger_type = ledger_on<logline::postgres::backend>;

constexpr int exit_ok = 0;
constexpr int exit_verify_failed = 1;
constexpr int exit_error = 2;

// A failure that ends the program with exit code 2: its message goes to stderr, followed by the
// command's usage when the command line itself was wrong.
struct cli_error : std::runtime_error {
  explicit cli_error(const std::string& message, bool usage = false)
      : std::runtime_error(message), show_usage(usage) {}
  bool show_usage;
};

// ---- output ------------------------------------------------------------------------------------

void out(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); }
void err(std::string_view text) { std::fwrite(text.data(), 1, text.size(), stderr); }

// Success is only reported if everything written to stdout actually got out.
int finish_stdout(int code) {
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    err("logline-cli: cannot write to stdout: " + std::string(std::strerror(errno)) + "\n");
    return exit_error;
  }
  return code;
}

// Messages may carry stored or user text: keep every report on one line.
std::string one_line(std::string_view text) {
  std::string s;
  s.reserve(text.size());
  for (unsigned char c : text) {
    if (c == '\n')
      s += "\\n";
    else if (c == '\r')
      s += "\\r";
    else if (c < 0x20 || c == 0x7f) {
      static constexpr char digits[] = "0123456789abcdef";
      s += "\\x";
      s += digits[c >> 4];
      s += digits[c & 0x0f];
    } else {
      s += static_cast<char>(c);
    }
  }
  return s;
}

// ---- command line ------------------------------------------------------------------------------

struct flag_spec {
  std::string_view name;        // without the leading "--"
  std::string_view value_name;  // empty: a switch without value
  bool repeatable;
  std::string_view help;
};

class arguments {
 public:
  bool has(std::string_view name) const { return values_.count(std::string(name)) != 0; }
  std::optional<std::string> get(std::string_view name) const {
    auto it = values_.find(std::string(name));
    if (it == values_.end()) return std::nullopt;
    return it->second.front();
  }
  std::vector<std::string> all(std::string_view name) const {
    auto it = values_.find(std::string(name));
    return it == values_.end() ? std::vector<std::string>{} : it->second;
  }
  std::string required(std::string_view name) const {
    auto v = get(name);
    if (!v) throw cli_error("missing --" + std::string(name), true);
    if (v->empty()) throw cli_error("--" + std::string(name) + " must not be empty", true);
    return *v;
  }
  void add(std::string_view name, std::string value) {
    values_[std::string(name)].push_back(std::move(value));
  }

 private:
  std::map<std::string, std::vector<std::string>, std::less<>> values_;
};

struct command {
  std::string_view name;
  std::string_view summary;
  std::string_view synopsis;
  std::string_view description;
  std::vector<flag_spec> flags;
  int (*run)(const arguments&);
};

std::string command_help(const command& c) {
  std::string s = "usage: logline-cli " + std::string(c.name) + " " + std::string(c.synopsis) +
                  "\n\n" + std::string(c.description) + "\n\noptions:\n";
  for (const auto& f : c.flags) {
    std::string left = "  --" + std::string(f.name);
    if (!f.value_name.empty()) left += " " + std::string(f.value_name);
    if (left.size() < 24)
      left.resize(24, ' ');
    else
      left += "  ";
    s += left + std::string(f.help) + "\n";
  }
  s += "  --help                print this help\n";
  return s;
}

arguments parse_arguments(const command& c, int argc, char** argv, int first) {
  arguments a;
  for (int i = first; i < argc; ++i) {
    std::string_view token = argv[i];
    if (token == "-f") token = "--follow";
    if (token == "--help" || token == "-h") {
      out(command_help(c));
      std::exit(finish_stdout(exit_ok));
    }
    if (token.substr(0, 2) != "--" || token.size() == 2)
      throw cli_error("unexpected argument '" + one_line(token) + "'", true);
    std::string_view name = token.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string_view::npos) {
      inline_value = std::string(name.substr(eq + 1));
      name = name.substr(0, eq);
    }
    auto spec = std::find_if(c.flags.begin(), c.flags.end(),
                             [&](const flag_spec& f) { return f.name == name; });
    if (spec == c.flags.end()) throw cli_error("unknown option '--" + one_line(name) + "'", true);
    if (!spec->repeatable && a.has(name))
      throw cli_error("--" + std::string(name) + " given more than once", true);
    if (spec->value_name.empty()) {
      if (inline_value) throw cli_error("--" + std::string(name) + " takes no value", true);
      a.add(name, "");
    } else if (inline_value) {
      a.add(name, *inline_value);
    } else {
      if (i + 1 >= argc)
        throw cli_error(
            "--" + std::string(name) + " needs a value (" + std::string(spec->value_name) + ")",
            true);
      a.add(name, argv[++i]);
    }
  }
  return a;
}

unsigned parse_count(const std::string& text, std::string_view flag, unsigned lo, unsigned hi) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi)
    throw cli_error("--" + std::string(flag) + " must be a number from " + std::to_string(lo) +
                        " to " + std::to_string(hi) + ", not '" + one_line(text) + "'",
                    true);
  return v;
}

// ---- keys --------------------------------------------------------------------------------------

// A seed file. One accessible by group or others gets a warning, not a refusal as in the
// services (signing_key.hpp): a person runs the CLI and sees the warning at once.
logline::ed25519::key read_seed_file(const std::string& path) {
  auto k = logline_tools::read_key_file("logline-cli", path, logline_tools::readable_key::warn);
  if (!k) throw cli_error(k.error().message());
  return *k;
}

// The signing key from --key FILE or --key-env VAR (exactly one of them).
logline::ed25519::key load_key(const arguments& a) {
  const bool file = a.has("key"), env = a.has("key-env");
  if (file == env)
    throw cli_error("give the signing key with exactly one of --key FILE or --key-env VAR", true);
  if (file) return read_seed_file(a.required("key"));
  const std::string var = a.required("key-env");
  auto k = logline::ed25519::key::from_env(var.c_str());
  if (!k) throw cli_error(k.error().message());
  return *k;
}

void write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw cli_error("cannot write '" + path + "': " + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Writes a secret to `path` with mode 0600. Without `force` an existing path (even a dangling
// symlink) is refused; with it the file is replaced atomically, so no reader ever sees half a key.
void write_secret_file(const std::string& path, std::string_view secret, bool force) {
  if (!force) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      if (errno == EEXIST)
        throw cli_error(
            "'" + path +
            "' already exists; refusing to overwrite a key (use --force to replace it)");
      throw cli_error("cannot create '" + path + "': " + std::strerror(errno));
    }
    try {
      if (::fchmod(fd, 0600) != 0)
        throw cli_error("cannot chmod '" + path + "': " + std::strerror(errno));
      write_all(fd, secret, path);
      if (::fsync(fd) != 0) throw cli_error("cannot sync '" + path + "': " + std::strerror(errno));
    } catch (...) {
      ::close(fd);
      ::unlink(path.c_str());
      throw;
    }
    if (::close(fd) != 0) {
      ::unlink(path.c_str());
      throw cli_error("cannot write '" + path + "': " + std::strerror(errno));
    }
    return;
  }
  std::string tmp = path + ".XXXXXX";
  const int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0)
    throw cli_error("cannot create a file next to '" + path + "': " + std::strerror(errno));
  try {
    write_all(fd, secret, tmp);
    if (::fsync(fd) != 0) throw cli_error("cannot sync '" + tmp + "': " + std::strerror(errno));
    if (::close(fd) != 0) throw cli_error("cannot write '" + tmp + "': " + std::strerror(errno));
    if (::rename(tmp.c_str(), path.c_str()) != 0)
      throw cli_error("cannot replace '" + path + "': " + std::strerror(errno));
  } catch (...) {
    ::close(fd);  // harmless if already closed
    ::unlink(tmp.c_str());
    throw;
  }
}

// ---- database ----------------------------------------------------------------------------------

// Opens an existing ledger database for reading (export, verify, checkpoint): never creates a
// file, not even beside it. A database a process is writing has its -wal file (logline opens
// every file database in WAL mode); without one nothing writes it, so it is read as an
// immutable file: no -wal/-shm is left behind, and a copy on read-only media opens. With a
// -wal file (a running server, or a writer that crashed) it is read like any reader, which
// needs the -shm file and so a writable directory.
// live: the command follows the database as it changes (tail --follow), so it is never read as
// immutable.
std::unique_ptr<logline::sqlite::database> open_existing(const std::string& path, bool live) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw cli_error("cannot open database '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw cli_error("'" + path + "' is not a regular file");
  struct stat wal {};
  const bool being_written = ::stat((path + "-wal").c_str(), &wal) == 0;
  auto db = logline::sqlite::database::open(
      path, {.read_only = true, .immutable = !being_written && !live});
  if (!db && being_written && ::access(path.c_str(), W_OK) != 0)
    throw cli_error(
        db.error().message() + " ('" + path +
        "-wal' is beside it, so it is read through its -shm file, which needs write access to '" +
        path +
        "' and its directory: copy the database with its -wal file somewhere writable, or let its "
        "writer finish)");
  if (!db) throw cli_error(db.error().message());
  return std::move(*db);
}

// Whether the database has a table of this name.
bool has_table(logline::sqlite::database& db, const std::string& path, std::string_view name) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(),
                              "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                              &raw, nullptr);
  logline::sqlite::statement stmt(raw);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(raw, 1, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    rc = sqlite3_step(raw);
  }
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    throw cli_error("cannot read database '" + path + "': " + sqlite3_errmsg(db.handle()));
  return rc == SQLITE_ROW;
}

// How many spans are stored (for the progress line; a fast count, not a verification).
std::uint64_t count_spans(logline::sqlite::database& db, std::string_view table = span::span_name) {
  sqlite3_stmt* raw = nullptr;
  const std::string sql = "SELECT count(*) FROM \"" + std::string(table) + "\"";
  if (sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) return 0;
  logline::sqlite::statement stmt(raw);
  return sqlite3_step(raw) == SQLITE_ROW ? static_cast<std::uint64_t>(sqlite3_column_int64(raw, 0))
                                         : 0;
}

// The database a command works on: --db FILE (SQLite) or --postgres URL. With PostgreSQL the URL
// is used for the application connections and as the owner (migrations, verify, export): give
// the role that owns the tables, or one that may read them all.
struct target {
  std::unique_ptr<logline::sqlite::database> sqlite;
  std::unique_ptr<logline::postgres::database> postgres;
  std::string path;                      // --db
  std::string url;                       // --postgres (or the URL in --postgres-env's variable)
  std::chrono::milliseconds wait{5000};  // how long a write waits for a lock (--wait)
  // A SQLite ledger of another span type, read from what the database records (verify, export
  // and checkpoint); unset: the universal registry.
  std::optional<logline::sqlite::recorded_table> recorded;
};

// Which table of a SQLite file a reading command works on: the universal registry (this CLI's
// span type), or -- for verify, export and checkpoint, which work on any logline ledger --
// another table the database records (--table NAME, or the only one it records).
void select_table(target& t, const arguments& a, bool any_span_type) {
  auto& db = *t.sqlite;
  const bool universal = has_table(db, t.path, span::span_name);
  auto tables = logline::sqlite::recorded_tables(db);
  if (!tables)
    throw cli_error("cannot read database '" + t.path + "': " + tables.error().message());
  std::string name;
  if (a.has("table")) {
    name = a.required("table");
  } else if (universal) {
    return;
  } else if (tables->size() == 1) {
    name = tables->front();
  } else if (tables->empty()) {
    throw cli_error("'" + t.path + "' is not a logline database (it has no " +
                    std::string(span::span_name) + " table and records no other logline table)");
  } else {
    std::string list;
    for (const auto& n : *tables) list += (list.empty() ? "" : ", ") + n;
    throw cli_error("'" + t.path + "' records several logline tables (" + one_line(list) +
                        "): choose one with --table NAME",
                    true);
  }
  if (name == span::span_name) {
    if (!universal)
      throw cli_error("'" + t.path + "' has no " + std::string(span::span_name) + " table");
    return;
  }
  if (!any_span_type)
    throw cli_error("table '" + one_line(name) + "' of '" + t.path +
                    "' holds spans of another type; this command reads " +
                    std::string(span::span_name) +
                    " (verify, export and checkpoint read any logline table)");
  auto r = logline::sqlite::read_recorded(db, name);
  if (!r) throw cli_error("'" + t.path + "': " + r.error().message());
  t.recorded = std::move(*r);
}

// Whether the command works on PostgreSQL (--postgres URL or --postgres-env VAR) rather than on
// SQLite (--db FILE); exactly one of them must be given.
bool on_postgres(const arguments& a) {
  const bool file = a.has("db"), pg = a.has("postgres") || a.has("postgres-env");
  if (file == pg)
    throw cli_error("give exactly one of --db FILE or --postgres URL (or --postgres-env VAR)",
                    true);
  return pg;
}

// The connection string of --OPTION URL or --OPTION-env VAR (postgres_url.hpp: a URL on the
// command line that holds a password gets a warning).
std::optional<std::string> postgres_option(const arguments& a, const std::string& option) {
  auto url = logline_tools::postgres_url("logline-cli", "--" + option, a.get(option),
                                         a.get(option + "-env"));
  if (!url) throw cli_error(url.error().message(), true);
  if (*url && (*url)->empty()) throw cli_error("--" + option + " must not be empty", true);
  return *url;
}

// How long a write waits for another writer's lock on a SQLite file (--wait SECONDS, for the
// commands that take it; SQLite's busy timeout).
std::chrono::milliseconds lock_wait(const arguments& a) {
  if (!a.has("wait")) return std::chrono::seconds(5);
  return std::chrono::seconds(parse_count(a.required("wait"), "wait", 0, 86400));
}

// The error of a write that found the database locked (errc::busy), in words that say what
// happened and what to do; other errors as they are.
std::string write_failure(const logline::error_info& e, std::chrono::milliseconds wait) {
  if (!(e == logline::errc::busy)) return one_line(e.message());
  const auto waited = std::chrono::duration_cast<std::chrono::seconds>(wait).count();
  return "the database is locked by another writer (a running logline-server or another "
         "logline-cli?) and stayed locked for " +
         std::to_string(waited) + " s (" + one_line(e.message()) +
         "); wait longer with --wait SECONDS, or stop that writer";
}

// existing: the ledger's table must already be there (export, verify never create anything).
// any_span_type: the command also reads a SQLite ledger of another span type (select_table).
// live: the command follows the database as it changes.
target open_target(const arguments& a, bool existing, bool any_span_type = false,
                   bool live = false) {
  target t;
  t.wait = lock_wait(a);
  if (!on_postgres(a)) {
    t.path = a.required("db");
    logline_tools::warn_if_world_accessible("logline-cli", t.path);
    if (existing) {
      t.sqlite = open_existing(t.path, live);
      select_table(t, a, any_span_type);
    } else {
      auto db = logline::sqlite::database::open(t.path, {.busy_timeout = t.wait});
      if (!db) throw cli_error(db.error().message());
      t.sqlite = std::move(*db);
    }
    return t;
  }
  if (a.has("table"))
    throw cli_error("--table reads a SQLite ledger of another span type; it goes with --db", true);
  // The application role appends as --user; the owner (--postgres-owner, else the same role)
  // migrates, reads every span and writes with the operator's rights (seed, tokens, import).
  t.url = *postgres_option(a, "postgres");
  const std::string owner = postgres_option(a, "postgres-owner").value_or(t.url);
  auto db = logline::postgres::database::open(t.url, {.pool_size = 2, .owner = owner});
  if (!db) throw cli_error(db.error().message());
  if (existing) {
    auto c = (*db)->acquire_owner();
    if (!c) throw cli_error(c.error().message());
    logline::postgres::params p;
    p.add(std::string("\"") + std::string(span::span_name) + "\"");
    auto r = (*c)->query_once("SELECT pg_catalog.to_regclass($1) IS NOT NULL", p);
    if (!r) throw cli_error(r.error().message());
    if (r->text(0, 0) != "t")
      throw cli_error("the PostgreSQL database has no " + std::string(span::span_name) +
                      " table (search_path: see the URL's options)");
  }
  t.postgres = std::move(*db);
  return t;
}

// Runs fn(ledger&) on the ledger of the target (any exception from opening it reports as an error).
template <class F>
auto with_ledger(target& t, logline::identity who, std::optional<logline::ed25519::key> key,
                 F&& fn) {
  try {
    if (t.sqlite) {
      ledger_type l(*t.sqlite, {.identity = std::move(who), .signing_key = std::move(key)});
      return fn(l);
    }
    pg_ledger_type l(*t.postgres, {.identity = std::move(who), .signing_key = std::move(key)});
    return fn(l);
  } catch (const logline::bad_result_access& e) {
    throw cli_error(write_failure(e, t.wait));  // opening migrates: it may find the file locked
  }
}
// For reading only: a signed ledger opens without a key to read and verify.
const logline::identity reader_identity{"logline-cli", std::nullopt};

// ---- progress ----------------------------------------------------------------------------------

// Progress of a long operation on stderr: a bar with rate and ETA on a terminal, redrawn at most
// every 200 ms; a plain line every 5 s otherwise. Nothing for operations shorter than that.
class progress {
 public:
  progress(std::string label, std::optional<std::uint64_t> total, bool quiet = false)
      : label_(std::move(label)),
        total_(total),
        tty_(::isatty(STDERR_FILENO) == 1),
        quiet_(quiet) {}
  ~progress() { clear(); }
  void update(std::uint64_t done) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_ < (tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000)))
      return;
    last_ = now;
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
    std::string text = label_ + ": ";
    if (total_ && *total_ > 0) {
      const double f = std::min(1.0, static_cast<double>(done) / static_cast<double>(*total_));
      if (tty_) {
        const int filled = static_cast<int>(f * 30);
        text += "[" + std::string(static_cast<std::size_t>(filled), '#') +
                std::string(static_cast<std::size_t>(30 - filled), ' ') + "] ";
      }
      text += std::to_string(done) + " of " + std::to_string(*total_);
      const double eta =
          rate > 0 ? static_cast<double>(*total_ - std::min(done, *total_)) / rate : 0;
      text += " (" + std::to_string(static_cast<std::uint64_t>(rate)) + " spans/s, ETA " +
              std::to_string(static_cast<std::uint64_t>(eta + 0.5)) + " s)";
    } else {
      text += std::to_string(done) + " spans (" + std::to_string(static_cast<std::uint64_t>(rate)) +
              " spans/s)";
    }
    if (tty_) {
      err("\r" + text + "\033[K");
      shown_ = true;
    } else {
      err(text + "\n");
    }
  }
  void clear() {
    if (shown_) err("\r\033[K");
    shown_ = false;
  }

 private:
  std::string label_;
  std::optional<std::uint64_t> total_;
  bool tty_, quiet_;
  bool shown_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_ = start_;
};

// How many spans a target holds (for progress; an estimate is fine).
std::optional<std::uint64_t> span_count(target& t) {
  if (t.sqlite)
    return count_spans(*t.sqlite,
                       t.recorded ? std::string_view(t.recorded->name) : span::span_name);
  auto c = t.postgres->acquire_owner();
  if (!c) return std::nullopt;
  auto r = (*c)->query_once("SELECT count(*) FROM \"" + std::string(span::span_name) + "\"");
  if (!r) return std::nullopt;
  return static_cast<std::uint64_t>(r->integer(0, 0));
}

}  // namespace
