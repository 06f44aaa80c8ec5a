#pragma once
// A runtime fixture with the policy agent registered, driven by a manual clock: what the policy
// agent's and the seed policies' tests share.
#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <logline/runtime/policy_agent.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime_test {

template <class F>
struct policy_fixture : fixture<F> {
  using typename fixture<F>::ledger_type;
  using fixture<F>::ledger;
  using fixture<F>::stage0;
  using fixture<F>::system;
  // The agent's "now": it starts at the system clock's second (the spans' `at` is the ledger's,
  // real, time) and moves only when told.
  logline::runtime::manual_clock clock{
      date::floor<std::chrono::seconds>(std::chrono::system_clock::now())};

  // `agent` runs by `clock` unless it has a clock of its own.
  explicit policy_fixture(logline::runtime::policy_agent<ledger_type> agent = {}) {
    logline::runtime::seed(ledger).value();
    restart(std::move(agent));
  }
  // Registers a new agent (no memory of earlier runs) in place of the one there: a restart.
  void restart(logline::runtime::policy_agent<ledger_type> agent = {}) {
    stage0.register_kernel(logline::runtime::ids::policy_agent, configured(std::move(agent)));
  }
  // `agents` agents at once, each in a Stage-0 of its own taking `batch` spans per run, each
  // booted `rounds` times: the number of boots that did not complete.
  int boot_at_once(std::size_t batch, int agents = 2, int rounds = 8) {
    std::atomic<int> incomplete{0};
    std::vector<std::thread> threads;
    for (int a = 0; a < agents; ++a)
      threads.emplace_back([this, batch, rounds, &incomplete] {
        logline::runtime::stage0<ledger_type> own(ledger);
        logline::runtime::policy_agent<ledger_type> agent;
        agent.batch = batch;
        own.register_kernel(logline::runtime::ids::policy_agent, configured(std::move(agent)));
        for (int round = 0; round < rounds; ++round) {
          auto e = own.boot(logline::runtime::ids::policy_agent, nullptr, system);
          if (!e || e->status != "complete") ++incomplete;
        }
      });
    for (auto& t : threads) t.join();
    return incomplete;
  }
  logline::universal_span policy(const std::string& code, const logline::identity& who,
                                 const std::string& status = "active") {
    logline::universal_span p = conformance::make_span("policy", who.user_id);
    p.name = "test policy";
    p.language = "lua";
    p.code = code;
    p.status = status;
    return ledger.as(who).append(p).value();
  }
  // A span of `type` by `who`, visible to its tenant.
  logline::universal_span note(const std::string& type, const std::string& text,
                               const logline::identity& who, logline::json metadata = nullptr) {
    logline::universal_span s = conformance::make_span(type, who.user_id);
    s.this_ = text;
    s.visibility = logline::visibility::tenant;
    if (!metadata.is_null()) s.metadata = std::move(metadata);
    return ledger.as(who).append(s).value();
  }
  // Boots the policy agent as the operator: its output, or an error if it did not complete.
  logline::result<logline::json> run() {
    auto e = stage0.boot(logline::runtime::ids::policy_agent, nullptr, system);
    if (!e) return std::move(e).error();
    if (e->status != "complete")
      return logline::make_error(logline::errc::execution_failed,
                                 e->error.value_or(logline::json(nullptr)).dump());
    return *e->output;
  }
  // The test settings of an agent: a smaller instruction budget, and `clock` unless it has a clock.
  logline::runtime::policy_agent<ledger_type> configured(
      logline::runtime::policy_agent<ledger_type> agent) {
    agent.limits.instructions = 2'000'000;
    if (!agent.time) agent.time = &clock;
    return agent;
  }
  // The latest version of each entity of `type`.
  std::vector<logline::universal_span> latest_of_type(const std::string& type) {
    std::map<logline::uuid, logline::universal_span> latest;
    for (auto& s : this->of_type(type)) {
      auto [it, fresh] = latest.try_emplace(s.id, s);
      if (!fresh && it->second.seq < s.seq) it->second = std::move(s);
    }
    std::vector<logline::universal_span> out;
    for (auto& [id, s] : latest) out.push_back(std::move(s));
    return out;
  }
};

}  // namespace runtime_test
