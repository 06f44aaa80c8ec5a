// Hostile clients against the HTTP API (issue: hardening): bodies that do not end, connections
// that do not speak, streams that do not stop, tokens revoked under an open stream, a port left
// in TIME_WAIT by a crash. Each attack is tried, then the service is shown to answer others.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "http/http_fixture.hpp"

namespace {

using namespace std::chrono_literals;
using http_test::bearer;
using http_test::body_of;
using http_test::http_fixture;
using logline::json;

// A client socket from `source` (any 127.0.0.0/8 address is loopback on Linux: a distinct client
// address for the per-address caps) to the fixture's port.
struct raw_client {
  int fd = -1;
  raw_client(int port, const char* source = "127.0.0.1") {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    ::inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  }
  ~raw_client() {
    if (fd >= 0) ::close(fd);
  }
  raw_client(const raw_client&) = delete;
  // Sends everything, or stops at the first failure (the server closed); how much went out.
  std::size_t send_all(const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    return sent;
  }
  // What the server sends until it closes or `timeout` passes.
  std::string read_until_close(std::chrono::milliseconds timeout) {
    std::string out;
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      char buf[4096];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
  }
  // Whether the server closes this connection within `timeout` (what it sends first is read
  // and dropped).
  bool closed_within(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            until - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) return false;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) return false;
      char buf[4096];
      if (::recv(fd, buf, sizeof buf, 0) <= 0) return true;
    }
  }
};

int status_of(const std::string& response) {
  if (response.rfind("HTTP/1.1 ", 0) != 0) return 0;
  return std::stoi(response.substr(9, 3));
}

std::string chunked_post(const std::string& path, const std::string& token) {
  std::string head =
      "POST " + path +
      " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
  if (!token.empty()) head += "Authorization: Bearer " + token + "\r\n";
  return head + "\r\n";
}
std::string chunk(const std::string& data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + data + "\r\n";
}

bool healthy(int port) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(5s);
  c.set_connection_timeout(5s);
  auto r = c.Get("/health");
  return r && r->status == 200;
}

}  // namespace

TEST_CASE("hostile: an unauthenticated chunked upload is refused before its body is read",
          "[security][hostile]") {
  http_fixture<conformance::sqlite_file> b;
  const std::size_t before = b.stored();
  raw_client attacker(b.port, "127.0.0.2");
  REQUIRE(attacker.send_all(chunked_post("/api/spans", "")) > 0);
  // 64 MiB of chunks: the server answers 401 after the headers and closes; it never reads them.
  const std::string piece = chunk(std::string(64 * 1024, 'a'));
  std::size_t sent = 0;
  for (int i = 0; i < 1024; ++i) {
    const std::size_t n = attacker.send_all(piece);
    sent += n;
    if (n < piece.size()) break;
  }
  CHECK(sent < std::size_t(64) * 1024 * 1024);  // the connection was closed under the upload
  const std::string response = attacker.read_until_close(5s);
  if (!response.empty()) CHECK(status_of(response) == 401);  // (a reset may have eaten it)
  CHECK(b.stored() == before);
  CHECK(healthy(b.port));
}

