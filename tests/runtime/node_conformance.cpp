// End to end on both backends, time driven by a manual clock (no sleeps): seed → a Lua function
// with status scheduled → scheduler ticks → observer_bot's request → request_worker's execution,
// whose spans `logline-cli verify` accepts; the quota → a policy_violation; a refused id →
// nothing executed; an infinite loop and a memory bomb → error executions, and the node goes on.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <logline/runtime/node.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;
using namespace std::chrono_literals;

namespace {

// logline-cli's option for the fixture's database (one template: a conformance binary
// instantiates one backend).
template <class F>
std::string cli_target(const F& f) {
  if constexpr (std::is_same_v<F, conformance::postgres_schema>)
    return "--postgres '" + f.owner_dsn + "'";
  else
    return "--db '" + f.path + "'";
}

// Runs `logline-cli verify` on the fixture's database: its exit code and output.
template <class F>
std::pair<int, std::string> cli_verify(F& f) {
  const auto out = std::filesystem::temp_directory_path() /
                   ("logline-node-verify-" + std::to_string(::getpid()) + ".txt");
  const std::string command = std::string("'") + LOGLINE_CLI_PATH + "' verify " + cli_target(f) +
                              " > '" + out.string() + "' 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream in(out);
  std::stringstream text;
  text << in.rdbuf();
  std::filesystem::remove(out);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

// Whether a thread of this process is running (state R) in Linux's SCHED_IDLE class (policy 5,
// field 41 of /proc/self/task/TID/stat).
bool idle_class_thread_running() {
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream in(task.path() / "stat");
    std::string stat;
    std::getline(in, stat);
    const auto close = stat.rfind(')');  // after the command name, which may hold anything
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 1));
    std::vector<std::string> fields;  // fields[0] is field 3, the state
    for (std::string f; rest >> f;) fields.push_back(f);
    if (fields.size() > 38 && fields[0] == "R" && fields[38] == "5") return true;
  }
  return false;
}

template <class F>
struct node_fixture : runtime_test::fixture<F> {
  using typename runtime_test::fixture<F>::ledger_type;
  using runtime_test::fixture<F>::ledger;
  using runtime_test::fixture<F>::alice;
  using runtime_test::fixture<F>::of_type;

  runtime::manual_clock clock{date::sys_days{date::year{2026} / 3 / 28} + 23h};
  runtime::memory_state state;
  std::vector<std::string> errors;
  std::unique_ptr<runtime::node<ledger_type>> node;

  node_fixture() {
    runtime::seed(ledger).value();
    typename runtime::node<ledger_type>::options o;
    o.scheduling.inline_runs = true;
    o.policy_every = 10s;  // all three jobs on every tick
    o.limits.instructions = 5'000'000;
    o.limits.memory_bytes = 16u << 20;
    o.on_error = [this](const std::string& job, const logline::error_info& e) {
      errors.push_back(job + ": " + e.message());
    };
    node = std::make_unique<runtime::node<ledger_type>>(ledger, o, clock, state);
  }
  logline::universal_span scheduled(const std::string& code) {
    logline::universal_span s = conformance::make_span("function", "alice");
    s.language = "lua";
    s.code = code;
    s.status = "scheduled";
    return ledger.as(alice).append(s).value();
  }
  // The latest version of the request for function `fn`.
  std::optional<logline::universal_span> request_for(const logline::uuid& fn) {
    std::optional<logline::universal_span> out;
    for (auto& s : of_type("request"))
      if (s.parent_id == fn && (!out || s.seq > out->seq)) out = std::move(s);
    return out;
  }
  logline::universal_span execution_of(const logline::universal_span& request) {
    REQUIRE(request.output);
    const auto id =
        logline::uuid::parse((*request.output)["execution_id"].template get<std::string>()).value();
    return ledger.as_operator().get(id).value();
  }
};

}  // namespace

