#pragma once
// The conformance fixtures: one per backend. Every TEMPLATE_TEST_CASE of a conformance source
// (tests/<area>/*_conformance.cpp) runs against each of them, in the backend's own test binary,
// so all backends are held to the same behaviour.
#include <concepts>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <cstdlib>
#include <stdexcept>

#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/sqlite.hpp>

namespace conformance {

// A fresh SQLite database file in the working directory, removed afterwards.
struct sqlite_file {
  using backend = logline::sqlite::backend;
  static constexpr const char* name = "sqlite";
  std::string path;
  std::unique_ptr<logline::sqlite::database> db;

  sqlite_file() {
    std::random_device rd;
    path = (std::filesystem::temp_directory_path() /
            ("logline-test-" + std::to_string(rd()) + std::to_string(rd()) + ".db"))
               .string();
    db = logline::sqlite::database::open(path).value();
  }
  ~sqlite_file() {
    db.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  logline::sqlite::database& database() { return *db; }
  // A second, independent connection to the same database (another process would do the same).
  std::unique_ptr<logline::sqlite::database> connect() {
    return logline::sqlite::database::open(path).value();
  }
  // SQL run as the table owner, bypassing the library (tamper tests).
  logline::result<void> exec_raw(const std::string& sql) { return db->exec(sql); }
  logline::result<void> drop_append_only_guards(const std::string& table) {
    LOGLINE_TRY_VOID(db->exec("DROP TRIGGER IF EXISTS \"" + table + "_no_update\""));
    return db->exec("DROP TRIGGER IF EXISTS \"" + table + "_no_delete\"");
  }
  // As the table owner: the database's version rule off (a version must keep its entity's
  // owner), to plant what only a bug or tampering could write and see the readers refuse it.
  // SQLite has none: the library checks the rule (docs/decisions.md, 47).
  logline::result<void> drop_version_rule(const std::string&) { return {}; }
  // Every insert from now on fails inside the database, with words of the engine's own.
  logline::result<void> refuse_inserts(const std::string& table) {
    return db->exec("CREATE TRIGGER refuse_all BEFORE INSERT ON \"" + table +
                    "\" BEGIN SELECT RAISE(ABORT, 'internal trigger refuse_all says no'); END");
  }
  // A stored value that logline cannot decode (the column is TEXT: anything goes).
  static std::string undecodable_at() { return "at = '2025-13-45T99:99:99.999Z'"; }
  static std::string uuid_type() { return "TEXT"; }
  // How the DDL spells three columns of billing::payment (user_span_test.cpp).
  static std::vector<std::string> payment_columns() {
    return {"\"amount_cents\" INTEGER NOT NULL", "\"fx_rate\" REAL NOT NULL",
            "\"refunded\" INTEGER NOT NULL DEFAULT 0"};
  }
};

// The PostgreSQL server of `make test` (scripts/pg-cluster.sh): LOGLINE_TEST_PG_DSN connects as
// the owner role, LOGLINE_TEST_PG_APP_DSN as a member of logline_app. A missing variable fails
// the test: PostgreSQL cases are never skipped.
inline std::string pg_env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v)
    throw std::runtime_error(std::string(name) +
                             " is not set: the PostgreSQL tests need the cluster of `make test` "
                             "(scripts/pg-cluster.sh)");
  return v;
}

// A fresh schema in the test database, dropped afterwards. The ledger connects as the
// application role; migrations, verify, export and the raw SQL of tamper tests run as the owner.
struct postgres_schema {
  using backend = logline::postgres::backend;
  static constexpr const char* name = "postgres";
  std::string schema, owner_dsn, app_dsn;
  std::unique_ptr<logline::postgres::database> db;
  std::unique_ptr<logline::postgres::connection> owner;

