// logline-cli: keys, appends, export and verification for a universal-span ledger in SQLite
// (--db FILE) or PostgreSQL (--postgres URL).
//
//   logline-cli keygen --out FILE [--force]          new Ed25519 seed (0600), public key on stdout
//   logline-cli keygen --public --key FILE           public key of an existing seed
//   logline-cli append --db FILE --key FILE --user U [--tenant T] < spans.ndjson
//   logline-cli export --db FILE                     every span as NDJSON, in commit order
//   logline-cli verify --db FILE [--trust KEY]... [--checkpoint FILE]   hashes, chain links, signatures
//   logline-cli checkpoint --db FILE [--key FILE]    verify, then print every chain's head (JSON)
//   logline-cli schema [--postgres]                  the DDL (SQLite, or PostgreSQL)
//   logline-cli token issue --db FILE --key FILE --user U [--tenant T] --scopes S   an API token
//   logline-cli token revoke --db FILE --key FILE --id UUID
//   logline-cli seed --db FILE --key FILE            LogLineOS's manifest and kernels
//   logline-cli seed --sql sqlite|postgres --key FILE   the same, as a SQL script for an empty ledger
//   logline-cli seed --db FILE --key FILE --policies --user U [--tenant T]   the seed policies
//   logline-cli force --db FILE --key FILE --function UUID   the override grant for a function's code
//
// Exit codes: 0 success, 1 verification found problems, 2 bad usage, bad input or I/O error.
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
  auto k =
      logline_tools::read_key_file("logline-cli", path, logline_tools::readable_key::warn);
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

