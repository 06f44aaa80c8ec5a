// The HTTP API over real HTTP on loopback (an httplib client against a server on a free port),
// on one backend (a conformance source: compiled once per backend): endpoints, tokens and scopes,
// error statuses that store nothing, tenancy through the API, the SSE stream and its resume,
// concurrent clients.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <set>
#include <thread>

#include <logline/http/server.hpp>

#include "backends/conformance.hpp"
#include "http/http_fixture.hpp"
#include "support/catch.hpp"

using namespace std::chrono_literals;
using logline::json;

namespace {

using http_test::bearer;
using http_test::body_of;
using http_test::http_fixture;
using http_test::note;

}  // namespace

TEMPLATE_TEST_CASE("HTTP: append, read, history, timeline, verify, manifest, execute",
                   "[backend][http]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto alice = b.token("alice", "acme");
  auto c = b.client();

  auto created =
      c.Post("/api/spans", bearer(alice),
             note("first", R"(,"visibility":"tenant","metadata":{"n":1})"), "application/json");
  REQUIRE(created);
  CHECK(created->status == 201);
  const auto span = body_of(created);
  const std::string id = span["id"].template get<std::string>();
  CHECK(span["owner_id"] == "alice");
  CHECK(span["tenant_id"] == "acme");
  CHECK(span.contains("signature"));

  auto batch = c.Post("/api/spans", bearer(alice),
                      "[" + note("b1") + "," + R"({"entity_type":"note","this":"v1","id":")" + id +
                          R"(","seq":1})" + "]",
                      "application/json");
  REQUIRE(batch);
  CHECK(batch->status == 201);
  CHECK(body_of(batch).size() == 2);

  auto latest = c.Get("/api/spans/" + id, bearer(alice));
  CHECK(body_of(latest)["seq"] == 1);
  CHECK(body_of(c.Get("/api/spans/" + id + "?seq=0", bearer(alice)))["this"] == "first");
  CHECK(body_of(c.Get("/api/spans/" + id + "/history", bearer(alice))).size() == 2);

  auto page = body_of(c.Get("/api/timeline?entity_type=note&limit=2", bearer(alice)));
  CHECK(page["spans"].size() == 2);
  REQUIRE(page["next_cursor"].is_string());
  auto rest = body_of(c.Get("/api/timeline?entity_type=note&limit=2&cursor=" +
                                page["next_cursor"].template get<std::string>(),
                            bearer(alice)));
  CHECK(rest["spans"].size() == 1);
  CHECK(rest["next_cursor"].is_null());

  auto v = body_of(c.Get("/api/verify/" + id, bearer(alice)));
  CHECK(v["ok"] == true);
  CHECK(v["versions"].size() == 2);

  // A manifest span (the operator's: a client cannot write one), and a request scheduled for a
  // function.
  CHECK(c.Post("/api/spans", bearer(alice),
               R"({"entity_type":"manifest","this":"m","name":"kernel","visibility":"public"})",
               "application/json")
            ->status == 403);
  auto manifest = conformance::make_span("manifest", "logline");
  manifest.name = "kernel";
  manifest.visibility = logline::visibility::public_;
  b.ledger.as({"logline", std::nullopt}).append(manifest).value();
  CHECK(body_of(c.Get("/api/manifest/kernel", bearer(alice)))["name"] == "kernel");
  CHECK(c.Get("/api/manifest/none", bearer(alice))->status == 404);
  auto fn = body_of(c.Post("/api/spans", bearer(alice),
                           R"({"entity_type":"function","this":"f","status":"scheduled"})",
                           "application/json"));
  auto exec =
      c.Post("/api/execute", bearer(alice),
             R"({"span_id":")" + fn["id"].template get<std::string>() + "\"}", "application/json");
  REQUIRE(exec);
  CHECK(exec->status == 202);
  const auto req = body_of(exec);
  auto request =
      body_of(c.Get("/api/spans/" + req["request_id"].template get<std::string>(), bearer(alice)));
  CHECK(request["entity_type"] == "request");
  CHECK(request["status"] == "scheduled");
  CHECK(request["parent_id"] == fn["id"]);
  // Without a key every call enqueues a run; a repeated idempotency key is a 409 (the unique
  // partial index), nothing stored.
  const auto again = body_of(
      c.Post("/api/execute", bearer(alice),
             R"({"span_id":")" + fn["id"].template get<std::string>() + "\"}", "application/json"));
  CHECK(again["request_id"] != req["request_id"]);
  REQUIRE(c.Post("/api/execute", bearer(alice),
                 R"({"key":"k1","span_id":")" + fn["id"].template get<std::string>() + "\"}",
                 "application/json")
              ->status == 202);
  const auto before = b.stored();
  CHECK(c.Post("/api/execute", bearer(alice),
               R"({"key":"k1","span_id":")" + fn["id"].template get<std::string>() + "\"}",
               "application/json")
            ->status == 409);
  CHECK(c.Post("/api/execute", bearer(alice),
               R"({"key":7,"span_id":")" + fn["id"].template get<std::string>() + "\"}",
               "application/json")
            ->status == 400);
  CHECK(b.stored() == before);

  CHECK(c.Get("/health")->status == 200);
  auto metrics = c.Get("/metrics");
  REQUIRE(metrics);
  CHECK_THAT(metrics->body, Catch::Contains("logline_appends_total 7"));
  CHECK_THAT(metrics->body,
             Catch::Contains("logline_http_requests_total{route=\"/api/spans\",status=\"201\"}"));
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("HTTP: every documented route exists and every route is documented",
                   "[backend][http]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto admin = b.token("root", std::nullopt, {"admin"});
  auto c = b.client();
  auto doc = body_of(c.Get("/openapi.json"));
  CHECK(doc["openapi"] == "3.1.0");
  std::size_t documented = 0;
  for (const auto& [path, ops] : doc["paths"].items()) {
    for (const auto& [method, op] : ops.items()) {
      ++documented;
      std::string concrete = path;
      for (const char* p : {"{id}", "{name}"})
        if (auto at = concrete.find(p); at != std::string::npos)
          concrete.replace(at, std::strlen(p), "00000000-0000-4000-8000-000000000000");
      INFO(method << " " << concrete);
      if (concrete == "/api/timeline/stream")
        concrete += "?after=not-a-cursor";  // answered at once (400), not streamed
      auto r = method == "get" ? c.Get(concrete, bearer(admin))
                               : c.Post(concrete, bearer(admin), "{}", "application/json");
      REQUIRE(r);
      // The route exists: whatever it answers, it is not "no route".
      CHECK_THAT(r->body, !Catch::Contains("no route"));
    }
  }
  CHECK(documented == logline::http::routes().size());
  // Anything else has no route.
  for (const char* path : {"/api", "/api/span", "/api/spans/x/y/z", "/admin"}) {
    auto r = c.Get(path, bearer(admin));
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(body_of(r)["error"]["code"] == "not_found");
  }
}

