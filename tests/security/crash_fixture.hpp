#pragma once
// Crash consistency (issue: hardening): logline-server killed with SIGKILL at random moments
// while clients append, batch and execute, restarted at once on the same port, many times; on
// SQLite (crash_test.cpp) and on PostgreSQL (postgres_crash_test.cpp). Afterwards every append
// acknowledged with a 2xx is present, verify passes (hashes, signatures, gapless chains), every
// acknowledged request ends complete or error (abandoned when its worker died) and no function
// ran twice.
#include <httplib.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <optional>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <logline/json.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

namespace crash_test {

using namespace std::chrono_literals;
using namespace process_test;
namespace fs = std::filesystem;

inline int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  socklen_t len = sizeof a;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  ::close(fd);
  return ntohs(a.sin_port);
}

// logline-scheduler as a child process (its output in files of `dir`), killed with SIGKILL.
struct scheduler_process {
  pid_t pid = -1;
  scheduler_process(const fs::path& dir, std::vector<std::string> args) {
    args.insert(args.begin(), LOGLINE_SCHEDULER_PATH);
    pid = spawn(std::move(args), dir / "scheduler.out", dir / "scheduler.err", "a");
  }
  void kill9() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
  }
  ~scheduler_process() {
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  }
};

// What the clients were told: every id acknowledged with a 2xx.
struct acknowledged {
  std::mutex mutex;
  std::set<std::string> spans;
  std::map<std::string, std::string> requests;  // request id -> its function's id
};

// One client: appends, batches and executions, one after another, until `stop`.
inline void client(int port, const std::string& token, int which, std::atomic<bool>& stop,
                   acknowledged& acked) {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(1s);
  c.set_read_timeout(5s);
  const httplib::Headers auth{{"Authorization", "Bearer " + token}};
  for (int i = 0; !stop; ++i) {
    const std::string tag = std::to_string(which) + "-" + std::to_string(i);
    switch (i % 3) {
      case 0: {
        auto r =
            c.Post("/api/spans", auth, R"({"entity_type":"crash","this":"single )" + tag + "\"}",
                   "application/json");
        if (r && r->status == 201) {
          std::lock_guard lock(acked.mutex);
          acked.spans.insert(logline::parse_json(r->body).value()["id"].get<std::string>());
        }
        break;
      }
      case 1: {
        std::string body = "[";
        for (int k = 0; k < 5; ++k)
          body +=
              std::string(k ? "," : "") + R"({"entity_type":"crash","this":"batch )" + tag + "\"}";
        auto r = c.Post("/api/spans", auth, body + "]", "application/json");
        if (r && r->status == 201) {
          std::lock_guard lock(acked.mutex);
          for (const auto& s : logline::parse_json(r->body).value())
            acked.spans.insert(s["id"].get<std::string>());
        }
        break;
      }
      default: {
        auto fn = c.Post("/api/spans", auth,
                         R"({"entity_type":"function","this":"fn )" + tag +
                             R"(","language":"lua","code":"return 7"})",
                         "application/json");
        if (!fn || fn->status != 201) break;
        const std::string fn_id = logline::parse_json(fn->body).value()["id"].get<std::string>();
        {
          std::lock_guard lock(acked.mutex);
          acked.spans.insert(fn_id);
        }
        auto r =
            c.Post("/api/execute", auth, R"({"span_id":")" + fn_id + "\"}", "application/json");
        if (r && r->status == 202) {
          std::lock_guard lock(acked.mutex);
          const std::string request =
              logline::parse_json(r->body).value()["request_id"].get<std::string>();
          acked.spans.insert(request);
          acked.requests[request] = fn_id;
        }
      }
    }
  }
}

// What is killed: the server (which runs the runtime), or a logline-scheduler beside a server
// that stays up.
enum class victim { server, scheduler };

