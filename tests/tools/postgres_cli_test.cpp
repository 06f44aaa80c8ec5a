// logline-cli with --postgres, run as a real process against a fresh schema of the cluster of
// `make test`: append, export, verify, tampering as the table owner, seed --sql and force.
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backends/conformance.hpp"
#include "catch.hpp"
#include "logline/ed25519.hpp"
#include "logline/json.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/run_code.hpp"
#include "support/cli_sandbox.hpp"
#include "support/process.hpp"

using namespace cli_test;
namespace fs = std::filesystem;

TEST_CASE("logline-cli with --postgres: append, export, verify, tampering, bad input",
          "[postgres][cli]") {
  conformance::postgres_schema pg;
  sandbox box;
  make_key(box);
  const std::string url = " --postgres " + sh_quote(pg.owner_dsn);
  auto r = box.cli("append" + url + " --key signing.key --user alice --tenant acme",
                   span_line("a") + span_line("b") + span_line("c"));
  INFO(r.err);
  REQUIRE(r.code == 0);
  REQUIRE(lines_of(r.out).size() == 3);
  for (int i = 0; i < 7; ++i)
    REQUIRE(
        box.cli("append" + url + " --key signing.key --user alice --tenant acme", span_line("more"))
            .code == 0);

  auto ex = box.cli("export" + url);
  INFO(ex.err);
  REQUIRE(ex.code == 0);
  const auto lines = lines_of(ex.out);
  REQUIRE(lines.size() == 10);
  std::vector<std::string> ids(10);
  for (const auto& l : lines) {
    const auto j = parse(l);
    ids.at(j.at("chain_position").get<std::size_t>()) = j.at("id").get<std::string>();
    auto span = logline::span_from_json_text<logline::universal_span>(l);
    REQUIRE(span.has_value());
    CHECK(logline::span_hash(*span).to_string() == j.at("curr_hash").get<std::string>());
  }
  auto ok = box.cli("verify" + url);
  INFO(ok.err);
  CHECK(ok.code == 0);
  auto cp = box.cli("checkpoint" + url + " --key signing.key");
  INFO(cp.err);
  REQUIRE(cp.code == 0);
  CHECK(parse(cp.out).at("heads").at(0).at("id") == ids[9]);
  write_file(box.path("cp.json"), cp.out);
  CHECK(box.cli("verify" + url + " --checkpoint cp.json --trust signing.key").code == 0);

  // A bad line: exit 2, nothing written.
  auto bad = box.cli("append" + url + " --key signing.key --user alice --tenant acme",
                     span_line("fine") + "{\"entity_type\":1}\n");
  CHECK(bad.code == 2);
  CHECK(lines_of(box.cli("export" + url).out).size() == 10);

  // Tampering as the table owner, triggers off: verify names exactly that span.
  REQUIRE(pg.drop_append_only_guards("universal_registry"));
  REQUIRE(pg.exec_raw("UPDATE universal_registry SET name = 'x' WHERE chain_position = 6"));
  auto v = box.cli("verify" + url);
  INFO(v.out << v.err);
  REQUIRE(v.code == 1);
  const auto f = findings(v.out);
  CHECK(ids_of(f) == std::set<std::string>{ids[6]});
  CHECK(reasons_of(f) == std::set<std::string>{"hash mismatch"});
  // The last two spans removed: only the checkpoint shows it.
  REQUIRE(pg.drop_append_only_guards("universal_registry"));  // opening a ledger put them back
  REQUIRE(pg.exec_raw("DELETE FROM universal_registry WHERE chain_position >= 8"));
  auto cut = box.cli("verify" + url + " --checkpoint cp.json");
  INFO(cut.out << cut.err);
  REQUIRE(cut.code == 1);
  CHECK(ids_of(findings(cut.out)) == std::set<std::string>{ids[6], ids[9]});
  CHECK(reasons_of(findings(cut.out)) == std::set<std::string>{"hash mismatch", "truncated"});

  // A database without the ledger's table is an error, and nothing is created.
  conformance::postgres_schema empty;
  auto missing = box.cli("verify --postgres " + sh_quote(empty.owner_dsn));
  CHECK(missing.code == 2);
  CHECK_THAT(missing.err, Catch::Contains("no universal_registry table"));
  auto tables =
      empty.owner
          ->query_once(
              "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()")
          .value();
  CHECK(tables.text(0, 0) == "0");
  // Both --db and --postgres: a usage error.
  CHECK(box.cli("export --db x.db" + url).code == 2);
}