int run_keygen(const arguments& a) {
  if (a.has("public")) {
    if (a.has("out") || a.has("force"))
      throw cli_error(
          "--public reads an existing key; it takes --key or --key-env, not --out/--force", true);
    out(load_key(a).public_key().to_string() + "\n");
    return finish_stdout(exit_ok);
  }
  if (a.has("key") || a.has("key-env"))
    throw cli_error("--key and --key-env go with --public", true);
  const std::string path = a.required("out");
  const auto key = logline::ed25519::key::generate();
  std::string seed = key.seed_hex() + "\n";
  try {
    write_secret_file(path, seed, a.has("force"));
  } catch (...) {
    sodium_memzero(seed.data(), seed.size());
    throw;
  }
  sodium_memzero(seed.data(), seed.size());
  out(key.public_key().to_string() + "\n");
  return finish_stdout(exit_ok);
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

// ---- append ------------------------------------------------------------------------------------

struct input_span {
  std::size_t line;  // 1-based line number in stdin
  span value;
  bool has_seq;  // the line named "seq"
};

// Parses one NDJSON line into a span and checks what can be checked without the database.
logline::result<input_span> parse_line(std::string_view text, std::size_t line,
                                       const logline::identity& who) {
  using schema = logline::schema<span>;
  auto j = logline::parse_json(text);
  if (!j) return std::move(j).error();
  // Read as the HTTP API reads a posted span (span_input.hpp: no field the ledger sets, known
  // keys and types, entity_type and this present, `who` the writer's user id or absent), so
  // both refuse the same input with the same words.
  logline::field_set<span> present{};
  auto s = logline::span_from_input(*j, "", who, &present);
  if (!s) return std::move(s).error();
  input_span in{line, std::move(*s), present[schema::index_of("seq")]};
  if (in.value.seq < 0)
    return logline::make_error(logline::errc::invalid_span, "field 'seq' must be >= 0");
  if (in.has_seq && in.value.id.is_nil() && in.value.seq != 0)
    return logline::make_error(
        logline::errc::version_conflict,
        "a new span (no id) must have seq 0, not " + std::to_string(in.value.seq));
  // Tenancy as the ledger will apply it: missing owner/tenant default to the writer's.
  span effective = in.value;
  if (!effective.owner_id) effective.owner_id = who.user_id;
  if (!effective.tenant_id) effective.tenant_id = who.tenant_id;
  if (!logline::may_write(who, effective))
    return logline::make_error(
        logline::errc::permission_denied,
        "user '" + who.user_id + "' (" +
            (who.tenant_id ? "tenant '" + *who.tenant_id + "'" : std::string("no tenant")) +
            ") may not write a span owned by '" + effective.owner_id.value_or("") + "' (" +
            (effective.tenant_id ? "tenant '" + *effective.tenant_id + "'"
                                 : std::string("no tenant")) +
            "): a user writes the spans it owns, in its own tenant");
  // Values (UTF-8, ranges, JSON rules); `at` is the ledger's, so stand in for it here.
  effective.at = logline::timestamp::now();
  if (auto v = logline::validate_span(effective); !v) return std::move(v).error();
  return in;
}

void report_bad_lines(const std::vector<std::string>& problems) {
  constexpr std::size_t shown = 20;
  for (std::size_t i = 0; i < problems.size() && i < shown; ++i)
    err("logline-cli: " + problems[i] + "\n");
  if (problems.size() > shown)
    err("logline-cli: ... and " + std::to_string(problems.size() - shown) + " more\n");
  err("logline-cli: nothing was written\n");
}

std::string line_problem(std::size_t line, const std::string& message) {
  return "line " + std::to_string(line) + ": " + one_line(message);
}

// append_batch prefixes its errors with "span #<index> of the batch: "; name the input line instead.
std::string batch_problem(const std::vector<std::size_t>& lines, const std::string& message) {
  static constexpr std::string_view prefix = "span #";
  static constexpr std::string_view middle = " of the batch: ";
  if (message.rfind(prefix, 0) == 0) {
    std::size_t index = 0;
    const char* begin = message.data() + prefix.size();
    auto [end, ec] = std::from_chars(begin, message.data() + message.size(), index);
    if (ec == std::errc() && index < lines.size() &&
        std::string_view(end, static_cast<std::size_t>(message.data() + message.size() - end))
                .rfind(middle, 0) == 0)
      return line_problem(lines[index], std::string(end + middle.size()));
  }
  return one_line(message);
}

int run_append(const arguments& a) {
  (void)on_postgres(a);  // before stdin is read
  logline::identity who{a.required("user"), std::nullopt};
  if (a.has("tenant")) who.tenant_id = a.required("tenant");
  auto key = load_key(a);

  // 1. Read and check every line before touching the database.
  std::vector<input_span> inputs;
  std::vector<std::string> problems;
  std::string text;
  for (std::size_t line = 1; std::getline(std::cin, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto in = parse_line(text, line, who);
    if (!in)
      problems.push_back(line_problem(line, in.error().message()));
    else
      inputs.push_back(std::move(*in));
  }
  if (std::cin.bad()) throw cli_error("cannot read stdin");
  if (!problems.empty()) {
    report_bad_lines(problems);
    return exit_error;
  }

  // 2. Versions: a line without "seq" is the next version of its id (or a new entity); a line
  //    with "seq" must be exactly that next version. Both are decided inside the one write
  //    transaction, counting earlier lines of this input.
  auto t = open_target(a, false);
  return with_ledger(t, who, std::move(key), [&](auto& ledger) {
    // 3. One transaction: all lines or none. The spans move into the batch (one copy of the
    //    input in memory, not two); the line numbers stay for the error message.
    std::vector<span> batch;
    std::vector<bool> take_next_version;
    std::vector<std::size_t> lines;
    batch.reserve(inputs.size());
    take_next_version.reserve(inputs.size());
    lines.reserve(inputs.size());
    for (auto& in : inputs) {
      take_next_version.push_back(!in.has_seq && !in.value.id.is_nil());
      lines.push_back(in.line);
      batch.push_back(std::move(in.value));
    }
    std::vector<input_span>().swap(inputs);
    auto stored = ledger.append_batch(std::move(batch), std::move(take_next_version));
    if (!stored) {
      report_bad_lines({stored.error() == logline::errc::busy
                            ? write_failure(stored.error(), t.wait)
                            : batch_problem(lines, stored.error().message())});
      return exit_error;
    }
    if (a.has("quiet")) return finish_stdout(exit_ok);
    std::string line;
    for (const auto& s : *stored) {
      line = logline::span_to_json_text(s);
      line += '\n';
      out(line);
    }
    return finish_stdout(exit_ok);
  });
}

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

// ---- export ------------------------------------------------------------------------------------

// What get and tail check of every span they read (the ledger's check_read): sealed, and its
// content still hashes to its curr_hash; in the same words. ledger::export_all hands rows out
// unchecked, so export checks them here. Signatures are verify's to check (its job, and ~50 us
// each).
logline::result<void> check_exported(const span& s) {
  const std::string which = "span " + s.id.to_string() + " version " + std::to_string(s.seq);
  auto unsealed = [&](const char* what) {
    return logline::make_error(logline::errc::integrity_violation,
                               which + " has no " + what + ": every span of this ledger is sealed");
  };
  if (!s.curr_hash) return unsealed("curr_hash");
  if (!s.signature || !s.public_key) return unsealed("signature");
  if (!s.chain_position) return unsealed("chain_position");
  if (auto valid = logline::validate_span(s); !valid)
    return logline::make_error(
        logline::errc::integrity_violation,
        which + " holds a value that cannot be canonicalized: " + valid.error().message());
  if (logline::span_hash(s) != *s.curr_hash)
    return logline::make_error(logline::errc::integrity_violation,
                               which + " does not match its curr_hash");
  return {};
}

// The spans of a recorded table (another span type), in commit order, in the export form, each
// checked as check_exported checks a universal span: sealed as its table says, and hashing to
// its curr_hash.
int export_recorded(logline::sqlite::database& db, const logline::sqlite::recorded_table& table,
                    std::optional<logline::timestamp> since, progress& bar) {
  auto cursor = logline::sqlite::recorded_cursor::open(db, table, false);
  if (!cursor) throw cli_error("export: " + cursor.error().message());
  logline::verify_profile hash_only = table.profile;
  hash_only.signed_ = false;  // signatures are verify's (see check_exported)
  const std::size_t at = table.layout.index_of("at");
  logline::verify_row row;
  logline::detail::row_check check;
  std::string line;
  std::uint64_t seen = 0;
  for (;;) {
    auto more = cursor->step(1);
    if (!more) throw cli_error("export stopped: " + more.error().message());
    if (!*more) break;
    bar.update(++seen);
    row.row_number = cursor->row_number();
    cursor->read_stored(row);
    logline::detail::check_row(row, hash_only, {}, check);
    if (check.problems.empty() && table.profile.signed_ && (!row.signature || !row.public_key))
      check.problems.emplace_back(logline::problem::missing_signature,
                                  "signature or public_key is null");
    if (!check.problems.empty()) {
      std::fflush(stdout);
      throw cli_error("export stopped: span " + row.id.to_string() + " version " +
                      std::to_string(row.seq) + ": " + one_line(check.problems.front().second) +
                      " (nothing after it was written; verify lists every problem)");
    }
    if (since && at < table.layout.names.size()) {
      // Filtered on the stored text of `at` (what the export form would show), before the line
      // is written.
      if (auto text = cursor->text(at))
        if (auto ts = logline::timestamp::parse(*text); ts && *ts < *since) continue;
    }
    line.clear();
    cursor->write_json(line);
    line += '\n';
    out(line);
    if (std::ferror(stdout))
      throw cli_error(std::string("cannot write to stdout: ") + std::strerror(errno));
  }
  return finish_stdout(exit_ok);
}

// Stops at the first span that fails check_exported, as get and tail do, after the spans before
// it: a reader never hands out a span it cannot vouch for, and an export is a copy to import
// elsewhere (import refuses a damaged one anyway). verify lists every damaged span.
int run_export(const arguments& a) {
  std::optional<logline::timestamp> since;
  if (a.has("since")) {
    auto ts = logline::timestamp::parse(a.required("since"));
    if (!ts)
      throw cli_error("--since: " + ts.error().message() + " (use YYYY-MM-DDTHH:MM:SS.mmmZ)", true);
    since = *ts;
  }
  auto t = open_target(a, true, true);
  progress bar("export", span_count(t));
  std::uint64_t seen = 0;
  if (t.recorded) return export_recorded(*t.sqlite, *t.recorded, since, bar);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    std::string line;
    auto r = ledger.export_all([&](const span& s) -> logline::result<void> {
      bar.update(++seen);
      LOGLINE_TRY_VOID(
          check_exported(s));  // also before --since: `at` means something once the hash holds
      if (since && s.at < *since) return {};
      line = logline::span_to_json_text(s);
      line += '\n';
      out(line);
      if (std::ferror(stdout))
        return logline::make_error(logline::errc::storage_error,
                                   std::string("cannot write to stdout: ") + std::strerror(errno));
      return {};
    });
    if (!r) {
      std::fflush(stdout);
      if (r.error() == logline::errc::integrity_violation)
        throw cli_error("export stopped: " + one_line(r.error().message()) +
                        " (nothing after it was written; verify lists every problem)");
      throw cli_error("export stopped: " + r.error().message());
    }
    return finish_stdout(exit_ok);
  });
}

