#pragma once
// A LogLineOS node: a Stage-0 with the built-in kernels registered (run_code, observer_bot,
// request_worker, policy_agent, provider_exec) and a scheduler that boots the first four's
// periodic ones as the operator.
//
//   runtime::node<Ledger> node(ledger);          // observer and worker every 10 s, policies every
//                                                // 30 s, the midnight ruler at 00:00 Europe/Paris
//   node.start();  ...  node.stop();             // stop waits for running kernels
//
// Tests drive it with a manual clock and tick() (node::options::scheduling.inline_runs).
// Every boot is on the ledger (boot_event + execution), so a job whose kernel has nothing to do
// is not booted: when nothing but the kernels' own boot_events, executions, policy cursors and
// revisits arrived in the feed since the job's last run, the run is skipped (`idle_runs()`), and
// an idle ledger stays quiet, except that the policy agent is booted when a revisit it
// scheduled falls due (its output's wake_at). A boot that fails before it runs (no manifest
// yet, a kernel refused by the manifest, a tampered kernel span) is reported to
// options::on_error (stderr by default) and tried again at the next boundary.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "logline/entity_types.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/midnight_ruler.hpp"
#include "logline/runtime/pipeline.hpp"
#include "logline/runtime/policy_agent.hpp"
#include "logline/runtime/provider_exec.hpp"
#include "logline/runtime/run_code.hpp"
#include "logline/runtime/scheduler.hpp"
#include "logline/runtime/stage0.hpp"

namespace logline::runtime {

template <class Ledger>
class node {
 public:
  struct options {
    identity as = runtime_identity;  // the operator identity the kernels boot as
    std::chrono::seconds observer_every{10}, worker_every{10}, policy_every{30};
    std::string ruler_cron = "0 0 * * *",
                ruler_zone = "Europe/Paris";  // the midnight ruler ("" cron: none)
    lua_limits limits{};  // for run_code (its timeout is the manifest's slow_ms)
    // Tenants' code (functions and policies) runs in Linux's SCHED_IDLE class, on CPU no normal
    // thread wants (lua_limits::idle_cpu); false: at the runtime's own priority (scheduling.nice).
    bool code_idle_cpu = true;
    // Fairness (pipeline.hpp, policy_agent.hpp): requests and policies run this many at once,
    // one tenant's on one lane at a time. On PostgreSQL keep each below the pool size.
    std::size_t worker_lanes = 2, policy_lanes = 2;
    // A claimed request's lease: the manifest's slow_ms plus this (pipeline.hpp).
    std::chrono::seconds lease_margin{300};
    // provider_exec's credentials and destinations (egress.hpp): none and public only by default.
    provider_config providers{};
    // provider_exec's HTTP client (provider_transport.hpp): logline::http::provider_client() in
    // logline-server and logline-scheduler. None: provider calls end transport_unavailable.
    provider_transport provider_client{};
    scheduler::options scheduling{};
    std::function<void(const std::string& job, const error_info&)> on_error =
        [](const std::string& job, const error_info& e) {
          std::fprintf(stderr, "logline runtime: %s: %s\n", job.c_str(), e.message().c_str());
        };
  };

  explicit node(Ledger& ledger) : node(ledger, options{}) {}
  // The midnight ruler's next due time is kept on the ledger (a missed midnight is made up
  // once after a restart); the other jobs' in memory.
  node(Ledger& ledger, options o) : node(ledger, std::move(o), system_clock(), own_state_) {}
  node(Ledger& ledger, options o, const runtime::clock& c, runtime::state& st)
      : ledger_(ledger),
        options_(std::move(o)),
        stage0_(ledger),
        scheduler_(c, st, options_.scheduling) {
    run_code<Ledger> code;
    code.limits = options_.limits;
    code.limits.idle_cpu = options_.code_idle_cpu;
    stage0_.register_kernel(ids::run_code, code);
    stage0_.register_kernel(ids::observer_bot, observer_bot<Ledger>{});
    request_worker<Ledger> worker{stage0_};
    worker.lanes = options_.worker_lanes;
    worker.lease_margin = options_.lease_margin;
    worker.time = &c;  // leases run out by the scheduler's clock
    stage0_.register_kernel(ids::request_worker, worker);
    policy_agent<Ledger> policies;
    policies.time = &c;  // revisits fall due by the scheduler's clock
    policies.lanes = options_.policy_lanes;
    policies.limits.idle_cpu = options_.code_idle_cpu;
    stage0_.register_kernel(ids::policy_agent, policies);
    provider_exec<Ledger> providers;
    providers.config = options_.providers;
    providers.transport = options_.provider_client;
    stage0_.register_kernel(ids::provider_exec, providers);  // booted on demand
    add_job("observer_bot", schedule::every(options_.observer_every), ids::observer_bot);
    add_job("request_worker", schedule::every(options_.worker_every), ids::request_worker);
    add_job("policy_agent", schedule::every(options_.policy_every), ids::policy_agent);
    if (!options_.ruler_cron.empty()) {
      auto when = schedule::cron(options_.ruler_cron, options_.ruler_zone);
      LOGLINE_ASSERT(bool(when), "the midnight ruler's cron expression and zone are valid");
      auto added = scheduler_.add("midnight_ruler", std::move(*when), [this](const run& r) {
        auto done = midnight_ruler<Ledger>{}(ledger_, to_timestamp(r.due));
        if (!done && options_.on_error) options_.on_error("midnight_ruler", done.error());
      });
      LOGLINE_ASSERT(bool(added), "the node's job names are distinct");
    }
  }
  node(const node&) = delete;
  node& operator=(const node&) = delete;
  ~node() { stop(); }

