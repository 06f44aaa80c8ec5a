#pragma once
// The conformance fixtures: one per backend. Every TEMPLATE_TEST_CASE in tests/backends/ runs
// against each of them, so all backends are held to the same behaviour.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include <logline/logline.hpp>
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
    path = (std::filesystem::temp_directory_path() / ("logline-test-" + std::to_string(rd()) + std::to_string(rd()) + ".db")).string();
    db = logline::sqlite::database::open(path).value();
  }
  ~sqlite_file() {
    db.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) std::remove((path + suffix).c_str());
  }
  logline::sqlite::database& database() { return *db; }
  // A second, independent connection to the same database (another process would do the same).
  std::unique_ptr<logline::sqlite::database> connect() { return logline::sqlite::database::open(path).value(); }
  // SQL run as the table owner, bypassing the library (tamper tests).
  logline::result<void> exec_raw(const std::string& sql) { return db->exec(sql); }
  logline::result<void> drop_append_only_guards(const std::string& table) {
    LOGLINE_TRY_VOID(db->exec("DROP TRIGGER IF EXISTS \"" + table + "_no_update\""));
    return db->exec("DROP TRIGGER IF EXISTS \"" + table + "_no_delete\"");
  }
};

template <class Backend>
using full_ledger = logline::ledger<logline::universal_span, Backend, logline::append_only, logline::hash_chained<>,
                                    logline::signed_by<logline::ed25519>, logline::tenant_isolated>;

inline const logline::ed25519::key& test_key() {
  static const auto key = logline::ed25519::key::from_seed_hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").value();
  return key;
}

inline logline::universal_span make_span(std::string entity_type = "note", std::string who = "test") {
  logline::universal_span s;
  s.entity_type = std::move(entity_type);
  s.who = std::move(who);
  s.this_ = "thing";
  return s;
}

}  // namespace conformance

#define LOGLINE_BACKENDS conformance::sqlite_file
