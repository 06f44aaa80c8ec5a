// The HTTP API on SQLite when the database does not answer: a 503, and nothing stored.
#include <logline/http/server.hpp>

#include "backends/conformance.hpp"
#include "http/http_fixture.hpp"
#include "support/catch.hpp"

using http_test::bearer;
using http_test::body_of;
using http_test::http_fixture;
using http_test::note;

TEST_CASE("HTTP: a database that does not answer is a 503 and nothing is stored",
          "[backend][http]") {
  // SQLite: another connection holds the write lock past the busy timeout (5 s).
  http_fixture<conformance::sqlite_file> b;
  const auto alice = b.token("alice", "acme");
  auto c = b.client();
  const std::size_t before = b.stored();
  auto other = b.f.connect();
  REQUIRE(other->exec("BEGIN IMMEDIATE"));
  auto r = c.Post("/api/spans", bearer(alice), note("blocked"), "application/json");
  REQUIRE(other->exec("ROLLBACK"));
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(body_of(r)["error"]["code"] == "unavailable");
  CHECK(b.stored() == before);
  CHECK(c.Post("/api/spans", bearer(alice), note("later"), "application/json")->status == 201);
}