TEMPLATE_TEST_CASE("HTTP: every error has its status and stores nothing", "[backend][http]",
                   LOGLINE_BACKENDS) {
  logline::http::server_options o;
  o.max_body_bytes = 4096;
  o.rate_per_second = 0.001;  // a bucket refills once in 1000 s
  o.rate_burst = 40;
  http_fixture<TestType> b(o);
  const auto alice = b.token("alice", "acme");
  const auto reader = b.token("reader", "acme", {"spans:read"});
  const auto limited = b.token("limited", "acme");
  auto c = b.client();
  auto existing = body_of(c.Post("/api/spans", bearer(alice), note("x"), "application/json"));
  const std::string id = existing["id"].template get<std::string>();
  const std::size_t before = b.stored();

  auto expect = [&](const httplib::Result& r, int status, const char* code) {
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == status);
    auto j = body_of(r);
    CHECK(j["error"]["code"] == code);
    CHECK(j["error"]["message"].is_string());
    CHECK(b.stored() == before);
  };
  const std::string json_type = "application/json";
  expect(c.Post("/api/spans", bearer(alice), "{not json", json_type), 400, "bad_request");
  expect(c.Post("/api/spans", bearer(alice), R"({"entity_type":"note","this":"t","this":"dup"})",
                json_type),
         400, "bad_request");
  expect(c.Post("/api/spans", bearer(alice),
                R"({"entity_type":"note","this":"t","metadata":{"n":12345678901234567890}})",
                json_type),
         400, "bad_request");
  expect(c.Post("/api/spans", bearer(alice), R"({"entity_type":"note","who":"w"})", json_type), 400,
         "bad_request");  // missing "this"
  expect(c.Post("/api/spans", bearer(alice), R"({"entity_type":"note","this":"t","seq":"1"})",
                json_type),
         400, "bad_request");
  expect(c.Post("/api/spans", bearer(alice), R"({"entity_type":"note","this":"t","colour":"red"})",
                json_type),
         400, "bad_request");
  expect(c.Post("/api/spans", bearer(alice), "[" + note("ok") + R"(,{"entity_type":"note"}])",
                json_type),
         400, "bad_request");  // batch: all or nothing
  expect(c.Post("/api/spans", bearer(alice),
                R"({"entity_type":"note","this":"t","curr_hash":")" + std::string(64, 'a') + "\"}",
                json_type),
         400, "bad_request");
  expect(c.Get("/api/timeline?limit=5000", bearer(alice)), 400, "bad_request");
  expect(c.Get("/api/timeline?colour=red", bearer(alice)), 400, "bad_request");
  expect(c.Get("/api/spans/not-a-uuid", bearer(alice)), 400, "bad_request");
  expect(c.Post("/api/spans", {}, note("y"), json_type), 401, "unauthorized");
  expect(c.Post("/api/spans", bearer("llt_" + std::string(64, '0')), note("y"), json_type), 401,
         "unauthorized");
  expect(c.Post("/api/spans", bearer(reader), note("y"), json_type), 403, "forbidden");
  expect(c.Post("/api/spans", bearer(alice), note("y", R"(,"owner_id":"bob")"), json_type), 403,
         "forbidden");
  expect(c.Get("/api/spans/00000000-0000-4000-8000-000000000001", bearer(alice)), 404, "not_found");
  expect(c.Post("/api/spans", bearer(alice),
                R"({"entity_type":"note","this":"t","id":")" + id + R"(","seq":0})", json_type),
         409, "conflict");
  expect(c.Post("/api/spans", bearer(alice), note(std::string(5000, 'x')), json_type), 413,
         "payload_too_large");
  expect(c.Post("/api/spans", bearer(alice), note("y"), "text/plain"), 415,
         "unsupported_media_type");
  for (int i = 0; i < 40; ++i) REQUIRE(c.Get("/api/timeline", bearer(limited))->status == 200);
  auto throttled = c.Get("/api/timeline", bearer(limited));
  expect(throttled, 429, "rate_limited");
  CHECK(throttled->get_header_value("Retry-After") == "1");
  CHECK(c.Get("/api/timeline", bearer(alice))->status ==
        200);  // other tokens are not limited by it
}