// The crash loop over one backend: the server's (and scheduler's) and the CLI's database arguments.
inline void crash_and_check(sandbox& box, const std::string& server_db_args_text,
                            const std::vector<std::string>& server_db_args,
                            const std::string& cli_db_args, int cycles,
                            victim killed = victim::server) {
  const std::string key = (box.dir / "server.key").string();
  box.cli("keygen --out " + key);
  box.cli("seed " + cli_db_args + " --key " + key);
  const auto issued =
      box.cli("token issue " + cli_db_args + " --key " + key +
              " --user alice --tenant acme --scopes spans:read,spans:write,execute");
  REQUIRE(issued.find("llt_") != std::string::npos);
  const std::string token = issued.substr(issued.find("llt_"), 68);
  const int port = free_port();
  std::vector<std::string> args = server_db_args;
  for (const char* a : {"--key", key.c_str(), "--quiet", "--port"}) args.push_back(a);
  args.push_back(std::to_string(port));
  std::vector<std::string> with_runtime = args;
  for (const char* a : {"--with-scheduler", "--runtime-every", "1", "--lease-margin", "1"})
    with_runtime.push_back(a);
  std::vector<std::string> scheduler_args = server_db_args;
  for (const char* a : {"--key", key.c_str(), "--observer-every", "1", "--worker-every", "1",
                        "--lease-margin", "1"})
    scheduler_args.push_back(a);
  acknowledged acked;
  std::mt19937 random(20261207);
  std::optional<server_process> steady;  // the server that stays up while schedulers die
  if (killed == victim::scheduler) steady.emplace(box.dir, args);
  for (int cycle = 0; cycle < cycles; ++cycle) {
    std::optional<server_process> server;
    std::optional<scheduler_process> scheduler;
    if (killed == victim::server) {
      server.emplace(box.dir,
                     with_runtime);  // fails the test if it cannot listen on its port at once
      REQUIRE(server->port == port);
    } else {
      scheduler.emplace(box.dir, scheduler_args);
    }
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int k = 0; k < 3; ++k)
      clients.emplace_back([&, k] { client(port, token, cycle * 10 + k, stop, acked); });
    std::this_thread::sleep_for(std::chrono::milliseconds(300 + random() % 1700));
    if (server) server->kill9();
    if (scheduler) scheduler->kill9();
    stop = true;
    for (auto& t : clients) t.join();
  }
  steady.reset();
  INFO(server_db_args_text);
  REQUIRE(acked.spans.size() > 10);  // the clients got work done between the crashes
  // Once more, until every acknowledged request has ended (one whose worker was killed after
  // its claim is closed as abandoned when its lease runs out).
  {
    server_process server(box.dir, with_runtime);
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(5s);
    const httplib::Headers auth{{"Authorization", "Bearer " + token}};
    std::map<std::string, std::string> open = acked.requests;
    const auto deadline = std::chrono::steady_clock::now() + 90s;
    while (!open.empty() && std::chrono::steady_clock::now() < deadline) {
      for (auto it = open.begin(); it != open.end();) {
        auto r = c.Get("/api/spans/" + it->first, auth);
        const auto status = r && r->status == 200
                                ? logline::parse_json(r->body).value()["status"].get<std::string>()
                                : std::string();
        it = status == "complete" || status == "error" ? open.erase(it) : std::next(it);
      }
      if (!open.empty()) std::this_thread::sleep_for(500ms);
    }
    INFO(slurp(box.dir / "server.err"));
    CHECK(open.empty());
    CHECK(server.terminate() == 0);
  }
  const auto verified = box.try_cli("verify " + cli_db_args);
  INFO(verified.out);
  CHECK(verified.code == 0);
  // Every acknowledged span is there; no function ran twice.
  const auto exported = box.try_cli("export " + cli_db_args);
  REQUIRE(exported.code == 0);
  std::set<std::string> present;
  std::map<std::string, int> executions_of;  // function id -> executions of run_code for it
  std::istringstream lines(exported.out);
  for (std::string line; std::getline(lines, line);) {
    auto j = logline::parse_json(line);
    if (!j || !j->is_object() || !j->contains("id")) continue;
    present.insert((*j)["id"].get<std::string>());
    if ((*j)["entity_type"] == "execution" && j->contains("input") && (*j)["input"].is_object() &&
        (*j)["input"].contains("span_id"))
      ++executions_of[(*j)["input"]["span_id"].get<std::string>()];
  }
  std::size_t missing = 0;
  for (const auto& id : acked.spans) missing += present.count(id) ? 0 : 1;
  CHECK(missing == 0);
  int ran_twice = 0;
  for (const auto& [request, fn] : acked.requests) ran_twice += executions_of[fn] > 1 ? 1 : 0;
  CHECK(ran_twice == 0);
}

}  // namespace crash_test