// ---- verify ------------------------------------------------------------------------------------

// --trust takes a public key (64 hex) or a seed file whose public key is trusted.
logline::public_key trusted_key(const std::string& arg) {
  struct stat st {};
  if (::stat(arg.c_str(), &st) == 0) {
    auto k =
        logline_tools::read_key_file("logline-cli", arg, logline_tools::readable_key::warn);
    if (!k) throw cli_error("--trust: " + k.error().message());
    return k->public_key();
  }
  auto pk = logline::public_key::parse(arg);
  if (!pk)
    throw cli_error("--trust '" + one_line(arg) +
                        "' is neither a key file nor a public key: " + pk.error().message(),
                    true);
  return *pk;
}

// A checkpoint file (checkpoint's output), read whole; with trusted keys it must be signed by one.
logline::checkpoint read_checkpoint(const std::string& path,
                                    const std::vector<logline::public_key>& trusted) {
  constexpr std::size_t max_size = 256u << 20;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw cli_error("--checkpoint: cannot open '" + path + "': " + std::strerror(errno));
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= max_size)
    text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw cli_error("--checkpoint: cannot read '" + path + "'");
  if (text.size() > max_size)
    throw cli_error("--checkpoint: '" + path + "' is larger than 256 MiB");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto c = logline::checkpoint::parse(text);
  if (!c) throw cli_error("--checkpoint '" + path + "': " + c.error().message());
  if (!trusted.empty() && (!c->public_key || std::find(trusted.begin(), trusted.end(),
                                                       *c->public_key) == trusted.end()))
    throw cli_error("--checkpoint '" + path + "' is not signed by a key given with --trust");
  return std::move(*c);
}

// Verifies the target's ledger: the universal registry through its ledger type, another span
// type from what its database records. kept: a checkpoint is being taken (findings go to stderr).
int verify_target(target& t, logline::verify_options& options, bool quiet, bool show_progress,
                  logline::verify_report* kept = nullptr);

int run_verify(const arguments& a) {
  logline::verify_options options;
  for (const auto& t : a.all("trust")) options.trusted_keys.push_back(trusted_key(t));
  if (a.has("threads")) options.threads = parse_count(a.required("threads"), "threads", 1, 1024);
  if (a.has("checkpoint"))
    options.expected_heads = read_checkpoint(a.required("checkpoint"), options.trusted_keys).heads;
  const bool quiet = a.has("quiet");
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO) == 1;

  auto t = open_target(a, true, true);
  return verify_target(t, options, quiet, show_progress);
}

// Verifies everything, then prints the heads of every chain as a checkpoint (signed with --key):
// only for a ledger that checks out, so a checkpoint never vouches for damage.
int run_checkpoint(const arguments& a) {
  std::optional<logline::ed25519::key> key;
  if (a.has("key") || a.has("key-env")) key = load_key(a);
  logline::verify_options options;
  if (a.has("threads")) options.threads = parse_count(a.required("threads"), "threads", 1, 1024);
  const bool quiet = a.has("quiet");
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO) == 1;
  auto t = open_target(a, true, true);
  logline::verify_report report;
  const auto taken = logline::timestamp::now();
  const int code = verify_target(t, options, quiet, show_progress, &report);
  if (code != exit_ok) {
    err("checkpoint: not taken: the ledger does not verify (" + std::to_string(report.problems) +
        " problem" + (report.problems == 1 ? "" : "s") + ", listed above)\n");
    return code;
  }
  auto c = logline::checkpoint::of(report, taken);
  if (key) c.sign(*key);
  out(c.to_text() + "\n");
  if (!quiet)
    err("checkpoint: " + std::to_string(c.heads.size()) + " chain head" +
        (c.heads.size() == 1 ? "" : "s") + " of " + std::to_string(report.spans_checked) +
        " verified spans" + (key ? ", signed by " + key->public_key().to_string() : std::string()) +
        "\n");
  return finish_stdout(exit_ok);
}

int verify_target(target& t, logline::verify_options& options, bool quiet, bool show_progress,
                  logline::verify_report* kept) {
  // Findings stream out as they are found (nothing is kept in memory): on stdout, or on stderr
  // when stdout carries something else (a checkpoint).
  options.max_findings_kept = 0;
  const auto start = std::chrono::steady_clock::now();
  progress bar(kept ? "checkpoint" : "verify", span_count(t), quiet);
  options.on_finding = [&](const logline::finding& f) {
    bar.clear();
    const std::string line = f.id.to_string() + " " + std::to_string(f.seq) + " " +
                             std::string(logline::to_string(f.kind)) + ": " + one_line(f.detail) +
                             "\n";
    if (kept)
      err(line);
    else
      out(line);
    if (show_progress) std::fflush(stdout);
  };
  options.on_progress = [&](std::uint64_t checked) { bar.update(checked); };

  auto report = t.recorded ? logline::sqlite::verify_recorded(*t.sqlite, *t.recorded, options)
                           : with_ledger(t, reader_identity, std::nullopt,
                                         [&](auto& ledger) { return ledger.verify(options); });
  bar.clear();
  if (!report) throw cli_error("verification could not run: " + report.error().message());
  if (kept) *kept = *report;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string counts = std::to_string(report->spans_checked) + " spans in " +
                             std::to_string(report->chains) + " chain" +
                             (report->chains == 1 ? "" : "s");
  if (!report->ok()) {
    const int code = kept ? exit_verify_failed : finish_stdout(exit_verify_failed);
    err("verify: FAILED: " + std::to_string(report->problems) + " problem" +
        (report->problems == 1 ? "" : "s") + " in " + counts + "\n");
    return code;
  }
  if (!quiet && !kept) {
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.2f", seconds);
    std::string checked = "hashes, links, signatures";
    if (t.recorded) {
      // What the table records is what was checked; say what that is.
      const auto& p = t.recorded->profile;
      checked =
          std::string(p.hashed ? "hashes" : "no hashes") + (p.chained ? ", links" : ", no chain") +
          (p.signed_ ? ", signatures" : ", no signatures") + " of table '" + t.recorded->name + "'";
    }
    err("verify: ok: " + counts + " check out (" + checked +
        (options.trusted_keys.empty() ? "" : ", trusted keys") +
        (options.expected_heads.empty()
             ? ""
             : ", the checkpoint's " + std::to_string(options.expected_heads.size()) +
                   " chain heads") +
        ") in " + elapsed + " s\n");
  }
  return kept ? exit_ok : finish_stdout(exit_ok);
}