TEMPLATE_TEST_CASE("HTTP: a revoked token stops working", "[backend][http]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto t = b.token("alice", "acme");
  auto c = b.client();
  CHECK(c.Get("/api/timeline", bearer(t))->status == 200);
  auto record = b.api.tokens().find(t);
  REQUIRE(record);
  auto span = b.ledger.get(record->id).value();
  auto next = logline::http::token_span(t, record->identity, record->scopes);
  next.id = span.id;
  next.status = "revoked";
  next.did = "revoked";
  b.ledger.append_version(next).value();
  b.api.tokens().reload().value();
  CHECK(c.Get("/api/timeline", bearer(t))->status == 401);
}

TEMPLATE_TEST_CASE("HTTP: tenancy holds through the API", "[backend][http][tenancy]",
                   LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto alice = b.token("alice", "acme"), bob = b.token("bob", "acme"),
             eve = b.token("eve", "evil");
  auto c = b.client();
  const auto priv =
      body_of(c.Post("/api/spans", bearer(alice), note("private"), "application/json"))["id"]
          .template get<std::string>();
  const auto tenant =
      body_of(c.Post("/api/spans", bearer(alice), note("tenant", R"(,"visibility":"tenant")"),
                     "application/json"))["id"]
          .template get<std::string>();
  CHECK(c.Get("/api/spans/" + priv, bearer(bob))->status == 404);
  CHECK(c.Get("/api/spans/" + tenant, bearer(bob))->status == 200);
  CHECK(c.Get("/api/spans/" + tenant, bearer(eve))->status == 404);
  CHECK(body_of(c.Get("/api/timeline", bearer(eve)))["spans"].empty());
  CHECK(body_of(c.Get("/api/timeline", bearer(bob)))["spans"].size() == 1);
  CHECK(body_of(c.Get("/api/timeline", bearer(alice)))["spans"].size() == 2);
  CHECK(c.Get("/api/verify/" + priv, bearer(eve))->status == 404);
}