  postgres_schema() {
    std::random_device rd;
    schema = "t_" + std::to_string(rd()) + std::to_string(rd());
    owner_dsn = pg_env("LOGLINE_TEST_PG_DSN") + " options=-csearch_path=" + schema;
    app_dsn = pg_env("LOGLINE_TEST_PG_APP_DSN") + " options=-csearch_path=" + schema;
    owner = logline::postgres::connection::open(owner_dsn).value();
    owner->exec("CREATE SCHEMA " + schema + "; GRANT USAGE ON SCHEMA " + schema + " TO logline_app")
        .value();
    db = connect();
  }
  ~postgres_schema() {
    db.reset();
    (void)owner->exec("DROP SCHEMA " + schema + " CASCADE");
  }
  logline::postgres::database& database() { return *db; }
  std::unique_ptr<logline::postgres::database> connect() {
    return logline::postgres::database::open(app_dsn, {.pool_size = 4, .owner = owner_dsn}).value();
  }
  logline::result<void> exec_raw(const std::string& sql) { return owner->exec(sql); }
  // As the table owner: the append-only triggers off, and row-level security no longer forced
  // on the owner (who then bypasses it).
  logline::result<void> drop_append_only_guards(const std::string& table) {
    return owner->exec("ALTER TABLE \"" + table + "\" DISABLE TRIGGER USER; ALTER TABLE \"" +
                       table + "\" NO FORCE ROW LEVEL SECURITY");
  }
  logline::result<void> drop_version_rule(const std::string& table) {
    return owner->exec("ALTER TABLE \"" + table + "\" DISABLE TRIGGER \"" + table +
                       "_version_rule\"");
  }
  logline::result<void> refuse_inserts(const std::string& table) {
    return owner->exec("REVOKE INSERT ON \"" + table + "\" FROM logline_app");
  }
  // A stored value that logline cannot decode (jsonb keeps a number no double can hold).
  static std::string undecodable_at() { return "metadata = '{\"amount\": 1e400}'"; }
  static std::string uuid_type() { return "uuid"; }
  static std::vector<std::string> payment_columns() {
    return {"\"amount_cents\" bigint NOT NULL", "\"fx_rate\" double precision NOT NULL",
            "\"refunded\" boolean NOT NULL DEFAULT false"};
  }
};

// What a backend's fixture provides (docs/backend.md): one more fixture, selected below and given
// a test binary in tests/CMakeLists.txt (logline_add_backend_tests), runs every conformance,
// runtime and attack case against that backend.
template <class F>
concept fixture = std::default_initializable<F> &&
    logline::backend<typename F::backend, logline::universal_span> &&
    requires(F& f, const std::string& text) {
  { F::name } -> std::convertible_to<const char*>;
  { f.database() } -> std::same_as<typename F::backend::database&>;  // fresh and empty
  {
    f.connect()
    } -> std::same_as<std::unique_ptr<typename F::backend::database>>;  // a second connection
  // As the table's owner, past the library (tamper and attack tests):
  { f.exec_raw(text) } -> std::same_as<logline::result<void>>;
  { f.drop_append_only_guards(text) } -> std::same_as<logline::result<void>>;
  { f.drop_version_rule(text) } -> std::same_as<logline::result<void>>;
  { f.refuse_inserts(text) } -> std::same_as<logline::result<void>>;
  {
    F::undecodable_at()
    } -> std::same_as<std::string>;  // an UPDATE's SET that logline cannot decode
  { F::uuid_type() } -> std::same_as<std::string>;
  { F::payment_columns() } -> std::same_as<std::vector<std::string>>;
};
static_assert(fixture<sqlite_file>);
static_assert(fixture<postgres_schema>);

template <class Backend>
using full_ledger = logline::audited_ledger<logline::universal_span, Backend>;

// Every stored span, whoever owns it (the operator's view), in commit order.
template <class Ledger>
std::vector<logline::universal_span> all_spans(Ledger& ledger) {
  std::vector<logline::universal_span> out;
  ledger
      .export_all([&](const logline::universal_span& s) -> logline::result<void> {
        out.push_back(s);
        return {};
      })
      .value();
  return out;
}

inline const logline::ed25519::key& test_key() {
  static const auto key = logline::ed25519::key::from_seed_hex(
                              "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                              .value();
  return key;
}

inline logline::universal_span make_span(std::string entity_type = "note",
                                         std::string who = "test") {
  logline::universal_span s;
  s.entity_type = std::move(entity_type);
  s.who = std::move(who);
  s.this_ = "thing";
  return s;
}

}  // namespace conformance

// A conformance source (tests/<area>/*_conformance.cpp) is compiled once per backend, into that
// backend's test binary (logline_sqlite_tests, logline_postgres_tests), which defines
// LOGLINE_TEST_BACKEND_<NAME>: its TEMPLATE_TEST_CASEs over LOGLINE_BACKENDS run on that backend
// alone. Other sources do not define it and cannot name LOGLINE_BACKENDS.
#if defined(LOGLINE_TEST_BACKEND_SQLITE)
#define LOGLINE_BACKENDS conformance::sqlite_file
#elif defined(LOGLINE_TEST_BACKEND_POSTGRES)
#define LOGLINE_BACKENDS conformance::postgres_schema
#endif