// ---- schema ------------------------------------------------------------------------------------

int run_schema(const arguments& a) {
  const std::string header =
      "-- Generated by logline from logline::universal_span with append_only, hash_chained, "
      "signed_by<ed25519>, tenant_isolated.\n";
  if (a.has("postgres"))
    out(header +
        "-- Regenerate with: logline-cli schema --postgres > "
        "sql/postgres/0001_universal_registry.sql\n" +
        pg_ledger_type::store_type::ddl(pg_ledger_type::table()));
  else
    out(header +
        "-- Regenerate with: logline-cli schema > sql/sqlite/0001_universal_registry.sql\n" +
        ledger_type::store_type::ddl(ledger_type::table()) +
        "-- The table is logline's, made from the DDL above (logline refuses a table made for "
        "another schema):\n" +
        ledger_type::store_type::record_sql(ledger_type::table()));
  return finish_stdout(exit_ok);
}

// ---- get, tail, import -----------------------------------------------------------------------

void print_span(const span& s) {
  std::string line = logline::span_to_json_text(s);
  line += '\n';
  out(line);
}

int run_get(const arguments& a) {
  auto id = logline::uuid::parse(a.required("id"));
  if (!id) throw cli_error("--id: " + id.error().message(), true);
  std::optional<std::int32_t> seq;
  if (a.has("seq"))
    seq = static_cast<std::int32_t>(parse_count(a.required("seq"), "seq", 0, INT32_MAX));
  auto t = open_target(a, true);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    if (a.has("history")) {
      auto rows = ledger.history_any(*id);
      if (!rows) throw cli_error(rows.error().message());
      if (rows->empty()) throw cli_error("span " + id->to_string() + " not found");
      for (const auto& s : *rows) print_span(s);
    } else {
      auto r = seq ? ledger.get_any(*id, *seq) : ledger.get_any(*id);
      if (!r) throw cli_error(r.error().message());
      print_span(*r);
    }
    return finish_stdout(exit_ok);
  });
}

int run_tail(const arguments& a) {
  std::string cursor = a.get("after").value_or("");
  const bool follow = a.has("follow");
  const std::optional<std::string> type = a.get("entity-type");
  const bool cursors = a.has("cursors");
  auto t = open_target(a, true, false, follow);
  std::unique_ptr<logline::postgres::listener> listener;
  if (follow && t.postgres) {
    auto l = logline::postgres::listener::open(t.url);
    if (!l) throw cli_error(l.error().message());
    listener = std::move(*l);
  }
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    for (;;) {
      auto batch = ledger.changes_any(cursor, 500);
      if (!batch) throw cli_error(batch.error().message());
      for (const auto& c : *batch) {
        cursor = c.cursor;
        if (type && c.span.entity_type != *type) continue;
        if (cursors) out(c.cursor + "\t");
        print_span(c.span);
      }
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) return finish_stdout(exit_ok);
      if (batch->size() == 500) continue;
      if (!follow) return finish_stdout(exit_ok);
      // Other processes' commits: LISTEN on PostgreSQL, a short poll on SQLite.
      if (listener)
        (void)listener->wait(std::chrono::seconds(1));
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

int run_import(const arguments& a) {
  std::vector<span> spans;
  std::vector<std::string> problems;
  std::string text;
  for (std::size_t line = 1; std::getline(std::cin, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto s = logline::span_from_json_text<span>(text);
    if (!s)
      problems.push_back(line_problem(line, s.error().message()));
    else
      spans.push_back(std::move(*s));
  }
  if (std::cin.bad()) throw cli_error("cannot read stdin");
  if (!problems.empty()) {
    report_bad_lines(problems);
    return exit_error;
  }
  auto t = open_target(a, false);
  const bool quiet = a.has("quiet");
  progress bar("import: checking", spans.size(), quiet);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    // Checked in full (hashes, signatures, in parallel; then versions, chain links) before
    // anything is written; written in one transaction.
    const std::size_t n = spans.size();
    const auto start = std::chrono::steady_clock::now();
    auto stored = ledger.import_batch(std::move(spans), [&](std::size_t checked) {
      bar.update(checked);
      if (checked == n && !quiet && ::isatty(STDERR_FILENO) == 1) {
        bar.clear();
        err("import: " + std::to_string(n) +
            " spans check out; writing them in one transaction...");
      }
    });
    if (!quiet && ::isatty(STDERR_FILENO) == 1) err("\r\033[K");
    bar.clear();
    if (!stored) {
      err("logline-cli import: nothing imported: " + write_failure(stored.error(), t.wait) + "\n");
      return exit_error;
    }
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.2f",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!quiet) err("import: " + std::to_string(n) + " spans imported in " + elapsed + " s\n");
    return finish_stdout(exit_ok);
  });
}

// ---- token -------------------------------------------------------------------------------------

// API tokens for logline-server are api_token spans written as the token administrator
// (logline::http::token_admin); only the token's hash is stored.
int run_token_issue(const arguments& a) {
  logline::identity who{a.required("user"), std::nullopt};
  if (a.has("tenant")) who.tenant_id = a.required("tenant");
  auto scopes = logline::http::parse_scopes(a.required("scopes"));
  if (!scopes) throw cli_error("--scopes: " + scopes.error().message(), true);
  auto key = load_key(a);
  auto t = open_target(a, false);
  const std::string token = logline::http::generate_token();
  return with_ledger(t, logline::http::token_admin, std::move(key), [&](auto& ledger) {
    if (ledger.operators().is_operator(who))
      throw cli_error("'" + who.user_id +
                      "' without a tenant is an operator identity: tokens are for users (servers "
                      "ignore a token for an operator)");
    auto stored =
        ledger.append(logline::http::token_span(token, who, *scopes, a.get("label").value_or("")));
    if (!stored) throw cli_error("cannot issue the token: " + stored.error().message());
    out(token + "\n");
    err("token " + stored->id.to_string() + " issued for " + who.user_id +
        (who.tenant_id ? " (tenant " + *who.tenant_id + ")" : std::string()) +
        "; it is shown once: only its hash is stored\n");
    return finish_stdout(exit_ok);
  });
}

