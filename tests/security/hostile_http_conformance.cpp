// Hostile HTTP clients against a server on one backend (a conformance source: compiled once per
// backend): revoking a token ends its open streams, and a stream that meets a tampered span says
// so. The cases that need no backend are in hostile_http_test.cpp.
#include <chrono>
#include <string>
#include <thread>

#include "http/http_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using http_test::bearer;
using http_test::body_of;
using http_test::http_fixture;
using logline::json;

}  // namespace

TEMPLATE_TEST_CASE("hostile: revoking a token ends its open streams", "[security][hostile]",
                   LOGLINE_BACKENDS) {
  logline::http::server_options o;
  o.stream_recheck = 100ms;
  http_fixture<TestType> b(o);
  const auto t = b.token("alice", "acme");
  std::string received;
  std::atomic<bool> ended{false};
  std::thread reader([&] {
    auto c = b.client();
    c.set_read_timeout(30s);
    c.Get("/api/timeline/stream", bearer(t), [&](const char* data, std::size_t n) {
      received.append(data, n);
      return true;
    });
    ended = true;
  });
  for (int i = 0; i < 100 && b.api.stats().sse_clients.load() < 1; ++i)
    std::this_thread::sleep_for(20ms);
  REQUIRE(b.api.stats().sse_clients.load() == 1);
  CHECK_FALSE(ended.load());
  auto record = b.api.tokens().find(t);
  REQUIRE(record);
  auto next = logline::http::token_span(t, record->identity, record->scopes);
  next.id = record->id;
  next.status = "revoked";
  next.did = "revoked";
  b.ledger.append_version(next).value();
  b.api.tokens().reload().value();
  for (int i = 0; i < 500 && !ended.load(); ++i) std::this_thread::sleep_for(20ms);
  CHECK(ended.load());
  CHECK(received.find("event: error") != std::string::npos);
  CHECK(received.find("unauthorized") != std::string::npos);
  if (!ended) b.api.stop();
  reader.join();
}

TEMPLATE_TEST_CASE("hostile: a stream that meets a tampered span says so in an error event",
                   "[security][hostile]", LOGLINE_BACKENDS) {
  http_test::access_log log;
  logline::http::server_options o;
  o.access_log = log.sink();
  http_fixture<TestType> b(o);
  const auto t = b.token("alice", "acme");
  auto c = b.client();
  auto posted = body_of(c.Post("/api/spans", bearer(t),
                               R"({"entity_type":"note","this":"genuine"})", "application/json"));
  REQUIRE(b.f.drop_append_only_guards("universal_registry").has_value());
  REQUIRE(b.f.exec_raw("UPDATE universal_registry SET this = 'forged' WHERE this = 'genuine'")
              .has_value());
  std::string received;
  auto r = c.Get("/api/timeline/stream", bearer(t), [&](const char* data, std::size_t n) {
    received.append(data, n);
    return true;
  });
  CHECK(received.find("event: error") != std::string::npos);
  CHECK(received.find("integrity_violation") != std::string::npos);
  CHECK(received.find("forged") == std::string::npos);
  CHECK_FALSE(log.find("stream_ended").empty());

  // A plain read of it: 500, and the body names the kind.
  auto got = c.Get(("/api/spans/" + posted["id"].template get<std::string>()).c_str(), bearer(t));
  REQUIRE(got);
  CHECK(got->status == 500);
  CHECK(body_of(got)["error"]["code"] == "integrity_violation");
  CHECK(got->body.find("forged") == std::string::npos);
}
