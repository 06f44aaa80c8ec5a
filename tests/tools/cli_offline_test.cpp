// logline-cli's offline tools as a new user meets them: verify, export and checkpoint on a
// ledger of the user's own span type (read from the DDL its file records), on a read-only copy
// (nothing left beside it), and append/import: --quiet, progress, a locked database.
#include <sqlite3.h>
#include <unistd.h>

#include <boost/hana/define_struct.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"
#include "support/cli_sandbox.hpp"

using namespace cli_test;
namespace fs = std::filesystem;

namespace shop {
// A span type the CLI was not compiled with.
struct invoice {
  static constexpr std::string_view span_name = "invoice";
  BOOST_HANA_DEFINE_STRUCT(
      invoice, (logline::uuid, id), (std::int32_t, seq), (logline::timestamp, at),
      (std::optional<std::string>, owner_id), (std::optional<std::string>, tenant_id),
      (logline::visibility, visibility), (std::string, payer), (std::int64_t, amount_cents),
      (double, fx_rate), (bool, paid), (std::optional<logline::json>, details),
      (std::optional<std::vector<logline::uuid>>, lines),
      (std::optional<logline::digest>, prev_hash), (std::optional<logline::digest>, curr_hash),
      (std::optional<std::int64_t>, chain_position), (std::optional<logline::signature>, signature),
      (std::optional<logline::public_key>, public_key));
};
// No seal at all.
struct memo {
  static constexpr std::string_view span_name = "memo";
  BOOST_HANA_DEFINE_STRUCT(memo, (logline::uuid, id), (std::int32_t, seq), (std::string, text));
};
}  // namespace shop

namespace {

using invoices = logline::audited_ledger<shop::invoice, logline::sqlite::backend>;

// Appends n invoices in two tenants to `path` and returns them as stored (commit order).
std::vector<shop::invoice> write_invoices(const fs::path& path, int n) {
  auto db = logline::sqlite::database::open(path.string()).value();
  std::vector<shop::invoice> stored;
  for (const char* tenant : {"acme", "globex"}) {
    invoices ledger{*db, {.identity = {"bob", tenant}, .signing_key = conformance::test_key()}};
    for (int i = 0; i < n; ++i) {
      shop::invoice v{};
      v.payer = "bob";
      v.amount_cents = 1000 + i;
      v.fx_rate = 1.25;
      v.paid = i % 2 == 0;
      v.details = logline::json{{"note", "é \"quoted\""}, {"n", i}};
      v.lines = std::vector<logline::uuid>{logline::uuid::v7()};
      stored.push_back(ledger.append(v).value());
    }
  }
  return stored;
}

}  // namespace