int run_token_revoke(const arguments& a) {
  auto id = logline::uuid::parse(a.required("id"));
  if (!id) throw cli_error("--id: " + id.error().message(), true);
  auto key = load_key(a);
  auto t = open_target(a, false);
  return with_ledger(t, logline::http::token_admin, std::move(key), [&](auto& ledger) {
    auto current = ledger.get(*id);
    if (!current || current->entity_type != logline::http::token_entity_type)
      throw cli_error("no api token " + id->to_string());
    if (current->status == "revoked")
      throw cli_error("token " + id->to_string() + " is already revoked");
    auto next = logline::universal_span{};
    next.id = current->id;
    next.entity_type = current->entity_type;
    next.who = logline::http::token_admin.user_id;
    next.did = "revoked";
    next.this_ = current->this_;
    next.status = "revoked";
    next.metadata = current->metadata;
    auto stored = ledger.append_version(std::move(next));
    if (!stored) throw cli_error("cannot revoke: " + stored.error().message());
    err("token " + id->to_string() + " revoked (version " + std::to_string(stored->seq) + ")\n");
    return finish_stdout(exit_ok);
  });
}

// ---- seed and force ----------------------------------------------------------------------------

// The seed spans are owned by "logline" and go in the chain of spans without a tenant.
const logline::identity seed_identity{"logline", std::nullopt};

template <class Ledger>
std::size_t seed_ledger(Ledger& ledger) {
  auto appended = logline::runtime::seed(ledger);
  if (!appended) throw cli_error("cannot seed: " + appended.error().message());
  return *appended;
}

// A SQL string literal: single quotes doubled. Spans hold valid UTF-8 without U+0000
// (validate_span), and backslashes are plain characters (standard_conforming_strings, set by the
// PostgreSQL script).
std::string sql_string(std::string_view v) {
  if (v.find('\0') != std::string_view::npos)
    throw cli_error("a value holds U+0000, which has no SQL literal");
  std::string s = "'";
  for (char c : v) {
    if (c == '\'') s += '\'';
    s += c;
  }
  return s + "'";
}

// The values SQLite's store binds, as literals.
class sqlite_literal final : public logline::value_sink {
 public:
  std::string value;
  void null() override { value = "NULL"; }
  void integer(std::int64_t v) override { value = std::to_string(v); }
  void real(double v) override {
    value.clear();
    logline::write_canonical_number(value, v);
  }
  void text(std::string_view v) override { value = sql_string(v); }
};

// One row of an INSERT's VALUES: every column of the stored span, as the backend's own insert
// binds it (on PostgreSQL, the text input the store sends; untyped literals take the column's type).
std::string sql_row(const span& s, bool postgres) {
  std::string row;
  auto add = [&](const std::string& value) { row += (row.empty() ? "(" : ", ") + value; };
  const auto& columns = logline::schema<span>::columns();
  if (postgres) {
    logline::postgres::params p;
    logline::postgres::detail::row_encoder enc(p);
    for (const auto& c : columns) {
      enc.kind(c.kind);
      c.bind(s, enc);
    }
    for (std::size_t i = 0; i < p.size(); ++i) add(p.is_null(i) ? "NULL" : sql_string(p.value(i)));
  } else {
    sqlite_literal literal;
    for (const auto& c : columns) {
      c.bind(s, literal);
      add(literal.value);
    }
  }
  return row + ")";
}

// The seed spans as a SQL script for an empty ledger: sealed (hashed, chained, signed) by seeding
// a throwaway in-memory ledger, then written as one INSERT, so that they all go in or none does.
int run_seed_sql(const arguments& a) {
  const std::string dialect = a.required("sql");
  if (dialect != "sqlite" && dialect != "postgres")
    throw cli_error("--sql must be sqlite or postgres, not '" + one_line(dialect) + "'", true);
  if (a.has("db") || a.has("postgres") || a.has("postgres-env"))
    throw cli_error("--sql prints a script: it takes no --db or --postgres", true);
  const bool postgres = dialect == "postgres";
  auto key = load_key(a);
  const std::string public_key = key.public_key().to_string();

  auto db = logline::sqlite::database::open(":memory:");
  if (!db) throw cli_error(db.error().message());
  target scratch;
  scratch.sqlite = std::move(*db);
  std::vector<span> spans;
  with_ledger(scratch, seed_identity, std::move(key), [&](auto& ledger) {
    seed_ledger(ledger);
    auto r = ledger.export_all([&](const span& s) -> logline::result<void> {
      spans.push_back(s);
      return {};
    });
    if (!r) throw cli_error(r.error().message());
    return exit_ok;
  });

  const std::string file = "sql/" + dialect + "/0001_universal_registry.sql";
  std::string script =
      "-- LogLineOS's seed spans (the kernels run_code, observer_bot, request_worker, "
      "policy_agent,\n"
      "-- provider_exec and the manifest), signed by " +
      public_key +
      ",\n"
      "-- which is also the manifest's override key. Generated by: logline-cli seed --sql " +
      dialect +
      " --key FILE\n"
      "-- For an EMPTY ledger created with " +
      file +
      ": these are the first spans\n"
      "-- (chain positions 0-" +
      std::to_string(spans.size() - 1) +
      ") of the chain of spans without a tenant. On a ledger where that chain\n"
      "-- has spans, the one INSERT fails on a unique index (the chain's, or the primary key) and "
      "nothing is written.\n";
  script += postgres ? "-- Apply as the table owner (or a member of logline_app): psql -v "
                       "ON_ERROR_STOP=1 -f seed.sql URL\n"
                       "BEGIN;\n"
                       "SET LOCAL standard_conforming_strings = on;\n"
                       "SET LOCAL client_encoding = 'UTF8';\n"
                       // The row-level security policy for INSERT: owner_id = app.user_id.
                       "SET LOCAL app.user_id = " +
                           sql_string(seed_identity.user_id) + ";\n"
                     : "-- Apply with: sqlite3 ledger.db < seed.sql\n"
                       "BEGIN;\n";
  script += "INSERT INTO \"" + std::string(span::span_name) + "\" (";
  const auto& columns = logline::schema<span>::columns();
  for (std::size_t i = 0; i < columns.size(); ++i)
    script += (i ? ", \"" : "\"") + std::string(columns[i].name) + "\"";
  script += ") VALUES\n";
  for (std::size_t i = 0; i < spans.size(); ++i)
    script += "  " + sql_row(spans[i], postgres) + (i + 1 < spans.size() ? ",\n" : ";\n");
  script += "COMMIT;\n";
  out(script);
  return finish_stdout(exit_ok);
}