namespace {
// Reads an SSE stream until `want` span events arrived (or the timeout); returns (id, span id).
// `seen`, when given, counts the events as they arrive (another thread may wait on it).
std::vector<std::pair<std::string, std::string>> read_events(
    httplib::Client& c, const std::string& path, const httplib::Headers& h, std::size_t want,
    std::chrono::milliseconds timeout, std::atomic<std::size_t>* seen = nullptr) {
  std::vector<std::pair<std::string, std::string>> events;
  std::string buffer;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  c.Get(path, h, [&](const char* data, std::size_t n) {
    buffer.append(data, n);
    for (std::size_t end;
         events.size() < want && (end = buffer.find("\n\n")) != std::string::npos;) {
      const std::string event = buffer.substr(0, end);
      buffer.erase(0, end + 2);
      if (event.rfind("id: ", 0) != 0) continue;
      const auto nl = event.find('\n');
      const std::string id = event.substr(4, nl - 4);
      const auto data_at = event.find("data: ");
      auto j = logline::parse_json(event.substr(data_at + 6));
      if (j) events.emplace_back(id, (*j)["id"].template get<std::string>());
      if (seen) seen->store(events.size());
    }
    return events.size() < want && std::chrono::steady_clock::now() < deadline;
  });
  return events;
}
}  // namespace

TEMPLATE_TEST_CASE("HTTP: the timeline stream delivers new spans and resumes from Last-Event-ID",
                   "[backend][http][feed]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto alice = b.token("alice", "acme");
  const auto bob = b.token("bob", "acme");
  auto c = b.client();
  std::vector<std::string> posted;
  auto post = [&](const std::string& type, const char* visibility) {
    auto r = body_of(
        c.Post("/api/spans", bearer(alice),
               R"({"entity_type":")" + type + R"(","this":"t","visibility":")" + visibility + "\"}",
               "application/json"));
    return r["id"].template get<std::string>();
  };
  // bob sees alice's tenant spans of type note, not her private ones, nor other types.
  std::vector<std::string> expected;
  for (int i = 0; i < 4; ++i) expected.push_back(post("note", "tenant"));
  post("note", "private");
  post("order", "tenant");
  auto reader = b.client();
  auto first = read_events(reader, "/api/timeline/stream?entity_type=note", bearer(bob), 2, 10s);
  REQUIRE(first.size() == 2);
  CHECK(first[0].second == expected[0]);
  CHECK(first[1].second == expected[1]);
  // Resume after the second event, with more appended meanwhile (some while the stream is open).
  for (int i = 0; i < 2; ++i) expected.push_back(post("note", "tenant"));
  auto h = bearer(bob);
  h.emplace("Last-Event-ID", first[1].first);
  std::atomic<std::size_t> seen{0};
  std::thread late([&] {
    // Once the stream has delivered the four spans appended before it opened, it is open: this
    // one arrives live.
    for (int i = 0; i < 15'000 && seen.load() < 4; ++i) std::this_thread::sleep_for(1ms);
    auto writer = b.client();
    auto r = body_of(writer.Post("/api/spans", bearer(alice),
                                 R"({"entity_type":"note","this":"late","visibility":"tenant"})",
                                 "application/json"));
    (void)r;
  });
  auto rest = read_events(reader, "/api/timeline/stream?entity_type=note", h, 5, 15s, &seen);
  late.join();
  REQUIRE(rest.size() == 5);
  for (std::size_t i = 0; i < 4; ++i) CHECK(rest[i].second == expected[2 + i]);
  // The same through ?after=, and no event twice.
  std::set<std::string> ids;
  for (const auto& e : first) ids.insert(e.second);
  for (const auto& e : rest) ids.insert(e.second);
  CHECK(ids.size() == 7);
  auto again = read_events(reader, "/api/timeline/stream?entity_type=note&after=" + rest[4].first,
                           bearer(bob), 1, 1500ms);
  CHECK(again.empty());
  CHECK(c.Get("/api/timeline/stream?after=bogus", bearer(bob))->status == 400);
}