TEMPLATE_TEST_CASE("node: scheduled Lua functions run end to end, driven by the scheduler's clock",
                   "[runtime][node]", LOGLINE_BACKENDS) {
  node_fixture<TestType> b;
  const auto fn = b.scheduled(
      "local t = {} for i = 1, 10 do t[i] = i * i end return {squares = t, by = ctx.env.user_id}");

  // The first tick starts the fixed-rate jobs at once: the observer requests, the worker runs.
  CHECK(b.node->tick() == 3);
  auto request = b.request_for(fn.id);
  REQUIRE(request);
  CHECK(request->status == "complete");
  CHECK(request->seq == 2);
  auto execution = b.execution_of(*request);
  CHECK(execution.status == "complete");
  CHECK((*execution.output)["by"] == "alice");
  CHECK((*execution.output)["squares"] == json::array({1, 4, 9, 16, 25, 36, 49, 64, 81, 100}));
  CHECK(execution.tenant_id == "acme");

  // Nothing is due until 10 s later. Then each job looks at the feed once more (each sees the
  // other's work), and from there on an idle ledger stays quiet: no boots, no spans.
  CHECK(b.node->tick() == 0);
  for (int i = 0; i < 2; ++i) {
    b.clock.advance(10s);
    CHECK(b.node->tick() == 3);
  }
  const auto quiet = b.stored();
  const auto idle_before = b.node->idle_runs();
  for (int i = 0; i < 3; ++i) {
    b.clock.advance(10s);
    CHECK(b.node->tick() == 3);
  }
  CHECK(b.stored() == quiet);
  CHECK(b.node->idle_runs() == idle_before + 9);
  std::size_t user_runs = 0;
  for (const auto& e : b.of_type("execution"))
    if (e.parent_id == runtime::ids::run_code) ++user_runs;
  CHECK(user_runs == 1);

  // An infinite loop and a memory bomb: error executions; the node carries on.
  const auto loop = b.scheduled("while true do end");
  const auto bomb = b.scheduled("local t = {} while true do t[#t + 1] = ('x'):rep(4096) .. #t end");
  const auto fine = b.scheduled("return {ok = true}");
  b.clock.advance(10s);
  CHECK(b.node->tick() == 3);
  for (const auto& [id, code] :
       {std::pair{loop.id, "limit_exceeded"}, std::pair{bomb.id, "limit_exceeded"}}) {
    auto r = b.request_for(id);
    REQUIRE(r);
    CHECK(r->status == "error");
    CHECK((*r->error)["code"] == code);
    CHECK(b.execution_of(*r).status == "error");
  }
  CHECK(b.request_for(fine.id)->status == "complete");

  // Over the tenant's daily quota: a policy_violation, and the function does not run.
  auto m = logline::unsealed(b.ledger.as_operator().get(runtime::ids::manifest).value());
  (*m.metadata)["throttle"]["per_tenant_daily_exec_limit"] = 4;
  b.ledger.append_version(m).value();
  const auto over = b.scheduled("return {ran = true}");
  b.clock.advance(10s);
  b.node->tick();
  auto refused = b.request_for(over.id);
  REQUIRE(refused);
  CHECK(refused->status == "error");
  CHECK((*refused->error)["code"] == "policy_violation");
  CHECK_FALSE(b.execution_of(*refused).output);
  CHECK(b.of_type("policy_violation").size() == 1);

  // Every span verifies, with the command-line tool as well.
  CHECK(b.ledger.verify().value().ok());
  const auto [code, out] = cli_verify(b.f);
  INFO(out);
  CHECK(code == 0);
  CHECK(b.errors.empty());
}

TEMPLATE_TEST_CASE("node: tenants' code runs in the SCHED_IDLE class unless told otherwise",
                   "[runtime][node][idle_companion]", LOGLINE_BACKENDS) {
  for (const bool idle : {true, false}) {
    INFO("code_idle_cpu = " << idle);
    node_fixture<TestType> b;
    typename runtime::node<typename node_fixture<TestType>::ledger_type>::options o;
    o.scheduling.inline_runs = true;
    o.policy_every = 10s;
    o.limits.instructions = 100'000'000;  // a spin long enough to be seen
    o.code_idle_cpu = idle;
    o.on_error = [&b](const std::string& job, const logline::error_info& e) {
      b.errors.push_back(job + ": " + e.message());
    };
    b.node.reset();
    b.node = std::make_unique<runtime::node<typename node_fixture<TestType>::ledger_type>>(
        b.ledger, o, b.clock, b.state);
    const auto spin = b.scheduled("while true do end");
    std::atomic<bool> ticking{true};
    std::thread ticker([&] {
      b.node->tick();
      ticking = false;
    });
    bool seen = false;
    while (ticking && !seen) {
      seen = idle_class_thread_running();
      std::this_thread::sleep_for(1ms);
    }
    ticker.join();
    CHECK(seen == idle);
    auto r = b.request_for(spin.id);
    REQUIRE(r);
    CHECK(r->status == "error");
    CHECK((*r->error)["code"] == "limit_exceeded");
    CHECK(b.errors.empty());
  }
}

TEMPLATE_TEST_CASE("node: a kernel the manifest refuses is not executed; the error is reported",
                   "[runtime][node]", LOGLINE_BACKENDS) {
  node_fixture<TestType> b;
  // A manifest that no longer allows request_worker.
  auto m = logline::unsealed(b.ledger.as_operator().get(runtime::ids::manifest).value());
  (*m.metadata)["allowed_boot_ids"] =
      json::array({runtime::ids::run_code.to_string(), runtime::ids::observer_bot.to_string(),
                   runtime::ids::policy_agent.to_string()});
  b.ledger.append_version(m).value();
  const auto fn = b.scheduled("return 1");
  const auto executions_before = b.of_type("execution").size();
  b.node->tick();
  // The observer ran and requested; the worker was refused before anything ran.
  auto request = b.request_for(fn.id);
  REQUIRE(request);
  CHECK(request->status == "scheduled");
  CHECK(b.of_type("execution").size() ==
        executions_before + 2);  // the observer's and the policy agent's
  REQUIRE(b.errors.size() == 1);
  CHECK_THAT(b.errors[0], Catch::Contains("request_worker") && Catch::Contains("allowed_boot_ids"));
  // Booting a refused id directly: a permission error, nothing appended.
  const auto stored = b.stored();
  auto refused = b.node->boot(runtime::ids::request_worker);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == logline::errc::permission_denied);
  CHECK(b.stored() == stored);
}
