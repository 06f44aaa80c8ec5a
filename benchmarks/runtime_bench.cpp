// The runtime's latency and throughput (issue: Stage-0 warm execution < 1 ms; request pipeline
// throughput), beside what they are made of, measured in this binary. See benchmarks/README.md.
//
//   BM_stage0_lua/sync:{full,normal}   one warm Stage-0 boot of run_code running a trivial Lua
//                                      function as a tenant (quota count, lock, boot_event,
//                                      sandbox, execution: two signed appends), boots/s
//   BM_raw_lua                         run_lua of the same function alone (fresh sandbox), runs/s
//   BM_raw_two_appends/sync:{...}      two single signed appends (what Stage-0 writes), pairs/s
//   BM_pipeline/sync:{full,normal}     requests/s through request_worker: rounds of 500 scheduled
//                                      requests, each claimed, executed and consumed (two request
//                                      versions + a Stage-0 boot of run_code: four signed appends)
//   BM_policies/sync:{full,normal}     spans/s through the seed policies (ttl_reaper, slow_execution)
//                                      as the policy agent runs them: rounds of 500 spans with
//                                      metadata.ttl_minutes 0, each evaluated by both policies on
//                                      arrival (ttl_reaper asks for a revisit) and revisited once
//                                      (a status_patch archived): 1000 Lua evaluations on arrival,
//                                      500 at the revisits, 1000 signed appends per round
//
// Ledgers are SQLite files in build/bench (removed after each benchmark): `sync:full` is the
// library's durable default (an fsync per commit), `sync:normal` is WAL's synchronous=NORMAL
// (durable across a process crash, not a power loss).
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <logline/logline.hpp>
#include <logline/runtime/node.hpp>
#include <logline/runtime/seed_policies.hpp>
#include <logline/sqlite.hpp>

#include "bench_support.hpp"

namespace {

using namespace logline_bench;
namespace runtime = logline::runtime;
using logline::json;
using ledger_type = ledger_chain_sign;

const logline::ed25519::key& bench_key() {
  static const auto k = logline::ed25519::key::generate();
  return k;
}

logline::sqlite::durability sync_of(int arg) {
  return arg ? logline::sqlite::durability::full : logline::sqlite::durability::normal;
}

// A seeded ledger in a fresh file (the seed manifest: a quota of 100 runs per tenant and day) and
// a Lua function of alice's. Runs are spread over tenants of 50 runs each, so each boot's quota
// count reads what it would mid-day in a tenant at half its quota.
struct runtime_fixture {
  std::string path;
  std::unique_ptr<logline::sqlite::database> db;
  std::optional<ledger_type> ledger;
  std::unique_ptr<runtime::node<ledger_type>> node;
  const logline::identity alice{"alice", "acme"};
  logline::uuid function;