  runtime::stage0<Ledger>& stage0() noexcept { return stage0_; }
  runtime::scheduler& jobs() noexcept { return scheduler_; }

  // Boots a kernel now, as the operator.
  result<universal_span> boot(const uuid& kernel, json input = nullptr) {
    return stage0_.boot(kernel, std::move(input), options_.as);
  }

  std::size_t tick() { return scheduler_.tick(); }
  std::uint64_t idle_runs() const noexcept { return idle_runs_.load(); }
  void start() { scheduler_.start(); }
  void stop() { scheduler_.stop(); }

 private:
  // Whether s is one of the records the scheduled kernels' own runs leave.
  static bool bookkeeping(const universal_span& s) {
    if (policy_agent_record(s) || s.entity_type == entity::schedule_state) return true;
    return (s.entity_type == entity::boot_event || s.entity_type == entity::execution) &&
           s.parent_id &&
           (*s.parent_id == ids::observer_bot || *s.parent_id == ids::request_worker ||
            *s.parent_id == ids::policy_agent);
  }
  // Whether the feed after `cursor` holds only bookkeeping (nothing for the kernel); moves
  // `cursor` over it.
  bool idle_after(std::string& cursor) {
    for (;;) {
      auto page = ledger_.as_operator().changes(cursor, 256);
      if (!page) return false;
      if (page->empty()) return true;
      for (const auto& c : *page) {
        if (!bookkeeping(c.span)) return false;
        cursor = c.cursor;
      }
    }
  }

  void add_job(const std::string& name, schedule when, const uuid& kernel) {
    // Where the kernel's last complete run will resume (its execution's output.resume_cursor):
    // anything after it that is not bookkeeping is work. Unknown until a run completes. And when
    // it has work whatever arrives (output.wake_at: the policy agent's next revisit).
    struct progress {
      std::optional<std::string> resume;
      std::optional<timestamp> wake;
    };
    auto last = std::make_shared<progress>();
    auto added = scheduler_.add(name, std::move(when), [this, name, kernel, last](const run& r) {
      const bool woken = last->wake && *last->wake <= to_timestamp(r.started);
      if (last->resume && !woken && idle_after(*last->resume)) {
        ++idle_runs_;
        return;
      }
      auto e = boot(kernel);
      *last = {};
      if (e && e->status == "complete" && e->output && e->output->is_object()) {
        const json& out = *e->output;
        if (out.contains("resume_cursor") && out["resume_cursor"].is_string())
          last->resume = out["resume_cursor"].template get<std::string>();
        if (out.contains("wake_at") && out["wake_at"].is_string())
          if (auto t = timestamp::parse(out["wake_at"].template get<std::string>()))
            last->wake = *t;
      }
      if (!e) {
        if (options_.on_error) options_.on_error(name, e.error());
      } else if (e->status != "complete" && e->error && options_.on_error) {
        options_.on_error(name, make_error(errc::execution_failed, e->error->dump()));
      }
    });
    LOGLINE_ASSERT(bool(added), "the node's job names are distinct");
  }
  static const runtime::clock& system_clock() {
    static const runtime::clock c;
    return c;
  }

  Ledger& ledger_;
  options options_;
  ledger_state<Ledger> own_state_{ledger_, {"midnight_ruler"}};
  std::atomic<std::uint64_t> idle_runs_{0};
  runtime::stage0<Ledger> stage0_;
  runtime::scheduler scheduler_;
};

}  // namespace logline::runtime
