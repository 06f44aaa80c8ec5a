// Scale-out on one PostgreSQL: two logline-server processes, each with the runtime, behind one
// database. Clients append and execute through both; no request runs twice, chains stay gapless
// (verify), and each server's stream sees the other's commits.
#include <httplib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <logline/json.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
using namespace process_test;

TEST_CASE("scale-out: two servers with the runtime on one PostgreSQL", "[postgres][http]") {
  conformance::postgres_schema pg;
  sandbox box_a, box_b;
  const std::string key = (box_a.dir / "server.key").string();
  box_a.cli("keygen --out " + key);
  const std::string cli_db = "--postgres " + sh_quote(pg.owner_dsn);
  box_a.cli("seed " + cli_db + " --key " + key);
  const auto issued =
      box_a.cli("token issue " + cli_db + " --key " + key +
                " --user alice --tenant acme --scopes spans:read,spans:write,execute");
  REQUIRE(issued.find("llt_") != std::string::npos);
  const std::string token = issued.substr(issued.find("llt_"), 68);
  const std::vector<std::string> args{"--postgres",       pg.app_dsn,        "--postgres-owner",
                                      pg.owner_dsn,       "--key",           key,
                                      "--with-scheduler", "--runtime-every", "1",
                                      "--quiet",          "--rate",          "100000"};
  server_process a(box_a.dir, args), b(box_b.dir, args);
  const httplib::Headers auth{{"Authorization", "Bearer " + token}};

  // A stream on each server, from now on.
  std::mutex m;
  std::map<int, std::set<std::string>>
      seen;  // server (0: a, 1: b) -> span ids its stream delivered
  std::atomic<bool> stop{false};
  std::vector<std::thread> streams;
  for (int which : {0, 1})
    streams.emplace_back([&, which] {
      httplib::Client c("127.0.0.1", which ? b.port : a.port);
      c.set_read_timeout(60s);
      std::string buffer;
      c.Get("/api/timeline/stream?entity_type=scale", auth, [&](const char* data, std::size_t n) {
        buffer.append(data, n);
        for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
          const std::string event = buffer.substr(0, end);
          buffer.erase(0, end + 2);
          const auto at = event.find("data: ");
          if (event.rfind("id: ", 0) != 0 || at == std::string::npos) continue;
          auto j = logline::parse_json(event.substr(at + 6));
          if (j) {
            std::lock_guard lock(m);
            seen[which].insert((*j)["id"].get<std::string>());
          }
        }
        return !stop.load();
      });
    });

  // Clients write through both servers at once: spans, and functions executed through the
  // server that did not store them.
  std::set<std::string> written;
  std::map<std::string, std::string> requests;  // request id -> function id
  std::atomic<int> failures{0};                 // (Catch2 assertions are for the test's own thread)
  std::vector<std::thread> clients;
  for (int k = 0; k < 4; ++k)
    clients.emplace_back([&, k] {
      httplib::Client mine("127.0.0.1", k % 2 ? b.port : a.port),
          other("127.0.0.1", k % 2 ? a.port : b.port);
      for (int i = 0; i < 25; ++i) {
        auto r = mine.Post("/api/spans", auth,
                           R"({"entity_type":"scale","this":"span )" + std::to_string(k) + "-" +
                               std::to_string(i) + "\"}",
                           "application/json");
        if (!r || r->status != 201) {
          ++failures;
          return;
        }
        const std::string id = logline::parse_json(r->body).value()["id"].get<std::string>();
        std::lock_guard lock(m);
        written.insert(id);
      }
      for (int i = 0; i < 3; ++i) {
        auto fn = mine.Post(
            "/api/spans", auth,
            R"({"entity_type":"function","this":"fn","language":"lua","code":"return 1"})",
            "application/json");
        if (!fn || fn->status != 201) {
          ++failures;
          return;
        }
        const std::string fn_id = logline::parse_json(fn->body).value()["id"].get<std::string>();
        auto r =
            other.Post("/api/execute", auth, R"({"span_id":")" + fn_id + "\"}", "application/json");
        if (!r || r->status != 202) {
          ++failures;
          return;
        }
        std::lock_guard lock(m);
        requests[logline::parse_json(r->body).value()["request_id"].get<std::string>()] = fn_id;
      }
    });
  for (auto& t : clients) t.join();
  REQUIRE(failures.load() == 0);
  REQUIRE(written.size() == 100);
  REQUIRE(requests.size() == 12);

  // Every request ends; both streams saw every span, whichever server stored it.
  httplib::Client c("127.0.0.1", a.port);
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  auto finished = [&] {
    for (const auto& [request, fn] : requests) {
      auto r = c.Get("/api/spans/" + request, auth);
      if (!r || r->status != 200) return false;
      const auto status = logline::parse_json(r->body).value()["status"];
      if (status != "complete") return false;
    }
    std::lock_guard lock(m);
    return seen[0].size() >= written.size() && seen[1].size() >= written.size();
  };
  while (!finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(300ms);
  {
    std::lock_guard lock(m);
    CHECK(seen[0] == written);
    CHECK(seen[1] == written);
  }
  CHECK(finished());
  stop = true;
  CHECK(a.terminate() == 0);
  CHECK(b.terminate() == 0);
  for (auto& t : streams) t.join();

  // No function ran twice; verify passes.
  const auto exported = box_a.try_cli("export " + cli_db);
  REQUIRE(exported.code == 0);
  std::map<std::string, int> executions_of;
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = logline::parse_json(line);
    if (j && j->is_object() && (*j)["entity_type"] == "execution" && j->contains("input") &&
        (*j)["input"].is_object() && (*j)["input"].contains("span_id"))
      ++executions_of[(*j)["input"]["span_id"].get<std::string>()];
  }
  for (const auto& [request, fn] : requests) CHECK(executions_of[fn] == 1);
  const auto verified = box_a.try_cli("verify " + cli_db);
  INFO(verified.out);
  CHECK(verified.code == 0);
}