  explicit runtime_fixture(int sync) {
    path = (bench_dir() / ("runtime-bench-" + std::to_string(::getpid()) + ".db")).string();
    std::filesystem::create_directories(bench_dir());
    remove();
    db = logline::sqlite::database::open(path, {.sync = sync_of(sync), .mmap_bytes = 0}).value();
    ledger.emplace(*db, ledger_type::options{.identity = {"logline", std::nullopt},
                                             .signing_key = bench_key()});
    runtime::seed(*ledger).value();
    node = std::make_unique<runtime::node<ledger_type>>(*ledger);
    logline::universal_span fn;
    fn.entity_type = "function";
    fn.who = "alice";
    fn.this_ = "trivial";
    fn.language = "lua";
    fn.code = "return {ok = true, n = ctx.input.n}";
    function = ledger->as(alice).append(fn).value().id;
  }
  static logline::identity alice_in_tenant_of(std::int64_t run) {
    return {"alice", "t" + std::to_string(run / 50)};
  }
  ~runtime_fixture() {
    node.reset();
    ledger.reset();
    db.reset();
    remove();
  }
  void remove() {
    std::error_code ec;
    for (const char* suffix : {"", "-wal", "-shm", "-journal"})
      std::filesystem::remove(path + suffix, ec);
  }
};

void BM_stage0_lua(benchmark::State& state) {
  runtime_fixture f(static_cast<int>(state.range(0)));
  const json input{{"span_id", f.function.to_string()}, {"input", {{"n", 1}}}};
  // Warm: the first boot loads statements and caches.
  if (f.node->stage0().boot(runtime::ids::run_code, input, f.alice).value().status != "complete")
    state.SkipWithError("boot failed");
  std::int64_t run = 0;
  for (auto _ : state) {
    auto e = f.node->stage0().boot(runtime::ids::run_code, input,
                                   runtime_fixture::alice_in_tenant_of(run++));
    if (!e || e->status != "complete") {
      state.SkipWithError("boot failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_stage0_lua)->ArgName("sync")->Arg(1)->Arg(0)->UseRealTime()->MinTime(2);

void BM_raw_lua(benchmark::State& state) {
  runtime::lua_context ctx;
  ctx.values["input"] = json{{"n", 1}};
  for (auto _ : state) {
    auto out = runtime::run_lua("return {ok = true, n = ctx.input.n}", ctx, {});
    if (!out) {
      state.SkipWithError("run_lua failed");
      break;
    }
    benchmark::DoNotOptimize(out);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_raw_lua)->UseRealTime()->MinTime(1);

void BM_raw_two_appends(benchmark::State& state) {
  runtime_fixture f(static_cast<int>(state.range(0)));
  auto as = f.ledger->on_behalf_of(
      f.alice);  // as Stage-0 writes them: the records are the operator's types
  for (auto _ : state) {
    for (const char* type : {"boot_event", "execution"}) {
      logline::universal_span s;
      s.entity_type = type;
      s.who = "stage0";
      s.this_ = "trivial";
      s.parent_id = f.function;
      if (!as.append(std::move(s))) {
        state.SkipWithError("append failed");
        break;
      }
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_raw_two_appends)->ArgName("sync")->Arg(1)->Arg(0)->UseRealTime()->MinTime(2);

void BM_pipeline(benchmark::State& state) {
  constexpr int requests = 500;
  runtime_fixture f(static_cast<int>(state.range(0)));
  int round = 0;
  std::int64_t run = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < requests; ++i, ++run) {
      logline::universal_span r;
      r.entity_type = "request";
      r.who = "alice";
      r.this_ = "bench";
      r.status = "scheduled";
      r.parent_id = f.function;
      r.input = json{{"n", i}};
      r.metadata =
          json{{"request_key", "bench-" + std::to_string(round) + "-" + std::to_string(i)}};
      if (!f.ledger->as(runtime_fixture::alice_in_tenant_of(run)).append(std::move(r)))
        state.SkipWithError("could not schedule a request");
    }
    ++round;
    state.ResumeTiming();
    long executed = 0;
    while (executed < requests) {
      auto e = f.node->boot(runtime::ids::request_worker);
      if (!e || e->status != "complete" || (*e->output)["executed"].get<long>() == 0) {
        state.SkipWithError("the worker failed or executed nothing");
        break;
      }
      executed += (*e->output)["executed"].get<long>();
    }
  }
  state.SetItemsProcessed(state.iterations() * requests);
}
BENCHMARK(BM_pipeline)
    ->ArgName("sync")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Iterations(3)
    ->Unit(benchmark::kMillisecond);

void BM_policies(benchmark::State& state) {
  constexpr int spans = 500;
  runtime_fixture f(static_cast<int>(state.range(0)));
  runtime::install_seed_policies(*f.ledger, f.alice).value();
  f.node->stage0().register_kernel(
      runtime::ids::policy_agent, runtime::policy_agent<ledger_type>{});  // the system clock, in ms
  auto as = f.ledger->as(f.alice);
  long total_boots = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (int i = 0; i < spans; ++i) {
      logline::universal_span s;
      s.entity_type = "note";
      s.who = "alice";
      s.this_ = "short-lived";
      s.visibility = logline::visibility::tenant;
      s.metadata = json{{"ttl_minutes", 0}};
      if (!as.append(std::move(s))) state.SkipWithError("could not append a note");
    }
    state.ResumeTiming();
    long revisited = 0;
    for (int boots = 0; revisited < spans; ++boots, ++total_boots) {
      auto e = f.node->boot(runtime::ids::policy_agent);
      if (!e || e->status != "complete" || boots > 20) {
        state.SkipWithError("the policy agent failed or did not archive every note");
        break;
      }
      revisited += (*e->output)["revisited"].get<long>();
    }
  }
  state.SetItemsProcessed(state.iterations() * spans);
  state.counters["boots_per_round"] =
      static_cast<double>(total_boots) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_policies)
    ->ArgName("sync")
    ->Arg(1)
    ->Arg(0)
    ->UseRealTime()
    ->Iterations(10)
    ->Unit(benchmark::kMillisecond);

}  // namespace
