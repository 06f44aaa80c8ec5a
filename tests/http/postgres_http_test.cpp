// The HTTP API on PostgreSQL when a chain stays locked past the lock timeout: a 503, and nothing
// stored.
#include <thread>

#include <logline/http/server.hpp>

#include "backends/conformance.hpp"
#include "http/http_fixture.hpp"
#include "support/catch.hpp"

using namespace std::chrono_literals;
using http_test::bearer;
using http_test::body_of;
using http_test::note;

TEST_CASE("HTTP on PostgreSQL: a chain held past the lock timeout is a 503 and nothing is stored",
          "[postgres][http]") {
  conformance::postgres_schema f;
  using ledger_type = conformance::full_ledger<logline::postgres::backend>;
  auto db = logline::postgres::database::open(
                f.app_dsn, {.pool_size = 4, .owner = f.owner_dsn, .lock_timeout = 300ms})
                .value();
  ledger_type ledger{
      *db, {.identity = logline::http::token_admin, .signing_key = conformance::test_key()}};
  logline::http::api<ledger_type> api(ledger);
  const auto token = logline::http::generate_token();
  ledger.append(logline::http::token_span(token, {"alice", "acme"}, {"spans:read", "spans:write"}))
      .value();
  logline::http::server svr;
  api.mount(svr);
  const int port = logline::http::bind_exclusive(svr, "127.0.0.1", 0);
  REQUIRE(port > 0);
  std::thread t([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(1ms);
  httplib::Client c("127.0.0.1", port);
  REQUIRE(c.Post("/api/spans", bearer(token), note("first"), "application/json")->status == 201);
  // Another session holds acme's chain, as a stuck writer would.
  auto holder = logline::postgres::connection::open(f.app_dsn).value();
  holder->exec("BEGIN").value();
  logline::postgres::params p;
  p.add(logline::postgres::detail::chain_lock_key("universal_registry", std::string("acme")))
      .add("acme");
  holder->query_once("SELECT * FROM universal_registry_lock_chain($1::bigint, $2::text)", p)
      .value();
  auto r = c.Post("/api/spans", bearer(token), note("blocked"), "application/json");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(body_of(r)["error"]["code"] == "unavailable");
  holder->exec("ROLLBACK").value();
  auto rows =
      f.owner->query_once("SELECT count(*) FROM universal_registry WHERE this = 'blocked'").value();
  CHECK(rows.text(0, 0) == "0");
  CHECK(c.Post("/api/spans", bearer(token), note("later"), "application/json")->status == 201);
  svr.stop();
  t.join();
}