TEST_CASE("logline-cli verify, export and checkpoint read a ledger of any span type", "[cli]") {
  sandbox box;
  const auto stored = write_invoices(box.path("shop.db"), 3);

  auto ok = box.cli("verify --db shop.db");
  INFO(ok.out << ok.err);
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.err,
             Catch::Contains(
                 "6 spans in 2 chains check out (hashes, links, signatures of table 'invoice')"));
  const std::string pub = conformance::test_key().public_key().to_string();
  CHECK(box.cli("verify --db shop.db --trust " + pub).code == 0);
  CHECK(box.cli("verify --db shop.db --trust " +
                logline::ed25519::key::generate().public_key().to_string())
            .code == 1);

  // The export form is the typed ledger's, byte for byte.
  auto exported_text = box.cli("export --db shop.db");
  REQUIRE(exported_text.code == 0);
  const auto lines = lines_of(exported_text.out);
  REQUIRE(lines.size() == stored.size());
  for (std::size_t i = 0; i < stored.size(); ++i)
    CHECK(lines[i] == logline::span_to_json_text(stored[i]));
  CHECK(lines_of(box.cli("export --db shop.db --since 2099-01-01T00:00:00.000Z").out).empty());

  // A checkpoint of it, and verify against the checkpoint.
  auto cp = box.cli("checkpoint --db shop.db");
  REQUIRE(cp.code == 0);
  write_file(box.path("shop.checkpoint"), cp.out);
  CHECK(parse(lines_of(cp.out).at(0))["heads"].size() == 2);
  CHECK(box.cli("verify --db shop.db --checkpoint shop.checkpoint").code == 0);

  // Tampering is found at exactly the tampered span; export stops at it.
  const std::string victim = stored[1].id.to_string();
  box.sql("shop.db",
          "DROP TRIGGER invoice_no_update; UPDATE invoice SET amount_cents = 1 WHERE id = '" +
              victim + "';");
  auto bad = box.cli("verify --db shop.db");
  CHECK(bad.code == 1);
  const auto f = findings(bad.out);
  CHECK(ids_of(f) == std::set<std::string>{victim});
  CHECK(reasons_of(f) == std::set<std::string>{"hash mismatch"});
  auto stopped = box.cli("export --db shop.db");
  CHECK(stopped.code == 2);
  CHECK(lines_of(stopped.out).size() == 1);
  CHECK_THAT(stopped.err, Catch::Contains(victim));
  CHECK(box.cli("checkpoint --db shop.db").code == 1);

  // The commands that need the universal registry say so.
  auto get = box.cli("get --db shop.db --id " + victim);
  CHECK(get.code == 2);
  CHECK_THAT(get.err, Catch::Contains("holds spans of another type"));
}

TEST_CASE("logline-cli on a ledger of another span type: what its file records is what is checked",
          "[cli]") {
  sandbox box;
  {
    auto db = logline::sqlite::database::open(box.path("memo.db").string()).value();
    logline::ledger<shop::memo, logline::sqlite::backend> memos{*db, {}};
    memos.append({.id = {}, .seq = 0, .text = "hello"}).value();
  }
  auto ok = box.cli("verify --db memo.db");
  REQUIRE(ok.code == 0);
  CHECK_THAT(ok.err, Catch::Contains("no hashes, no chain, no signatures of table 'memo'"));
  CHECK(parse(lines_of(box.cli("export --db memo.db").out).at(0))["text"] == "hello");
  // Nothing to check a trusted key against: an error, never a pass.
  auto trusted =
      box.cli("verify --db memo.db --trust " + conformance::test_key().public_key().to_string());
  CHECK(trusted.code == 2);
  CHECK_THAT(trusted.err, Catch::Contains("records no signatures"));

  // Two tables: the user chooses.
  write_invoices(box.path("memo.db"), 1);
  auto which = box.cli("verify --db memo.db");
  CHECK(which.code == 2);
  CHECK_THAT(
      which.err,
      Catch::Contains("several logline tables (invoice, memo): choose one with --table NAME"));
  CHECK(box.cli("verify --db memo.db --table invoice").code == 0);
  CHECK(box.cli("verify --db memo.db --table memo").code == 0);
  CHECK(box.cli("verify --db memo.db --table nothing").code == 2);

  // A name logline could not have written never reaches SQL text: a table whose name would
  // close the quotes of a SELECT is refused, not queried.
  box.sql("memo.db",
          "CREATE TABLE \"x\"\" UNION SELECT 1 --\" (id TEXT); "
          "INSERT INTO logline_schema VALUES ('x\" UNION SELECT 1 --', '', '');");
  auto odd = box.cli("verify --db memo.db --table 'x\" UNION SELECT 1 --'");
  CHECK(odd.code == 2);
  CHECK_THAT(odd.err, Catch::Contains("is not a table name logline writes"));

  // A recorded DDL that does not match its fingerprint, or a table that is not the recorded one.
  box.sql("memo.db",
          "UPDATE logline_schema SET ddl = replace(ddl, 'STRICT', '') WHERE table_name = 'memo';");
  auto forged = box.cli("verify --db memo.db --table memo");
  CHECK(forged.code == 2);
  CHECK_THAT(forged.err, Catch::Contains("does not match its recorded fingerprint"));
}

