// logline-server and `logline-cli token` as real processes: tokens issued and revoked from the
// CLI, JSON access logs, CORS off by default and opened by a flag, TLS with a self-signed pair
// made here, and SIGTERM ending open streams and the process cleanly.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>

#include <logline/http/server.hpp>

#include "logline/json.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

using process_test::sandbox;
using process_test::server_process;
using process_test::sh;
using process_test::slurp;

httplib::Headers bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

// How many times the policy agent ran: its executions in the ledger file, exported by the CLI
// (as the operator) while the server runs.
std::size_t policy_runs(sandbox& box, const std::string& db) {
  const std::string policy_agent = "00000000-0000-4000-8000-000000000004";  // LogLineOS's …004
  std::size_t runs = 0;
  std::istringstream lines(box.cli("export --db " + db));
  for (std::string line; std::getline(lines, line);)
    if (auto s = logline::parse_json(line); s && s->is_object() &&
                                            s->value("entity_type", "") == "execution" &&
                                            s->value("parent_id", "") == policy_agent)
      ++runs;
  return runs;
}

}  // namespace

TEST_CASE("logline-server: tokens from the CLI, access logs, CORS, SIGTERM", "[cli][http]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string(), key = (box.dir / "server.key").string();
  box.cli("keygen --out " + key);
  auto issued = box.cli("token issue --db " + db + " --key " + key +
                        " --user alice --tenant acme --scopes spans:read,spans:write");
  const auto token_at = issued.find("llt_");
  REQUIRE(token_at != std::string::npos);
  const std::string token = issued.substr(token_at, 68);
  const auto id_at = issued.find("token ");
  REQUIRE(id_at != std::string::npos);
  const std::string token_id = issued.substr(id_at + 6, 36);

  {
    server_process server(box.dir, {"--db", db, "--key", key});
    httplib::Client c("127.0.0.1", server.port);
    auto created =
        c.Post("/api/spans", bearer(token),
               R"({"entity_type":"note","who":"alice","this":"over http"})", "application/json");
    REQUIRE(created);
    CHECK(created->status == 201);
    CHECK(created->get_header_value("Access-Control-Allow-Origin")
              .empty());  // CORS is off by default
    const std::string request_id = created->get_header_value("X-Request-Id");
    CHECK_FALSE(request_id.empty());

    // An open stream, then SIGTERM: the stream ends and the process exits 0.
    std::atomic<bool> stream_ended{false};
    std::mutex received_mutex;  // the stream's thread appends while this one looks
    std::string received;
    auto has_received = [&](std::string_view what) {
      std::lock_guard lock(received_mutex);
      return received.find(what) != std::string::npos;
    };
    std::thread stream([&] {
      httplib::Client s("127.0.0.1", server.port);
      s.set_read_timeout(30s);
      s.Get("/api/timeline/stream", bearer(token), [&](const char* d, std::size_t n) {
        std::lock_guard lock(received_mutex);
        received.append(d, n);
        return true;
      });
      stream_ended = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!has_received("over http") && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(20ms);
    CHECK(has_received("over http"));

    box.cli("token revoke --db " + db + " --key " + key + " --id " + token_id);
    bool refused = false;
    for (int i = 0; i < 100 && !refused; ++i) {  // the server re-reads its tokens every 2 s
      refused = c.Get("/api/timeline", bearer(token))->status == 401;
      if (!refused) std::this_thread::sleep_for(100ms);
    }
    CHECK(refused);

    CHECK(server.terminate() == 0);
    stream.join();
    CHECK(stream_ended);
    const std::string log = slurp(box.dir / "server.err");
    CHECK_THAT(log, Catch::Contains("\"request_id\":\"" + request_id + "\""));
    CHECK_THAT(log, Catch::Contains("\"duration_ms\":"));
    CHECK_THAT(log, Catch::Contains("\"path\":\"/api/spans\""));
  }
  {
    server_process server(box.dir, {"--db", db, "--key", key, "--cors", "*"});
    httplib::Client c("127.0.0.1", server.port);
    auto r = c.Get("/health");
    REQUIRE(r);
    CHECK(r->get_header_value("Access-Control-Allow-Origin") == "*");
    auto pre = c.Options("/api/spans");
    REQUIRE(pre);
    CHECK(pre->status == 204);
  }
}

TEST_CASE("logline-server: TLS with a certificate and key", "[cli][http]") {
  sandbox box;
  const std::string cert = (box.dir / "cert.pem").string(), pkey = (box.dir / "key.pem").string();
  sh("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -keyout " + pkey +
     " -out " + cert + " 2>&1");
  server_process server(
      box.dir, {"--db", (box.dir / "tls.db").string(), "--tls-cert", cert, "--tls-key", pkey});
  CHECK_THAT(slurp(box.dir / "server.out"), Catch::Contains("https://"));
  httplib::SSLClient c("127.0.0.1", server.port);
  c.enable_server_certificate_verification(false);
  auto r = c.Get("/health");
  REQUIRE(r);
  CHECK(r->status == 200);
  // Plain HTTP on the TLS port gets nothing useful.
  httplib::Client plain("127.0.0.1", server.port);
  plain.set_read_timeout(2s);
  auto p = plain.Get("/health");
  CHECK((!p || p->status != 200));
  CHECK(server.terminate() == 0);
}

TEST_CASE("logline-server: the README's three curl lines work against make run's server",
          "[cli][http]") {
  sandbox box;
  const std::string readme = slurp(fs::path(LOGLINE_SOURCE_DIR) / "README.md");
  // The commands of the block that follows "## The REST server".
  const auto section = readme.find("## The REST server");
  REQUIRE(section != std::string::npos);
  const auto start = readme.find("```sh\n", section) + 6, end = readme.find("```", start);
  std::string block = readme.substr(start, end - start);
  std::vector<std::string> commands;
  std::string current;
  std::istringstream lines(block);
  for (std::string line; std::getline(lines, line);) {
    if (auto hash = line.find("   # "); hash != std::string::npos) line = line.substr(0, hash);
    current += line;
    if (!current.empty() && current.back() == '\\') {
      current.pop_back();
      continue;
    }
    commands.push_back(current);
    current.clear();
  }
  REQUIRE(commands.size() == 3);
  server_process server(box.dir, {"--db", (box.dir / "run.db").string(), "--demo-token"});
  const std::string out = slurp(box.dir / "server.out");
  const auto t = out.find("llt_");
  REQUIRE(t != std::string::npos);
  const std::string env = "T=" + out.substr(t, 68) + "; ";
  auto local = [&](std::string c) {
    for (std::size_t at; (at = c.find("127.0.0.1:8080")) != std::string::npos;)
      c.replace(at, 14, "127.0.0.1:" + std::to_string(server.port));
    return c;
  };
  auto posted = logline::parse_json(sh(env + local(commands[0])));
  REQUIRE(posted.has_value());
  CHECK((*posted)["this"] == "hello");
  CHECK((*posted)["owner_id"] == "demo");
  auto page = logline::parse_json(sh(env + local(commands[1])));
  REQUIRE(page.has_value());
  CHECK((*page)["spans"].size() == 1);
  const std::string streamed = sh(env + "timeout 2 " + local(commands[2]) + " || true");
  CHECK_THAT(streamed, Catch::Contains("event: span"));
  CHECK_THAT(streamed, Catch::Contains((*posted)["id"].get<std::string>()));
}

TEST_CASE(
    "logline-server --with-scheduler: a Lua function posted and executed over HTTP runs and is "
    "consumed",
    "[cli][http]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string(), key = (box.dir / "server.key").string();
  box.cli("keygen --out " + key);
  box.cli("seed --db " + db + " --key " + key);
  auto issued = box.cli("token issue --db " + db + " --key " + key +
                        " --user alice --tenant acme --scopes spans:read,spans:write,execute");
  const std::string token = issued.substr(issued.find("llt_"), 68);

  server_process server(box.dir,
                        {"--db", db, "--key", key, "--with-scheduler", "--runtime-every", "1"});
  httplib::Client c("127.0.0.1", server.port);
  auto fn = c.Post(
      "/api/spans", bearer(token),
      R"({"entity_type":"function","who":"alice","this":"square","language":"lua","code":"return {square = 12 * 12}"})",
      "application/json");
  REQUIRE(fn);
  REQUIRE(fn->status == 201);
  const auto fn_id = logline::parse_json(fn->body).value()["id"].get<std::string>();
  auto exec =
      c.Post("/api/execute", bearer(token), R"({"span_id":")" + fn_id + "\"}", "application/json");
  REQUIRE(exec);
  REQUIRE(exec->status == 202);
  const auto request_id = logline::parse_json(exec->body).value()["request_id"].get<std::string>();
  logline::json request;
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    request = logline::parse_json(c.Get("/api/spans/" + request_id, bearer(token))->body).value();
    if (request["status"] == "complete" || request["status"] == "error") break;
    std::this_thread::sleep_for(100ms);
  }
  INFO(request.dump() << slurp(box.dir / "server.err"));
  REQUIRE(request["status"] == "complete");
  CHECK(request["seq"] == 2);
  auto execution =
      logline::parse_json(
          c.Get("/api/spans/" + request["output"]["execution_id"].get<std::string>(), bearer(token))
              ->body)
          .value();
  CHECK(execution["output"] == logline::json{{"square", 144}});
  CHECK(server.terminate() == 0);
  CHECK_THAT(box.cli("verify --db " + db), Catch::Contains("ok"));
}