TEMPLATE_TEST_CASE("HTTP: concurrent clients append and read", "[backend][http]",
                   LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto alice = b.token("alice", "acme");
  constexpr int clients = 8, per_client = 25;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < clients; ++i)
    threads.emplace_back([&, i] {
      auto c = b.client();
      for (int k = 0; k < per_client; ++k) {
        auto r =
            c.Post("/api/spans", bearer(alice), note("c" + std::to_string(i)), "application/json");
        if (r && r->status == 201) ++ok;
        auto t = c.Get("/api/timeline?limit=5", bearer(alice));
        if (!t || t->status != 200) --ok;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(ok == clients * per_client);
  auto report = b.ledger.verify().value();
  CHECK(report.ok());
  CHECK(report.spans_checked == clients * per_client + 1);  // + the token span
}

TEMPLATE_TEST_CASE("HTTP: a stream that is not read stalls neither writers nor other streams",
                   "[backend][http][feed]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b;
  const auto alice = b.token("alice", "acme");
  // A client that opens the stream and never reads: a raw socket that sends the request only.
  httplib::Client probe("127.0.0.1", b.port);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(b.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string request =
      "GET /api/timeline/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + alice + "\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), 0) == static_cast<ssize_t>(request.size()));
  // Writers append large spans (far more than the socket buffers hold) while it does not read,
  // and a normal reader receives every one of them.
  constexpr int spans = 300;
  const std::string payload(4000, 'p');
  std::vector<std::string> expected;
  auto c = b.client();
  for (int i = 0; i < spans; ++i) {
    auto r =
        c.Post("/api/spans", bearer(alice), note(payload + std::to_string(i)), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 201);
    expected.push_back(body_of(r)["id"].template get<std::string>());
  }
  auto reader = b.client();
  auto events = read_events(reader, "/api/timeline/stream", bearer(alice), spans, 30s);
  REQUIRE(events.size() == spans);  // (the token span is the administrator's, not alice's)
  // Every span exactly once.
  std::set<std::string> got;
  for (const auto& e : events) got.insert(e.second);
  CHECK(got == std::set<std::string>(expected.begin(), expected.end()));
  // In append order (on PostgreSQL this caught the feed sorting transaction ids as text).
  for (int i = 0; i < spans; ++i)
    CHECK(events[static_cast<std::size_t>(i)].second == expected[static_cast<std::size_t>(i)]);
  ::close(fd);
}

TEMPLATE_TEST_CASE(
    "HTTP: a stream whose client falls behind is ended, and its client resumes from its last event",
    "[backend][http][feed]", LOGLINE_BACKENDS) {
  http_fixture<TestType> b({.stream_queue = 8});
  const auto alice = b.token("alice", "acme");
  auto c = b.client();
  std::vector<std::string> expected;
  auto post = [&](const std::string& text) {
    auto r = c.Post("/api/spans", bearer(alice), note(text), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 201);
    expected.push_back(body_of(r)["id"].template get<std::string>());
  };
  // The slow client: a small receive buffer, and it stops reading after its first event until
  // every span is posted, so the server's writes to it block and its queue (8 events) overflows.
  std::atomic<bool> got_first{false}, posted{false};
  std::vector<std::pair<std::string, std::string>> events;
  std::thread slow([&] {
    httplib::Client s("127.0.0.1", b.port);
    s.set_read_timeout(30s);
    s.set_socket_options([](socket_t fd) {
      int size = 4096;
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    });
    std::string buffer;
    s.Get("/api/timeline/stream", bearer(alice), [&](const char* data, std::size_t n) {
      buffer.append(data, n);
      for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
        const std::string event = buffer.substr(0, end);
        buffer.erase(0, end + 2);
        if (event.rfind("id: ", 0) != 0) continue;
        auto j = logline::parse_json(event.substr(event.find("data: ") + 6));
        if (j)
          events.emplace_back(event.substr(4, event.find('\n') - 4),
                              (*j)["id"].template get<std::string>());
      }
      got_first = !events.empty();
      while (got_first && !posted) std::this_thread::sleep_for(10ms);
      return true;
    });
  });
  post("first");
  while (!got_first) std::this_thread::sleep_for(5ms);
  // Writers are not held up by it: 200 spans of 50 kB (far more than the socket buffers hold).
  const std::string payload(50000, 'p');
  for (int i = 0; i < 200; ++i) post(payload + std::to_string(i));
  posted = true;
  slow.join();  // the server ended the stream
  REQUIRE(!events.empty());
  CHECK(events.size() < expected.size());
  CHECK_THAT(c.Get("/metrics")->body, Catch::Contains("logline_sse_overflows_total 1"));
  // It resumes after the last event it got: the rest, in order, none twice.
  auto reader = b.client();
  auto h = bearer(alice);
  h.emplace("Last-Event-ID", events.back().first);
  auto rest = read_events(reader, "/api/timeline/stream", h, expected.size() - events.size(), 30s);
  events.insert(events.end(), rest.begin(), rest.end());
  REQUIRE(events.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) CHECK(events[i].second == expected[i]);
}