TEST_CASE("hostile: a chunked body is held to the body limit while it is read",
          "[security][hostile]") {
  http_fixture<conformance::sqlite_file> b;
  const auto token = b.token("mallory", "globex");
  const std::size_t before = b.stored();
  SECTION("a span of 2 MB in small chunks: 413, nothing stored, the connection closed") {
    raw_client c(b.port);
    std::string body =
        chunked_post("/api/spans", token) + chunk(R"({"entity_type":"note","this":")");
    for (int i = 0; i < 2048; ++i) body += chunk(std::string(1024, 'x'));
    body += chunk(R"("})") + "0\r\n\r\n";
    c.send_all(body);
    const std::string response = c.read_until_close(10s);
    CHECK(status_of(response) == 413);
    CHECK(response.find("payload_too_large") != std::string::npos);
  }
  SECTION("an encoding that costs more than the payload (one byte per chunk) is cut off too") {
    raw_client c(b.port);
    std::string body = chunked_post("/api/spans", token);
    for (int i = 0; i < 400 * 1024; ++i) body += "1\r\nx\r\n";
    c.send_all(body);
    CHECK(status_of(c.read_until_close(10s)) == 413);
  }
  SECTION("a Content-Length over the limit is refused before the body") {
    raw_client c(b.port);
    c.send_all(
        "POST /api/spans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: "
        "Bearer " +
        token + "\r\nContent-Length: 5000000000\r\n\r\n{");
    CHECK(status_of(c.read_until_close(10s)) == 413);
  }
  SECTION("a small chunked span is stored") {
    raw_client c(b.port);
    c.send_all(chunked_post("/api/spans", token) + chunk(R"({"entity_type":"note",)") +
               chunk(R"("this":"chunked"})") + "0\r\n\r\n");
    const std::string response = c.read_until_close(3s);
    CHECK(status_of(response) == 201);
    CHECK(b.stored() == before + 1);
    return;
  }
  CHECK(b.stored() == before);
  CHECK(healthy(b.port));
}

TEST_CASE(
    "hostile: idle and trickling connections neither starve the server nor outlive the request "
    "deadline",
    "[security][hostile]") {
  logline::http::connection_limits l;
  l.max_connections_per_address = 100;
  l.request_deadline = 3s;
  http_fixture<conformance::sqlite_file> b({}, l);
  const auto token = b.token("alice", "acme");
  // 120 connections from one address: 100 are admitted and stay idle (more than a fixed pool of
  // 64 threads would have had), 20 get a 503 at once.
  std::vector<std::unique_ptr<raw_client>> idle;
  for (int i = 0; i < 120; ++i) {
    idle.push_back(std::make_unique<raw_client>(b.port, "127.0.0.2"));
    idle.back()->send_all("GET /health HTTP/1.1\r\n");  // a request that never ends
  }
  for (int i = 0; i < 250 && b.svr.stats().refused_per_address.load() < 20; ++i)
    std::this_thread::sleep_for(20ms);
  CHECK(b.svr.stats().refused_per_address.load() == 20);
  {
    raw_client over(b.port, "127.0.0.2");
    const std::string response = over.read_until_close(3s);
    CHECK(status_of(response) == 503);
    CHECK(response.find("Retry-After: ") != std::string::npos);
  }
  // Another client is served meanwhile (a fixed pool of 64 threads would have been held by them).
  auto c = b.client();
  auto r = c.Get("/api/timeline", bearer(token));
  REQUIRE(r);
  CHECK(r->status == 200);
  // A request trickled a header line at a time is cut off by the deadline: 408, then closed.
  raw_client slow(b.port, "127.0.0.3");
  slow.send_all("GET /health HTTP/1.1\r\n");
  std::string got;
  for (int i = 0; i < 60 && got.empty(); ++i) {
    slow.send_all("X-Filler: 1\r\n");
    got = slow.read_until_close(200ms);
  }
  CHECK(status_of(got) == 408);
  // The idle connections were cut off too.
  int closed = 0;
  for (auto& i : idle)
    if (i->closed_within(3s)) ++closed;
  CHECK(closed == 120);
  CHECK(b.svr.stats().deadline_exceeded.load() >= 101);
}

TEST_CASE("hostile: the total connection cap answers 503 with Retry-After", "[security][hostile]") {
  logline::http::connection_limits l;
  l.max_connections = 10;
  http_fixture<conformance::sqlite_file> b({}, l);
  std::vector<std::unique_ptr<raw_client>> held;
  for (int i = 0; i < 10; ++i)
    held.push_back(
        std::make_unique<raw_client>(b.port, ("127.0.1." + std::to_string(i + 1)).c_str()));
  std::this_thread::sleep_for(200ms);  // each is admitted (on its own thread) before the next test
  raw_client over(b.port, "127.0.2.1");
  const std::string response = over.read_until_close(3s);
  CHECK(status_of(response) == 503);
  CHECK(response.find("too many open connections") != std::string::npos);
  held.clear();
  // Once they are gone, the server serves again.
  bool served = false;
  for (int i = 0; i < 50 && !served; ++i) {
    served = healthy(b.port);
    if (!served) std::this_thread::sleep_for(100ms);
  }
  CHECK(served);
}

