// The attack suite's PostgreSQL part: what the database itself holds against a client that is
// not logline (the application role writing SQL by hand, a login without grants, a listener),
// and the serving processes' refusal of a role that row-level security does not bind.
#include <random>

#include <httplib.h>

#include <logline/postgres/feed.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using logline::errc;
using namespace std::chrono_literals;

namespace {

using pg_ledger = conformance::full_ledger<logline::postgres::backend>;

// A connection string of the test cluster for another login role, in the schema of `f`.
std::string dsn_as(const conformance::postgres_schema& f, const std::string& role) {
  std::string dsn = conformance::pg_env("LOGLINE_TEST_PG_ADMIN_DSN");
  const auto at = dsn.find("user=");
  REQUIRE(at != std::string::npos);
  dsn = dsn.substr(0, at) + "user=" + role + " options=-csearch_path=" + f.schema;
  return dsn;
}

// Runs `sql` on `c` in a transaction as the identity (user, tenant), the way the application
// role could by hand; rolls back whatever happened.
logline::result<void> by_hand(logline::postgres::connection& c, const std::string& user,
                              const std::string& tenant, const std::string& sql) {
  auto r =
      c.exec("BEGIN; SELECT pg_catalog.set_config('app.user_id', '" + user +
             "', true), pg_catalog.set_config('app.tenant_id', '" + tenant + "', true); " + sql);
  (void)c.exec("ROLLBACK");
  return r;
}

// The columns of a row of universal_registry that every row needs, for mallory in globex.
std::string row(const std::string& id, int seq, const std::string& seal) {
  return "INSERT INTO universal_registry (id, seq, entity_type, who, this, at, owner_id, "
         "tenant_id, visibility" +
         std::string(seal.empty() ? "" : ", curr_hash, signature, public_key, chain_position") +
         ") VALUES ('" + id + "', " + std::to_string(seq) +
         ", 'note', 'mallory', 'by hand', now(), 'mallory', 'globex', 'public'" + seal + ")";
}
const std::string dummy_seal = ", '" + std::string(64, 'a') + "', '" + std::string(128, 'b') +
                               "', '" + std::string(64, 'c') + "', 424242";

}  // namespace