TEST_CASE("logline-server --with-scheduler: the seed ttl_reaper archives a span posted with a TTL",
          "[cli][http]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string(), key = (box.dir / "server.key").string();
  box.cli("keygen --out " + key);
  box.cli("seed --db " + db + " --key " + key);
  box.cli("seed --db " + db + " --key " + key + " --policies --user alice --tenant acme");
  auto issued = box.cli("token issue --db " + db + " --key " + key +
                        " --user alice --tenant acme --scopes spans:read,spans:write");
  const std::string token = issued.substr(issued.find("llt_"), 68);

  server_process server(box.dir, {"--db", db, "--key", key, "--with-scheduler", "--runtime-every",
                                  "1", "--policy-every", "1"});
  httplib::Client c("127.0.0.1", server.port);
  auto note = c.Post(
      "/api/spans", bearer(token),
      R"({"entity_type":"note","who":"alice","this":"gone soon","visibility":"tenant","metadata":{"ttl_minutes":0}})",
      "application/json");
  REQUIRE(note);
  REQUIRE(note->status == 201);
  const auto note_id = logline::parse_json(note->body).value()["id"].get<std::string>();
  auto kept = c.Post("/api/spans", bearer(token),
                     R"({"entity_type":"note","who":"alice","this":"stays","visibility":"tenant"})",
                     "application/json");
  REQUIRE(kept);
  REQUIRE(kept->status == 201);
  // Arrival: a revisit at the expiry; the next policy run: the status_patch.
  logline::json patches;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    patches =
        logline::parse_json(c.Get("/api/timeline?entity_type=status_patch", bearer(token))->body)
            .value()["spans"];
    if (!patches.empty()) break;
    std::this_thread::sleep_for(200ms);
  }
  INFO(patches.dump() << slurp(box.dir / "server.err"));
  REQUIRE(patches.size() == 1);
  CHECK(patches[0]["parent_id"] == note_id);
  CHECK(patches[0]["status"] == "archived");
  CHECK(patches[0]["owner_id"] == "alice");
  // Two more policy runs (an idle ledger boots none: each follows a new span), and still one
  // patch.
  for (int i = 0; i < 2; ++i) {
    const std::size_t before = policy_runs(box, db);
    REQUIRE(c.Post("/api/spans", bearer(token),
                   R"({"entity_type":"note","who":"alice","this":"later","visibility":"tenant"})",
                   "application/json")
                ->status == 201);
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (policy_runs(box, db) == before && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(100ms);
    REQUIRE(policy_runs(box, db) > before);
  }
  CHECK(logline::parse_json(c.Get("/api/timeline?entity_type=status_patch", bearer(token))->body)
            .value()["spans"]
            .size() == 1);
  CHECK(server.terminate() == 0);
  CHECK_THAT(box.cli("verify --db " + db), Catch::Contains("ok"));
}