TEST_CASE("hostile: streams are capped per token and in total", "[security][hostile]") {
  logline::http::server_options o;
  o.max_streams_per_token = 2;
  o.max_streams = 3;
  http_fixture<conformance::sqlite_file> b(o);
  const auto flood = b.token("mallory", "globex");
  const auto other = b.token("alice", "acme");
  const auto third = b.token("bob", "acme");
  std::atomic<bool> stop{false};
  std::vector<std::thread> streams;
  std::atomic<int> opened{0};
  auto open_stream = [&](std::string token) {
    streams.emplace_back([&, token] {
      auto c = b.client();
      c.Get("/api/timeline/stream", bearer(token),
            [&](const char*, std::size_t) { return !stop.load(); });
    });
  };
  auto wait_for = [&](long n) {
    for (int i = 0; i < 100 && b.api.stats().sse_clients.load() < n; ++i)
      std::this_thread::sleep_for(20ms);
    return b.api.stats().sse_clients.load();
  };
  open_stream(flood);
  open_stream(flood);
  CHECK(wait_for(2) == 2);
  auto c = b.client();
  auto third_of_flood = c.Get("/api/timeline/stream", bearer(flood));
  REQUIRE(third_of_flood);
  CHECK(third_of_flood->status == 429);
  CHECK(third_of_flood->get_header_value("Retry-After") == "5");
  open_stream(other);
  CHECK(wait_for(3) == 3);
  auto over = c.Get("/api/timeline/stream", bearer(third));
  REQUIRE(over);
  CHECK(over->status == 503);
  CHECK(over->has_header("Retry-After"));
  // Requests are served all along.
  CHECK(c.Get("/api/timeline", bearer(third))->status == 200);
  stop = true;
  b.api.stop();  // ends the open streams
  for (auto& t : streams) t.join();
}

TEST_CASE("hostile: wrong methods are 405 with Allow; executing what is not a function is refused",
          "[security][hostile]") {
  http_fixture<conformance::sqlite_file> b;
  const auto t = b.token("alice", "acme");
  auto c = b.client();
  auto del = c.Delete("/api/spans", bearer(t));
  REQUIRE(del);
  CHECK(del->status == 405);
  CHECK(del->get_header_value("Allow") == "POST");
  CHECK(body_of(del)["error"]["code"] == "method_not_allowed");
  auto get = c.Get("/api/execute", bearer(t));
  REQUIRE(get);
  CHECK(get->status == 405);
  CHECK(c.Get("/no/such/route")->status == 404);
  auto note = body_of(c.Post("/api/spans", bearer(t), R"({"entity_type":"note","this":"not code"})",
                             "application/json"));
  const std::size_t before = b.stored();
  auto run = c.Post("/api/execute", bearer(t),
                    R"({"span_id":")" + note["id"].get<std::string>() + "\"}", "application/json");
  REQUIRE(run);
  CHECK(run->status == 400);
  CHECK(body_of(run)["error"]["message"].get<std::string>().find("not a function") !=
        std::string::npos);
  CHECK(b.stored() == before);
}

TEST_CASE(
    "hostile: a port left in TIME_WAIT by the server's own connections can be bound again at once",
    "[security][hostile]") {
  int port = 0;
  {
    http_fixture<conformance::sqlite_file> b;
    port = b.port;
    // The server closes these connections first (Connection: close), so their ends on the
    // server's port sit in TIME_WAIT after it is gone, as after a crash under load.
    for (int i = 0; i < 20; ++i) {
      raw_client c(port);
      c.send_all("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      CHECK(status_of(c.read_until_close(3s)) == 200);
    }
  }
  logline::http::server again;
  CHECK(logline::http::bind_exclusive(again, "127.0.0.1", port) == port);
  // Still exclusive: a second server on the port in use is refused.
  logline::http::server third;
  CHECK(logline::http::bind_exclusive(third, "127.0.0.1", port) == -1);
}