TEST_CASE("logline-cli seed --sql postgres: a script that seeds an empty ledger, all or nothing",
          "[postgres][cli]") {
  conformance::postgres_schema pg;
  sandbox box;
  make_key(box);
  const std::string url = " --postgres " + sh_quote(pg.owner_dsn);
  auto ddl = box.cli("schema --postgres");
  REQUIRE(ddl.code == 0);
  REQUIRE(pg.exec_raw(ddl.out));  // sql/postgres/0001_universal_registry.sql, as the table owner
  auto script = box.cli("seed --sql postgres --key signing.key");
  INFO(script.err);
  REQUIRE(script.code == 0);
  auto applied = pg.exec_raw(script.out);
  INFO((applied ? std::string() : applied.error().message()));
  REQUIRE(applied);

  auto v = box.cli("verify" + url);
  INFO(v.out << v.err);
  CHECK(v.code == 0);
  CHECK_THAT(v.err, Catch::Contains("6 spans in 1 chain"));
  auto ex = box.cli("export" + url);
  REQUIRE(ex.code == 0);
  const auto lines = lines_of(ex.out);
  REQUIRE(lines.size() == 6);
  const auto manifest = parse(lines.back());
  CHECK(manifest.at("id") == "00000000-0000-4000-8000-0000000000aa");
  CHECK(manifest.at("metadata").at("override_pubkey_hex") ==
        lines_of(box.cli("keygen --public --key signing.key").out).at(0));
  // Spans the application appends next continue the chain.
  auto next =
      box.cli("append" + url + " --key signing.key --user operator", span_line("after the seeds"));
  INFO(next.err);
  REQUIRE(next.code == 0);
  CHECK(parse(next.out).at("chain_position") == 6);
  CHECK(box.cli("verify" + url + " --quiet").code == 0);

  // Applied again: fails (the transaction is left aborted on this connection), nothing changes.
  const std::string before = box.cli("export" + url).out;
  CHECK_FALSE(pg.exec_raw(script.out));
  REQUIRE(pg.exec_raw("ROLLBACK"));
  CHECK(box.cli("export" + url).out == before);
}

TEST_CASE("logline-cli force with --postgres", "[postgres][cli]") {
  conformance::postgres_schema pg;
  sandbox box;
  make_key(box);
  const std::string url = " --postgres " + sh_quote(pg.owner_dsn);
  auto fn_line =
      box.cli("append" + url + " --key signing.key --user alice --tenant acme",
              R"({"entity_type":"function","this":"f","language":"lua","code":"return 1"})"
              "\n");
  INFO(fn_line.err);
  REQUIRE(fn_line.code == 0);
  const std::string id = parse(fn_line.out).at("id").get<std::string>();
  auto r = box.cli("force" + url + " --key signing.key --function " +
                   id);  // a private function: read as the operator
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto key = logline::ed25519::key::from_file(box.path("signing.key").string()).value();
  CHECK(parse(r.out) ==
        logline::json{{"force",
                       {{"signature", logline::runtime::force_grant(
                                          key, logline::uuid::parse(id).value(), "return 1")}}}});
  CHECK(
      box.cli("force" + url + " --key signing.key --function 00000000-0000-4000-8000-0000000000ff")
          .code == 2);
}