// The seed policies (ttl_reaper, slow_execution) for one owner and tenant.
int run_seed_policies(const arguments& a) {
  if (a.has("sql")) throw cli_error("--policies appends to a ledger: it has no --sql form", true);
  logline::identity who{a.required("user"), std::nullopt};
  if (a.has("tenant")) who.tenant_id = a.required("tenant");
  auto key = load_key(a);
  auto t = open_target(a, false);
  return with_ledger(t, who, std::move(key), [&](auto& ledger) {
    auto appended = logline::runtime::install_seed_policies(ledger, who);
    if (!appended)
      throw cli_error("cannot install the seed policies: " + appended.error().message());
    err(*appended ? "installed the seed policies for " + who.user_id +
                        (who.tenant_id ? " (tenant " + *who.tenant_id + ")" : std::string()) +
                        ": " + std::to_string(*appended) + " spans appended\n"
                  : std::string("the seed policies are there already: nothing appended\n"));
    for (const auto& p : logline::runtime::seed_policies(who))
      out(*p.name + " " + p.id.to_string() + "\n");
    return finish_stdout(exit_ok);
  });
}

int run_seed(const arguments& a) {
  if (a.has("policies")) return run_seed_policies(a);
  if (a.has("user") || a.has("tenant"))
    throw cli_error("--user and --tenant go with --policies", true);
  if (a.has("sql")) return run_seed_sql(a);
  auto key = load_key(a);
  auto t = open_target(a, false);
  return with_ledger(t, seed_identity, std::move(key), [&](auto& ledger) {
    const std::size_t appended = seed_ledger(ledger);
    err(appended
            ? "seeded the manifest and kernels: " + std::to_string(appended) + " spans appended\n"
            : std::string("the manifest and kernels are there already: nothing appended\n"));
    return finish_stdout(exit_ok);
  });
}

// The override grant for a function's current code (run_code.hpp): signed by the manifest's
// override key, it lets the function's runs past the daily quota.
int run_force(const arguments& a) {
  auto id = logline::uuid::parse(a.required("function"));
  if (!id) throw cli_error("--function: " + id.error().message(), true);
  auto key = load_key(a);
  auto t = open_target(a, true);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    auto fn = ledger.get_any(*id);
    if (!fn) throw cli_error(fn.error().message());
    if (fn->entity_type != logline::entity::function)
      throw cli_error("span " + id->to_string() + " is not a function (entity_type '" +
                      one_line(fn->entity_type) + "')");
    if (!fn->code || fn->code->empty())
      throw cli_error("function " + id->to_string() + " has no code to grant");
    // The manifest as the runtime takes it, for a warning; the CLI does not hold the ledger's
    // key, so it takes the newest one an operator identity owns (the runtime also checks whose
    // key signed it).
    auto operators_own = [&](const span& s) {
      return ledger.operators().is_operator(s.owner_id, s.tenant_id);
    };
    if (auto m = logline::runtime::load_manifest(ledger, operators_own);
        m && m->override_key != key.public_key())
      err("logline-cli force: warning: the manifest's override_pubkey_hex is " +
          (m->override_key ? m->override_key->to_string() : "null") + ", not this key's " +
          key.public_key().to_string() + ": run_code will refuse the grant\n");
    const logline::json grant{
        {"force", {{"signature", logline::runtime::force_grant(key, *id, *fn->code)}}}};
    out(logline::canonical(grant) + "\n");
    err("grant for the code of " + id->to_string() + " version " + std::to_string(fn->seq) +
        ": put it in the function's metadata (a new version with the same code); changed code "
        "needs a new grant\n");
    return finish_stdout(exit_ok);
  });
}

// ---- commands ----------------------------------------------------------------------------------

constexpr const char* postgres_owner_help =
    "with --postgres: the role that owns the tables (migrations, reading every span, the "
    "operator's writes); default: the --postgres role";
constexpr const char* postgres_env_help =
    "--postgres's URL from environment variable VAR (keeps a password out of ps; or let libpq read "
    "it from ~/.pgpass, PGPASSFILE)";
constexpr const char* postgres_owner_env_help =
    "--postgres-owner's URL from environment variable VAR";
constexpr const char* table_help =
    "with --db: the logline table to read, of any span type (default: universal_registry, else the "
    "only table the file records)";