TEST_CASE("logline-cli verify reads a read-only copy and leaves nothing beside it", "[cli]") {
  sandbox box;
  make_key(box);
  populate(box, 4);
  // Another writer's connection is open: the -wal file is there, and verify reads through it.
  {
    auto writer = logline::sqlite::database::open(box.path("ledger.db").string()).value();
    REQUIRE(writer->exec("SELECT count(*) FROM universal_registry"));
    REQUIRE(fs::exists(box.path("ledger.db-wal")));
    CHECK(box.cli("verify --db ledger.db").code == 0);
  }
  REQUIRE_FALSE(fs::exists(box.path("ledger.db-wal")));

  // A copy: nothing is created beside it, whatever reads it.
  fs::create_directory(box.path("copy"));
  fs::copy_file(box.path("ledger.db"), box.path("copy/ledger.db"));
  for (const char* cmd :
       {"verify", "export", "checkpoint", "get --id 00000000-0000-4000-8000-000000000001"}) {
    INFO(cmd);
    box.cli(std::string(cmd) + " --db copy/ledger.db");
    CHECK_FALSE(fs::exists(box.path("copy/ledger.db-wal")));
    CHECK_FALSE(fs::exists(box.path("copy/ledger.db-shm")));
  }

  // In a read-only directory, as a user who cannot write there (root can write anywhere, so the
  // CLI runs as nobody when the tests run as root).
  ::chmod(box.dir().c_str(), 0755);
  ::chmod(box.path("copy/ledger.db").c_str(), 0444);
  ::chmod(box.path("copy").c_str(), 0555);
  std::string as_user;
  if (::geteuid() == 0) {
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
    if (box.shell(as_user + sh_quote(LOGLINE_CLI_PATH) + " --version").code != 0) {
      WARN("cannot run logline-cli as nobody here; the read-only directory case runs as root");
      as_user.clear();
    }
  }
  auto ro = box.shell(as_user + sh_quote(LOGLINE_CLI_PATH) + " verify --db copy/ledger.db");
  INFO(ro.err);
  CHECK(ro.code == 0);
  CHECK_THAT(ro.err, Catch::Contains("4 spans in 1 chain check out"));
  CHECK_FALSE(fs::exists(box.path("copy/ledger.db-shm")));
  ::chmod(box.path("copy").c_str(), 0755);
}

TEST_CASE("logline-cli append --quiet, import progress and a locked database", "[cli]") {
  sandbox box;
  make_key(box);
  auto quiet = box.cli("append " + ledger_args + " --quiet", span_line("a") + span_line("b"));
  REQUIRE(quiet.code == 0);
  CHECK(quiet.out.empty());
  CHECK(export_count(box) == 2);

  auto imported = box.cli("import --db copy.db", box.cli("export --db ledger.db").out);
  INFO(imported.err);
  REQUIRE(imported.code == 0);
  CHECK_THAT(imported.err, Catch::Contains("import: 2 spans imported in "));
  CHECK(box.cli("import --db copy2.db --quiet", box.cli("export --db ledger.db").out).err.empty());

  // Another writer holds the write lock: append waits --wait seconds, then says what happened,
  // and nothing is written.
  sqlite3* holder = nullptr;
  REQUIRE(sqlite3_open(box.path("ledger.db").c_str(), &holder) == SQLITE_OK);
  REQUIRE(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  auto locked = box.cli("append " + ledger_args + " --wait 1", span_line("c"));
  CHECK(locked.code == 2);
  CHECK_THAT(locked.err, Catch::Contains("the database is locked by another writer") &&
                             Catch::Contains("stayed locked for 1 s") &&
                             Catch::Contains("--wait SECONDS"));
  auto import_locked =
      box.cli("import --db ledger.db --wait 0", box.cli("export --db copy.db").out);
  CHECK(import_locked.code == 2);
  CHECK_THAT(import_locked.err, Catch::Contains("locked by another writer"));
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  CHECK(export_count(box) == 2);
  CHECK(box.cli("append " + ledger_args + " --wait nonsense", span_line("c")).code == 2);
}