TEST_CASE("PostgreSQL attack: the application role's hand-written INSERTs",
          "[postgres][security]") {
  conformance::postgres_schema f;
  pg_ledger alice{f.database(),
                  {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
  auto s = conformance::make_span("note", "alice");
  s.visibility = logline::visibility::public_;
  const auto victim = alice.append(s).value();
  const auto before = conformance::all_spans(alice).size();
  auto app = logline::postgres::connection::open(f.app_dsn).value();
  const std::string fresh = logline::uuid::v7().to_string();

  // A feed position of its choosing: the application role may not name those columns at all.
  auto feed = by_hand(*app, "mallory", "globex",
                      "INSERT INTO universal_registry (id, seq, entity_type, who, this, at, "
                      "owner_id, tenant_id, curr_hash, signature, public_key, "
                      "chain_position, logline_xid) VALUES ('" +
                          fresh + "', 0, 'note', 'm', 'x', now(), 'mallory', 'globex', '" +
                          std::string(64, 'a') + "', '" + std::string(128, 'b') + "', '" +
                          std::string(64, 'c') + "', 424242, '1')");
  REQUIRE_FALSE(feed);
  CHECK(feed.error() == errc::permission_denied);
  auto feed_override = by_hand(*app, "mallory", "globex",
                               "INSERT INTO universal_registry (id, seq, entity_type, who, this, "
                               "at, owner_id, tenant_id, curr_hash, signature, public_key, "
                               "chain_position, logline_feed) OVERRIDING SYSTEM VALUE VALUES ('" +
                                   fresh + "', 0, 'note', 'm', 'x', now(), 'mallory', 'globex', '" +
                                   std::string(64, 'a') + "', '" + std::string(128, 'b') + "', '" +
                                   std::string(64, 'c') + "', 424242, 1)");
  REQUIRE_FALSE(feed_override);
  CHECK(feed_override.error() == errc::permission_denied);
  // A row without hash or signature: the seal columns are NOT NULL in a signed table.
  auto unsealed = by_hand(*app, "mallory", "globex", row(fresh, 0, ""));
  REQUIRE_FALSE(unsealed);
  CHECK(unsealed.error() == errc::invalid_span);
  CHECK_THAT(unsealed.error().message(), Catch::Contains("curr_hash"));
  // A version of alice's entity under mallory's name: refused by the version rule in the
  // database (row-level security lets mallory insert rows she owns).
  auto taken = by_hand(*app, "mallory", "globex", row(victim.id.to_string(), 1, dummy_seal));
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == errc::permission_denied);
  CHECK_THAT(taken.error().message(), Catch::Contains("does not keep the owner"));
  // ... and one keeping alice's name while mallory is the identity: row-level security.
  auto as_alice =
      by_hand(*app, "mallory", "globex",
              "INSERT INTO universal_registry (id, seq, entity_type, who, this, at, owner_id, "
              "tenant_id, curr_hash, signature, public_key, "
              "chain_position) VALUES ('" +
                  victim.id.to_string() + "', 1, 'note', 'alice', 'x', now(), 'alice', 'acme', '" +
                  std::string(64, 'a') + "', '" + std::string(128, 'b') + "', '" +
                  std::string(64, 'c') + "', 424242)");
  REQUIRE_FALSE(as_alice);
  CHECK(as_alice.error() == errc::permission_denied);
  // A version that skips one (no version 3 without a version 2), even of one's own entity.
  REQUIRE(by_hand(*app, "mallory", "globex",
                  row(fresh, 0, dummy_seal) + "; " +
                      row(fresh, 2, dummy_seal.substr(0, dummy_seal.size() - 6) + "424243"))
              .error() == errc::permission_denied);
  // Nor UPDATE, DELETE or TRUNCATE.
  for (const char* change : {"UPDATE universal_registry SET this = 'x'",
                             "DELETE FROM universal_registry", "TRUNCATE universal_registry"})
    CHECK_FALSE(by_hand(*app, "alice", "acme", change));

  CHECK(conformance::all_spans(alice).size() == before);
  CHECK(alice.get(victim.id).value().seq == 0);
  CHECK(alice.verify().value().ok());
}

TEST_CASE("PostgreSQL attack: a login without grants calls the SECURITY DEFINER functions",
          "[postgres][security]") {
  conformance::postgres_schema f;
  pg_ledger alice{f.database(),
                  {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
  const auto victim = alice.append(conformance::make_span("note", "alice")).value();
  std::random_device rd;
  const std::string role = "stranger_" + std::to_string(rd());
  auto admin =
      logline::postgres::connection::open(conformance::pg_env("LOGLINE_TEST_PG_ADMIN_DSN")).value();
  admin->exec("CREATE ROLE " + role + " LOGIN; GRANT USAGE ON SCHEMA " + f.schema + " TO " + role)
      .value();
  {
    auto stranger = logline::postgres::connection::open(dsn_as(f, role)).value();
    for (const std::string& call : std::vector<std::string>{
             "SELECT * FROM universal_registry_entity('" + victim.id.to_string() + "')",
             "SELECT * FROM universal_registry_lock_chain(1, 'acme')",
             "SELECT count(*) FROM universal_registry"}) {
      INFO(call);
      auto r = stranger->exec(call);
      REQUIRE_FALSE(r);
      CHECK(r.error() == errc::permission_denied);
    }
    // The application role may (the writers need a chain head and an entity's latest version).
    auto app = logline::postgres::connection::open(f.app_dsn).value();
    CHECK(app->exec("SELECT * FROM universal_registry_entity('" + victim.id.to_string() + "')"));
  }
  admin->exec("REVOKE USAGE ON SCHEMA " + f.schema + " FROM " + role + "; DROP ROLE " + role)
      .value();
}

TEST_CASE("PostgreSQL attack: a listener learns nothing of the spans from NOTIFY",
          "[postgres][security]") {
  conformance::postgres_schema f;
  pg_ledger alice{f.database(),
                  {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
  auto listener = logline::postgres::listener::open(f.app_dsn).value();
  const auto secret = alice.append(conformance::make_span("secret_type", "alice")).value();
  std::vector<std::string> payloads;
  for (int i = 0; i < 50 && payloads.empty(); ++i) {
    if (listener->wait(100ms).value()) payloads = listener->payloads();
  }
  REQUIRE_FALSE(payloads.empty());
  for (const auto& p : payloads) {
    INFO(p);
    auto j = logline::parse_json(p).value();
    CHECK(j.size() == 2);
    CHECK(j.contains("table"));
    CHECK(j.contains("cursor"));
    for (const std::string& word : {secret.id.to_string(), std::string("alice"),
                                    std::string("acme"), std::string("secret_type")})
      CHECK_THAT(p, !Catch::Contains(word));
  }
}

TEST_CASE("PostgreSQL: a row without its seal is an integrity error, not a span",
          "[postgres][security]") {
  conformance::postgres_schema f;
  pg_ledger alice{f.database(),
                  {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()}};
  alice.append(conformance::make_span("note", "alice")).value();
  // As the owner, the constraints dropped and a row put in without hash and signature.
  REQUIRE(f.exec_raw(
      "ALTER TABLE universal_registry ALTER COLUMN curr_hash DROP NOT NULL, ALTER COLUMN signature "
      "DROP NOT NULL, "
      "ALTER COLUMN public_key DROP NOT NULL, ALTER COLUMN chain_position DROP NOT NULL"));
  const std::string id = logline::uuid::v7().to_string();
  REQUIRE(
      f.exec_raw("INSERT INTO universal_registry (id, seq, entity_type, who, this, at, owner_id, "
                 "tenant_id) VALUES ('" +
                 id + "', 0, 'note', 'alice', 'unsealed', now(), 'alice', 'acme')"));
  auto got = alice.get(logline::uuid::parse(id).value());
  REQUIRE_FALSE(got);
  CHECK(got.error() == errc::integrity_violation);
  CHECK_THAT(got.error().message(), Catch::Contains("no curr_hash"));
  logline::timeline_query q;
  CHECK(alice.timeline(q).error() == errc::integrity_violation);
}

TEST_CASE(
    "PostgreSQL: logline-server and logline-scheduler refuse an application role that row-level "
    "security does not bind",
    "[postgres][security]") {
  conformance::postgres_schema f;
  {
    pg_ledger made{f.database(),
                   {.identity = {"logline", std::nullopt}, .signing_key = conformance::test_key()}};
  }
  const std::string key_env =
      "LOGLINE_SIGNING_KEY=9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60 ";
  const std::string admin = dsn_as(f, "logline_admin");
  struct unfit {
    std::string dsn, why;
  };
  for (const auto& [dsn, why] :
       {unfit{f.owner_dsn, "owns table"}, unfit{admin, "is a superuser"}}) {
    INFO(dsn);
    auto server = process_test::run(key_env + LOGLINE_SERVER_PATH + " --postgres '" + dsn +
                                    "' --postgres-owner '" + f.owner_dsn + "' --port 0 2>&1");
    CHECK(server.code == 2);
    CHECK_THAT(server.out, Catch::Contains("refusing to serve") && Catch::Contains(why));
    auto scheduler = process_test::run(key_env + LOGLINE_SCHEDULER_PATH + " --postgres '" + dsn +
                                       "' --postgres-owner '" + f.owner_dsn + "' --once 2>&1");
    CHECK(scheduler.code == 2);
    CHECK_THAT(scheduler.out, Catch::Contains("refusing to serve") && Catch::Contains(why));
  }
  // The runtime on PostgreSQL needs the owner's connection: said before anything starts.
  auto alone = process_test::run(key_env + LOGLINE_SERVER_PATH + " --postgres '" + f.app_dsn +
                                 "' --with-scheduler --port 0 2>&1");
  CHECK(alone.code == 2);
  CHECK_THAT(alone.out, Catch::Contains("--postgres-owner"));
  // The two roles as they should be: the server serves.
  process_test::sandbox box;
  process_test::server_process server(
      box.dir, {"--postgres", f.app_dsn, "--postgres-owner", f.owner_dsn, "--quiet"});
  httplib::Client c("127.0.0.1", server.port);
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(server.terminate() == 0);
}