TEST_CASE("logline-scheduler: --seed and --once over a SQLite file; bad arguments exit 2",
          "[cli]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string(), key = (box.dir / "k.key").string();
  box.cli("keygen --out " + key);
  const std::string scheduler = std::string(LOGLINE_SCHEDULER_PATH);
  const auto first = sh(scheduler + " --db " + db + " --key " + key + " --seed --once 2>&1");
  CHECK_THAT(first, Catch::Contains("seeded: 6 spans appended"));
  CHECK_THAT(first, Catch::Contains("observer_bot: complete"));
  CHECK_THAT(first, Catch::Contains("request_worker: complete"));
  CHECK_THAT(first, Catch::Contains("policy_agent: complete"));
  CHECK_THAT(sh(scheduler + " --db " + db + " --key " + key + " --seed --once 2>&1"),
             Catch::Contains("seeded: 0 spans appended"));
  for (const std::string bad : {" --observer-every 0", " --bogus", " --worker-every x"}) {
    const int status = std::system(
        (scheduler + " --db " + db + " --key " + key + bad + " --once > /dev/null 2>&1").c_str());
    CHECK(WEXITSTATUS(status) == 2);
  }
  // Without a key it refuses to run.
  const int status = std::system(
      ("env -u LOGLINE_SIGNING_KEY " + scheduler + " --db " + db + " --once > /dev/null 2>&1")
          .c_str());
  CHECK(WEXITSTATUS(status) == 2);
}
