// Secrets on disk (issue 15, item 8): a SQLite ledger's files are created 0600, with the -wal,
// -shm and -journal files SQLite adds beside them; an operator's own file keeps its mode, and
// the programs warn when every user may read it.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <logline/sqlite.hpp>

#include "backends/conformance.hpp"
#include "security/secret_files.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace secret_files;

namespace {

// The process's umask for one scope: what SQLite's own 0644 would become is known.
struct umask_scope {
  mode_t before;
  explicit umask_scope(mode_t m) : before(::umask(m)) {}
  ~umask_scope() { ::umask(before); }
};

}  // namespace

TEST_CASE("secrets: a new SQLite ledger and its -wal, -shm and -journal files are 0600",
          "[security][sqlite]") {
  process_test::sandbox box;
  const umask_scope umask(022);  // SQLite alone creates 0644 under it (checked last)

  const fs::path ledger_file = box.dir / "ledger.db";
  {
    auto db = logline::sqlite::database::open(ledger_file.string()).value();
    conformance::full_ledger<logline::sqlite::backend> ledger{
        *db, {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
    ledger.append(conformance::make_span("note", "alice")).value();
    // While the ledger is open, WAL mode keeps its -wal and -shm files beside it.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      INFO(suffix);
      REQUIRE(fs::exists(ledger_file.string() + suffix));
      CHECK(mode_of(ledger_file.string() + suffix) == 0600);
    }
  }

  // A rollback journal (journal_mode PERSIST keeps it after the commit, to be looked at).
  const fs::path journaled = box.dir / "journaled.db";
  {
    auto db = logline::sqlite::database::open(journaled.string()).value();
    db->exec("PRAGMA journal_mode=PERSIST").value();
    db->exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)").value();
    REQUIRE(fs::exists(journaled.string() + "-journal"));
    CHECK(mode_of(journaled.string() + "-journal") == 0600);
    CHECK(mode_of(journaled) == 0600);
  }

  // A file the operator made keeps its mode, and SQLite gives the files it adds the same one.
  const fs::path chosen = box.dir / "chosen.db";
  {
    const int fd = ::open(chosen.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
    REQUIRE(fd >= 0);
    REQUIRE(::fchmod(fd, 0640) == 0);
    ::close(fd);
    auto db = logline::sqlite::database::open(chosen.string()).value();
    conformance::full_ledger<logline::sqlite::backend> ledger{
        *db, {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
    ledger.append(conformance::make_span("note", "alice")).value();
    CHECK(mode_of(chosen) == 0640);
    CHECK(mode_of(chosen.string() + "-wal") == 0640);
  }

  // Read-only opens create nothing.
  CHECK_FALSE(
      logline::sqlite::database::open((box.dir / "missing.db").string(), {.read_only = true})
          .has_value());
  CHECK_FALSE(fs::exists(box.dir / "missing.db"));

  // Why: SQLite on its own creates the file 0644 under this umask, readable by every user.
  const fs::path plain = box.dir / "plain.db";
  sqlite3* raw = nullptr;
  REQUIRE(sqlite3_open_v2(plain.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                          nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(raw, "CREATE TABLE t (x)", nullptr, nullptr, nullptr) == SQLITE_OK);
  sqlite3_close(raw);
  CHECK(mode_of(plain) == 0644);
}
TEST_CASE("secrets: the programs warn about a database file every user may read",
          "[security][cli]") {
  process_test::sandbox box;
  const std::string key = key_with_mode(box, "k", 0600), db = (box.dir / "ledger.db").string();
  REQUIRE(append_note(db, key).code == 0);
  CHECK(mode_of(db) == 0600);
  CHECK(box.try_cli("export --db " + db).out.find("warning") == std::string::npos);

  REQUIRE(::chmod(db.c_str(), 0644) == 0);
  auto exported = box.try_cli("export --db " + db);
  CHECK(exported.code == 0);
  CHECK_THAT(exported.out, Catch::Contains("warning: database file '" + db +
                                           "' may be read or written by every user") &&
                               Catch::Contains("chmod 600 '" + db + "'"));
  CHECK(mode_of(db) == 0644);  // a warning: the operator's file keeps its mode
  auto once =
      process_test::run(scheduler + " --db " + db + " --key " + key + " --seed --once 2>&1");
  CHECK(once.code == 0);
  CHECK_THAT(once.out, Catch::Contains("logline-scheduler: warning: database file '" + db + "'"));
  // A group may be the operator's choice (a backup group): no warning.
  REQUIRE(::chmod(db.c_str(), 0640) == 0);
  CHECK(box.try_cli("export --db " + db).out.find("warning") == std::string::npos);
}
