#pragma once
// A logline::http::api over one of the conformance backends, served on a free loopback port, with
// a client, tokens, and the operator's count of stored rows: what the HTTP tests share.
#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <logline/http/server.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"

namespace http_test {

using namespace std::chrono_literals;
using logline::json;

template <class F>
struct http_fixture {
  using ledger_type = conformance::full_ledger<typename F::backend>;
  F f;
  ledger_type ledger{
      f.database(),
      {.identity = logline::http::token_admin, .signing_key = conformance::test_key()}};
  logline::http::api<ledger_type> api;
  logline::http::server svr;
  std::thread thread;
  int port = 0;

  explicit http_fixture(logline::http::server_options o = {},
                        logline::http::connection_limits l = {})
      : api(ledger, std::move(o)), svr(l) {
    api.mount(svr);
    port = logline::http::bind_exclusive(svr, "127.0.0.1", 0);
    REQUIRE(port > 0);
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~http_fixture() {
    api.stop();
    svr.stop();
    thread.join();
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10s);
    return c;
  }
  // A token for an identity with some scopes.
  std::string token(std::string user, std::optional<std::string> tenant,
                    std::set<std::string> scopes = {"spans:read", "spans:write", "execute"}) {
    const auto t = logline::http::generate_token();
    ledger.append(logline::http::token_span(t, {std::move(user), std::move(tenant)}, scopes))
        .value();
    api.tokens().reload().value();
    return t;
  }
  // Rows stored, whoever owns them (the operator's view).
  std::size_t stored() { return conformance::all_spans(ledger).size(); }
};

// The access log of a fixture's API, kept for the test to search.
struct access_log {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  // The first line holding `text` ("" if none).
  std::string find(const std::string& text) {
    std::lock_guard lock(mutex);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return l;
    return {};
  }
};

inline httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

inline json body_of(const httplib::Result& r) {
  REQUIRE(r);
  auto j = logline::parse_json(r->body);
  INFO(r->body);
  REQUIRE(j.has_value());
  return *j;
}

// The body of a POST /api/spans: a note whose `this` is `text`, with `extra` members
// (`,"visibility":"tenant"`) appended.
inline std::string note(const std::string& text, const std::string& extra = "") {
  return R"({"entity_type":"note","this":")" + text + "\"" + extra + "}";
}

}  // namespace http_test