const std::vector<command>& commands() {
  static const std::vector<command> list = {
      {"keygen",
       "create an Ed25519 signing key, or print the public key of one",
       "--out FILE [--force] | --public (--key FILE | --key-env VAR)",
       "Writes a new 32-byte Ed25519 seed to FILE as 64 hex characters (file mode 0600) and "
       "prints\n"
       "its public key. An existing FILE is never overwritten unless --force is given.\n"
       "With --public, prints the public key of an existing seed instead.",
       {{"out", "FILE", false, "where to write the new seed"},
        {"force", "", false, "replace FILE if it exists"},
        {"public", "", false, "print the public key of --key/--key-env"},
        {"key", "FILE", false, "seed file (with --public)"},
        {"key-env", "VAR", false, "environment variable holding the seed (with --public)"}},
       run_keygen},
      {"append",
       "append spans read as NDJSON from stdin, in one transaction",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --user USER [--tenant TENANT] < "
       "spans.ndjson",
       "Reads one JSON span per line (blank lines are skipped). A line without \"seq\" becomes the "
       "next\n"
       "version of its \"id\" (or a new entity when it has no id); a line with \"seq\" must be "
       "exactly\n"
       "the next version. The ledger sets at, prev_hash, chain_position, public_key, curr_hash "
       "and\n"
       "signature: lines naming them are refused. Every line is checked before anything is "
       "written,\n"
       "and all of them are appended in one transaction, or none. The stored spans are printed as\n"
       "NDJSON (not with --quiet). The database is created if it does not exist.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (libpq URL or conninfo)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file (see keygen)"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"user", "USER", false, "identity that writes (default owner_id)"},
        {"tenant", "TENANT", false, "tenant of that identity (default tenant_id)"},
        {"quiet", "", false, "print nothing on success (not the stored spans)"},
        {"wait", "SECONDS", false,
         "how long to wait for another writer's lock (SQLite; default 5)"}},
       run_append},
      {"export",
       "print every span as NDJSON, in commit order",
       "(--db FILE | --postgres URL) [--since TIME]",
       "Prints every stored span, whoever owns it, one JSON object per line in commit order: "
       "every\n"
       "non-null column with keys sorted, i.e. the hashed fields plus curr_hash and signature.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false,
         "PostgreSQL database instead of --db (the table owner's role: export reads every span)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"since", "TIME", false, "only spans with at >= TIME (YYYY-MM-DDTHH:MM:SS.mmmZ)"},
        {"table", "NAME", false, table_help}},
       run_export},
      {"verify",
       "check every hash, chain link and signature",
       "(--db FILE | --postgres URL) [--trust KEY]... [--threads N] [--quiet]",
       "Recomputes every span's hash, checks its signature and its link to the previous span of "
       "its\n"
       "chain, and looks for gaps and forks. Each problem is printed on stdout as\n"
       "  <id> <seq> <reason>: <detail>\n"
       "Exit status 0 if everything checks out, 1 if there is any problem. A SQLite ledger of any\n"
       "span type is read from the DDL its file records (--table); a copy without its -wal file "
       "is\n"
       "read as an immutable file, so nothing is created beside it and read-only media work.",
       {{"db", "FILE", false, "SQLite database (must exist; opened read-only)"},
        {"postgres", "URL", false,
         "PostgreSQL database instead of --db (the table owner's role: verify reads every span)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"trust", "KEY", true,
         "accept only signatures by this public key (hex) or seed file; repeatable"},
        {"checkpoint", "FILE", false,
         "also require every chain to still hold the head recorded in FILE (see checkpoint)"},
        {"threads", "N", false, "threads for hashing and signature checks (default: all cores)"},
        {"quiet", "", false, "no progress and no summary when everything checks out"},
        {"table", "NAME", false, table_help}},
       run_verify},
      {"checkpoint",
       "verify, then print the head of every chain (a checkpoint to keep elsewhere)",
       "(--db FILE | --postgres URL) [--key FILE | --key-env VAR] [--threads N] [--quiet]",
       "Verifies the whole ledger; if it checks out, prints one JSON line on stdout: the time and, "
       "for\n"
       "every chain, its last span (position, id, seq, curr_hash), signed with --key if given. "
       "Keep it\n"
       "outside the ledger; 'verify --checkpoint FILE' later reports a chain whose last spans "
       "were\n"
       "removed (truncated) or replaced (head mismatch) since. If the ledger does not verify, the\n"
       "problems go to stderr, nothing to stdout, and the exit status is 1.",
       {{"db", "FILE", false, "SQLite database (must exist; opened read-only)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "sign the checkpoint with this Ed25519 seed file"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"threads", "N", false, "threads for hashing and signature checks (default: all cores)"},
        {"quiet", "", false, "no progress and no summary"},
        {"table", "NAME", false, table_help}},
       run_checkpoint},
      {"get",
       "print a span (its latest version, one version, or its history) as NDJSON",
       "(--db FILE | --postgres URL) --id UUID [--seq N | --history]",
       "Reads as the operator: every span, whoever owns it.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"id", "UUID", false, "the span's id"},
        {"seq", "N", false, "that version"},
        {"history", "", false, "every version, oldest first"}},
       run_get},
      {"tail",
       "print the change feed as NDJSON; with -f, keep following it",
       "(--db FILE | --postgres URL) [--after CURSOR] [-f | --follow] [--entity-type T] "
       "[--cursors]",
       "Prints every span after the feed cursor CURSOR (from the beginning without --after), in "
       "feed\n"
       "order, reading as the operator. With --follow, waits for new spans (LISTEN/NOTIFY on "
       "PostgreSQL,\n"
       "a 200 ms poll on SQLite) until interrupted. --cursors prefixes each line with its cursor "
       "and a tab.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"after", "CURSOR", false, "start after this feed cursor"},
        {"follow", "", false, "keep following (-f)"},
        {"entity-type", "T", false, "only spans of this entity_type"},
        {"cursors", "", false, "print each span's cursor, then a tab, before it"}},
       run_tail},
      {"import",
       "append sealed spans (an export) read as NDJSON from stdin, all or nothing",
       "(--db FILE | --postgres URL) < spans.ndjson",
       "Reads spans in the export form (hashed, signed, chained). Before anything is written, "
       "every\n"
       "span must hash to its curr_hash and carry a valid signature; in one transaction, each must "
       "be\n"
       "its id's next version and continue its chain exactly. Any failure: nothing is imported, "
       "exit 2.",
       {{"db", "FILE", false, "SQLite database (created if missing)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"quiet", "", false, "no progress and no summary"},
        {"wait", "SECONDS", false,
         "how long to wait for another writer's lock (SQLite; default 5)"}},
       run_import},
      {"token issue",
       "issue an API token for logline-server (printed once; only its hash is stored)",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --user USER [--tenant TENANT] "
       "--scopes LIST [--label TEXT]",
       "Appends an api_token span (as the token administrator) holding the BLAKE3 hash of a new "
       "random\n"
       "token, the identity it stands for and its scopes, and prints the token. Scopes "
       "(comma-separated):\n"
       "spans:read, spans:write, execute, admin.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file of the server's ledger"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"user", "USER", false, "the identity the token stands for"},
        {"tenant", "TENANT", false, "its tenant"},
        {"scopes", "LIST", false, "comma-separated scopes"},
        {"label", "TEXT", false, "a name for the token"}},
       run_token_issue},
      {"token revoke",
       "revoke an API token (a new version with status revoked)",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --id UUID",
       "Appends a new version of the api_token span with status \"revoked\"; servers stop "
       "accepting the\n"
       "token within seconds.",
       {{"db", "FILE", false, "SQLite database"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "Ed25519 seed file of the server's ledger"},
        {"key-env", "VAR", false, "environment variable holding the seed"},
        {"id", "UUID", false, "the token's span id (printed by token issue)"}},
       run_token_revoke},
      {"seed",
       "append LogLineOS's manifest and kernel function spans (once), or print them as SQL; or the "
       "seed policies",
       "(--db FILE | --postgres URL | --sql sqlite|postgres) (--key FILE | --key-env VAR) | (--db "
       "FILE | --postgres URL) "
       "(--key FILE | --key-env VAR) --policies --user USER [--tenant TENANT]",
       "Appends the kernel function spans run_code, observer_bot, request_worker, policy_agent "
       "and\n"
       "provider_exec and the manifest, with LogLineOS's ids, public, signed by the key (which "
       "also\n"
       "becomes the manifest's override key). Spans that exist already are not appended again.\n"
       "With --sql, writes nothing: prints a SQL script that inserts those spans, sealed, into an "
       "EMPTY\n"
       "ledger created with sql/<dialect>/0001_universal_registry.sql (chain positions 0-5 of the "
       "chain\n"
       "without a tenant). On a ledger where that chain has spans, the script fails and inserts "
       "nothing.\n"
       "With --policies, appends the seed policies ttl_reaper and slow_execution instead, owned by "
       "USER\n"
       "in TENANT (once per owner and tenant), and prints their ids; the policy agent runs them.",
       {{"db", "FILE", false, "SQLite database (created if missing)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"sql", "DIALECT", false,
         "print the seed spans as a SQL script for sqlite or postgres instead"},
        {"policies", "", false, "append the seed policies (ttl_reaper, slow_execution) instead"},
        {"user", "USER", false, "owner of the seed policies (with --policies)"},
        {"tenant", "TENANT", false, "their tenant (with --policies)"},
        {"key", "FILE", false, "Ed25519 seed file"},
        {"key-env", "VAR", false, "environment variable holding the seed"}},
       run_seed},
      {"force",
       "print the override grant that lets a function run past the daily quota",
       "(--db FILE | --postgres URL) (--key FILE | --key-env VAR) --function UUID",
       "Reads the function's latest version (as the operator) and prints "
       "{\"force\":{\"signature\":...}}:\n"
       "the override key's signature over the function's id and code. Put it in the function's\n"
       "metadata (a new version); run_code accepts it while the code is unchanged and the key is "
       "the\n"
       "manifest's override_pubkey_hex.",
       {{"db", "FILE", false, "SQLite database (must exist)"},
        {"postgres", "URL", false, "PostgreSQL database instead of --db (the table owner's role)"},
        {"postgres-owner", "URL", false, postgres_owner_help},
        {"postgres-env", "VAR", false, postgres_env_help},
        {"postgres-owner-env", "VAR", false, postgres_owner_env_help},
        {"key", "FILE", false, "the manifest's override key (Ed25519 seed file)"},
        {"key-env", "VAR", false, "environment variable holding it"},
        {"function", "UUID", false, "the function span's id"}},
       run_force},
      {"schema",
       "print the DDL of the ledger (SQLite, or PostgreSQL)",
       "[--postgres]",
       "Prints the DDL that the ledger creates (checked in as "
       "sql/sqlite/0001_universal_registry.sql,\n"
       "and with --postgres as sql/postgres/0001_universal_registry.sql).",
       {{"postgres", "", false, "print the PostgreSQL DDL"}},
       run_schema},
  };
  return list;
}