TEMPLATE_TEST_CASE(
    "the stream hub: joining at, behind and far behind its reader; a full queue overflows",
    "[backend][http][feed]", LOGLINE_BACKENDS) {
  TestType f;
  conformance::full_ledger<typename TestType::backend> ledger(
      f.database(), {.identity = {"alice", "acme"}, .signing_key = conformance::test_key()});
  logline::http::stream_hub<decltype(ledger)> hub(ledger, {.recent = 4, .page = 256});
  const logline::identity alice{"alice", "acme"};
  std::vector<std::string> cursors;  // of every span, in feed order
  auto append = [&](int n) {
    for (int i = 0; i < n; ++i) ledger.append(conformance::make_span()).value();
    cursors.clear();
    for (const auto& c : ledger.changes({}, 1000).value()) cursors.push_back(c.cursor);
  };
  // Takes events until `n` arrived (or 5 s); returns their cursors.
  auto take = [](logline::http::stream_client& c, std::size_t n) {
    std::vector<std::string> got;
    for (int i = 0; i < 50 && got.size() < n; ++i)
      for (const auto& e : c.take(100ms).events) got.push_back(e->cursor);
    return got;
  };
  append(3);
  auto a = std::make_shared<logline::http::stream_client>(std::nullopt, 100);
  REQUIRE(hub.join(alice, a));  // the first stream of alice: the hub reads from its cursor
  CHECK(take(*a, 3) == cursors);
  // Behind the reader, within what it remembers: the difference comes from memory.
  auto b = std::make_shared<logline::http::stream_client>(std::nullopt, 100);
  b->set_after(cursors[0]);
  REQUIRE(hub.join(alice, b));
  CHECK(take(*b, 2) == std::vector<std::string>(cursors.begin() + 1, cursors.end()));
  append(5);  // the hub remembers the last 4 of 8
  CHECK(take(*a, 5) == std::vector<std::string>(cursors.begin() + 3, cursors.end()));
  auto c = std::make_shared<logline::http::stream_client>(std::nullopt, 100);
  c->set_after(cursors[1]);
  CHECK_FALSE(hub.join(alice, c));  // further behind: it must read on by itself
  c->set_after(cursors[3]);
  REQUIRE(hub.join(alice, c));
  CHECK(take(*c, 4) == std::vector<std::string>(cursors.begin() + 4, cursors.end()));
  // A stream that takes nothing overflows its queue of 2, and gets nothing more.
  auto d = std::make_shared<logline::http::stream_client>(std::nullopt, 2);
  d->set_after(cursors.back());
  REQUIRE(hub.join(alice, d));
  append(3);
  CHECK(take(*a, 3) == std::vector<std::string>(cursors.end() - 3, cursors.end()));
  // (a has all three; the hub may still be offering the third to d: wait for it, up to 5 s.)
  for (int i = 0; i < 500 && !d->overflowed(); ++i) std::this_thread::sleep_for(10ms);
  auto taken = d->take(100ms);
  auto& events = taken.events;
  const bool overflowed = taken.overflowed;
  CHECK(overflowed);
  CHECK(events.empty());
  // Another identity has its own reader, under its own visibility: bob sees none of alice's
  // private spans.
  auto e = std::make_shared<logline::http::stream_client>(std::nullopt, 100);
  REQUIRE(hub.join({"bob", "acme"}, e));
  CHECK(hub.identities() == 2);
  append(1);
  CHECK(take(*a, 1) == std::vector<std::string>{cursors.back()});
  CHECK(e->take(300ms).events.empty());
}
