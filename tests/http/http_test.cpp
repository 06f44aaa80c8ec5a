// Parts of the HTTP adapter that need no ledger: the exclusive bind and the one answer of each
// error kind (http_conformance.cpp runs the API on each backend).
#include <httplib.h>

#include <logline/http/server.hpp>

#include "support/catch.hpp"

TEST_CASE("HTTP: a port that another server holds is refused, not shared", "[backend][http]") {
  httplib::Server first, second;
  const int port = logline::http::bind_exclusive(first, "127.0.0.1", 0);
  REQUIRE(port > 0);
  // cpp-httplib alone would bind it again (SO_REUSEPORT) and split the connections.
  CHECK(logline::http::bind_exclusive(second, "127.0.0.1", port) == -1);
}

TEST_CASE("http: every error kind has one answer", "[http][error]") {
  for (const auto& entry : logline::errc_table) {
    INFO(entry.name);
    const auto a = logline::http::answer_for(entry.code);
    CHECK(a.status >= 400);
    CHECK(a.status <= 599);
    CHECK_FALSE(a.code.empty());
    CHECK(logline::http::status_of(entry.code) == a.status);
  }
  // A quota refusal is the client's to wait out, not a server failure.
  CHECK(logline::http::answer_for(logline::errc::policy_violation).status == 429);
  CHECK(logline::http::answer_for(logline::errc::policy_violation).code == "policy_violation");
  CHECK(logline::http::answer_for(logline::errc::integrity_violation).code ==
        "integrity_violation");
  CHECK(logline::http::answer_for(logline::errc::invalid_span).code == "bad_request");
  CHECK(logline::http::answer_for(logline::errc::version_conflict).status == 409);
  // Another category: a server failure, unnamed.
  const auto other =
      logline::http::answer_for(logline::error_info(std::make_error_code(std::errc::io_error)));
  CHECK(other.status == 500);
  CHECK(other.code == "internal_error");
}