// The commands whose names start with `prefix` ("" for all, "token " for token issue|revoke),
// one per line, the summaries aligned after the longest name.
std::string command_list(std::string_view prefix) {
  std::size_t width = 0;
  for (const auto& c : commands())
    if (c.name.substr(0, prefix.size()) == prefix) width = std::max(width, c.name.size());
  std::string s;
  for (const auto& c : commands()) {
    if (c.name.substr(0, prefix.size()) != prefix) continue;
    std::string left = "  " + std::string(c.name);
    left.resize(2 + width + 2, ' ');
    s += left + std::string(c.summary) + "\n";
  }
  return s;
}

std::string main_usage() {
  std::string s =
      "usage: logline-cli <command> [options]\n\n"
      "Keys, appends, export and verification for a logline ledger of universal spans in SQLite\n"
      "(append-only, hash-chained per tenant, Ed25519-signed, tenant-isolated).\n\ncommands:\n";
  s += command_list("");
  s += "\n'logline-cli <command> --help' describes a command; 'logline-cli --version' prints the "
       "version.\n"
       "Exit status: 0 success, 1 verification failed, 2 bad usage, bad input or I/O error.\n";
  return s;
}

int run(int argc, char** argv) {
  if (argc < 2) {
    err(main_usage());
    return exit_error;
  }
  std::string name = argv[1];
  int first = 2;
  if (name == "token" && argc > 2 && argv[2][0] != '-') {  // two-word commands: token issue|revoke
    name += ' ';
    name += argv[2];
    first = 3;
  }
  if (name == "--version") {
    out("logline-cli " + std::string(logline::version) + "\n");
    return finish_stdout(exit_ok);
  }
  if (name == "token") {  // without a subcommand, or with --help: the token commands
    const bool asked =
        argc > 2 && (std::string_view(argv[2]) == "--help" || std::string_view(argv[2]) == "-h");
    const std::string text = "usage: logline-cli token issue|revoke [options]\n\ncommands:\n" +
                             command_list("token ") +
                             "\n'logline-cli token <command> --help' describes a command.\n";
    if (asked) {
      out(text);
      return finish_stdout(exit_ok);
    }
    err("logline-cli token: which one?\n\n" + text);
    return exit_error;
  }
  if (name == "--help" || name == "-h" || name == "help") {
    if (name == "help" && argc > 2) {
      for (const auto& c : commands())
        if (c.name == argv[2]) {
          out(command_help(c));
          return finish_stdout(exit_ok);
        }
    }
    out(main_usage());
    return finish_stdout(exit_ok);
  }
  const auto& list = commands();
  auto c =
      std::find_if(list.begin(), list.end(), [&](const command& cmd) { return cmd.name == name; });
  if (c == list.end()) {
    err("logline-cli: unknown command '" + one_line(name) + "'\n\n" + main_usage());
    return exit_error;
  }
  try {
    return c->run(parse_arguments(*c, argc, argv, first));
  } catch (const cli_error& e) {
    err("logline-cli " + std::string(c->name) + ": " + e.what() + "\n");
    if (e.show_usage) err("\n" + command_help(*c));
    return exit_error;
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const logline::bad_result_access& e) {
    err("logline-cli: " + one_line(e.what()) + "\n");
  } catch (const std::exception& e) {
    err("logline-cli: unexpected error: " + one_line(e.what()) + "\n");
  } catch (...) {
    err("logline-cli: unexpected error\n");
  }
  return exit_error;
}
