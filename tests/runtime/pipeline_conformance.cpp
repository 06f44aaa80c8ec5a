// The request pipeline on both backends: observer_bot turns scheduled functions into one request
// each (also with two observers at once, and after a restart), request_worker executes each
// request at most once (also with two workers at once) and consumes it (running → complete or
// error).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <logline/runtime/pipeline.hpp>
#include <logline/runtime/run_code.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;

namespace {

template <class F>
struct pipeline_fixture : runtime_test::fixture<F> {
  using typename runtime_test::fixture<F>::ledger_type;
  using runtime_test::fixture<F>::ledger;
  using runtime_test::fixture<F>::stage0;
  using runtime_test::fixture<F>::alice;
  using runtime_test::fixture<F>::of_type;
  using runtime_test::fixture<F>::system;

  pipeline_fixture() {
    runtime::seed(ledger).value();
    runtime::run_code<ledger_type> kernel;
    kernel.limits.instructions = 5'000'000;
    kernel.limits.memory_bytes = 16u << 20;
    stage0.register_kernel(runtime::ids::run_code, kernel);
    stage0.register_kernel(runtime::ids::observer_bot, runtime::observer_bot<ledger_type>{});
    stage0.register_kernel(runtime::ids::request_worker,
                           runtime::request_worker<ledger_type>{stage0});
  }
  logline::universal_span scheduled_function(const std::string& code,
                                             const logline::identity& who) {
    logline::universal_span s = conformance::make_span("function", who.user_id);
    s.language = "lua";
    s.code = code;
    s.status = "scheduled";
    return ledger.as(who).append(s).value();
  }
  json boot(const logline::uuid& kernel) {
    auto execution = stage0.boot(kernel, nullptr, system).value();
    INFO(execution.error.value_or(json(nullptr)).dump());
    REQUIRE(execution.status == "complete");
    return *execution.output;
  }
  // Every version of every request, by id.
  std::map<logline::uuid, std::vector<logline::universal_span>> requests() {
    std::map<logline::uuid, std::vector<logline::universal_span>> out;
    for (auto& s : of_type("request")) out[s.id].push_back(std::move(s));
    for (auto& [id, versions] : out)
      std::sort(versions.begin(), versions.end(),
                [](const auto& a, const auto& b) { return a.seq < b.seq; });
    return out;
  }
  std::size_t user_executions() {
    std::size_t n = 0;
    for (const auto& s : of_type("execution"))
      if (s.parent_id == runtime::ids::run_code) ++n;
    return n;
  }
};

}  // namespace

TEMPLATE_TEST_CASE(
    "pipeline: a scheduled function becomes one request, which runs once and is consumed",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  const auto fn = b.scheduled_function("return {sum = 2 + 3, user = ctx.env.user_id}", b.alice);
  b.scheduled_function("return 1", b.bob);
  // A function that is not scheduled gets nothing.
  logline::universal_span idle = conformance::make_span("function", "alice");
  idle.language = "lua";
  idle.code = "return 0";
  b.ledger.as(b.alice).append(idle).value();

  auto observed = b.boot(runtime::ids::observer_bot);
  CHECK(observed["requests_created"] == 2);
  auto requests = b.requests();
  REQUIRE(requests.size() == 2);
  const logline::universal_span* alices = nullptr;
  for (const auto& [id, versions] : requests)
    if (versions.front().parent_id == fn.id) alices = &versions.front();
  REQUIRE(alices);
  CHECK(alices->owner_id == "alice");
  CHECK(alices->tenant_id == "acme");
  CHECK(alices->status == "scheduled");
  CHECK((*alices->metadata)["request_key"] == "scheduled@0");
  const auto alice_request = alices->id;

  // Observing again, or from a new observer (a restarted process) that reads the feed from its
  // start, creates nothing: the unique index answers for requests made before.
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 0);
  // (Another operator identity: no execution of its own to resume from.)
  b.stage0.register_kernel(
      runtime::ids::observer_bot,
      runtime::observer_bot<typename pipeline_fixture<TestType>::ledger_type>{});
  auto again = *b.stage0.boot(runtime::ids::observer_bot, nullptr, {"operator2", std::nullopt})
                    .value()
                    .output;
  CHECK(again["requests_created"] == 0);
  CHECK(again["already_requested"] == 2);
  CHECK(b.requests().size() == 2);

  // The worker runs both, as their owners, and consumes them: versions scheduled, running, complete.
  auto worked = b.boot(runtime::ids::request_worker);
  CHECK(worked["executed"] == 2);
  requests = b.requests();
  const auto& versions = requests.at(alice_request);
  REQUIRE(versions.size() == 3);
  CHECK(versions[0].status == "scheduled");
  CHECK(versions[1].status == "running");
  CHECK(versions[2].status == "complete");
  const auto execution_id =
      logline::uuid::parse((*versions[2].output)["execution_id"].template get<std::string>())
          .value();
  const auto execution = b.ledger.as(b.alice).get(execution_id).value();
  CHECK(execution.status == "complete");
  CHECK(*execution.output == json{{"sum", 5}, {"user", "alice"}});
  CHECK(execution.tenant_id == "acme");
  CHECK(execution.trace_id == versions[0].trace_id);
  CHECK(b.user_executions() == 2);

  // Nothing re-runs: not from this worker, not from a new one.
  CHECK(b.boot(runtime::ids::request_worker)["executed"] == 0);
  b.stage0.register_kernel(
      runtime::ids::request_worker,
      runtime::request_worker<typename pipeline_fixture<TestType>::ledger_type>{b.stage0});
  CHECK(b.boot(runtime::ids::request_worker)["executed"] == 0);
  CHECK(b.user_executions() == 2);

  // A new version with status scheduled is a new request; one that failed ends as an error.
  logline::universal_span next = logline::unsealed(b.ledger.as(b.alice).get(fn.id).value());
  next.code = "while true do end";
  b.ledger.as(b.alice).append_version(next).value();
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 1);
  CHECK(b.boot(runtime::ids::request_worker)["executed"] == 1);
  requests = b.requests();
  CHECK(requests.size() == 3);
  for (const auto& [id, vs] : requests) {
    if (id == alice_request || vs.front().parent_id != fn.id) continue;
    CHECK((*vs.front().metadata)["request_key"] == "scheduled@1");
    REQUIRE(vs.size() == 3);
    CHECK(vs[2].status == "error");
    CHECK((*vs[2].error)["code"] == "limit_exceeded");
  }
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "pipeline: two observers and two workers at once: one request per function, each executed once",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  using ledger_type = typename pipeline_fixture<TestType>::ledger_type;
  constexpr int functions = 12;
  for (int i = 0; i < functions; ++i)
    b.scheduled_function("return {n = " + std::to_string(i) + "}", i % 2 ? b.alice : b.bob);

  // Two observers (each its own state, as two processes) run at the same time.
  {
    runtime::observer_bot<ledger_type> one, two;
    std::vector<std::thread> threads;
    for (auto* o : {&one, &two})
      threads.emplace_back([&b, o] {
        logline::runtime::stage0<ledger_type> boot(b.ledger);
        boot.register_kernel(runtime::ids::observer_bot, *o);
        for (int round = 0; round < 3; ++round)
          CHECK(boot.boot(runtime::ids::observer_bot, nullptr, b.system).value().status ==
                "complete");
      });
    for (auto& t : threads) t.join();
  }
  auto requests = b.requests();
  CHECK(requests.size() == functions);
  std::set<logline::uuid> parents;
  for (const auto& [id, vs] : requests) parents.insert(*vs.front().parent_id);
  CHECK(parents.size() == functions);

  // Two workers at the same time, each with its own Stage-0 and state.
  std::atomic<long> executed{0};
  {
    std::vector<std::thread> threads;
    for (int w = 0; w < 2; ++w)
      threads.emplace_back([&b, &executed] {
        logline::runtime::stage0<ledger_type> boot(b.ledger);
        runtime::run_code<ledger_type> kernel;
        boot.register_kernel(runtime::ids::run_code, kernel);
        boot.register_kernel(runtime::ids::request_worker,
                             runtime::request_worker<ledger_type>{boot});
        for (int round = 0; round < 3; ++round) {
          auto e = boot.boot(runtime::ids::request_worker, nullptr, b.system).value();
          REQUIRE(e.status == "complete");
          executed += (*e.output)["executed"].template get<long>();
        }
      });
    for (auto& t : threads) t.join();
  }
  CHECK(executed == functions);
  CHECK(b.user_executions() == functions);
  for (const auto& [id, vs] : b.requests()) {
    REQUIRE(vs.size() == 3);
    CHECK(vs[1].status == "running");
    CHECK(vs[2].status == "complete");
  }
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "pipeline: a restarted observer or worker resumes where the last run left off; nothing lost, "
    "nothing twice",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  using ledger_type = typename pipeline_fixture<TestType>::ledger_type;
  for (int i = 0; i < 5; ++i)
    b.scheduled_function("return {i = " + std::to_string(i) + "}", b.alice);
  const auto before = b.stored();
  const json first = b.boot(runtime::ids::observer_bot);
  CHECK(first["requests_created"] == 5);
  CHECK(first["feed_read"].template get<std::size_t>() ==
        before + 1);  // the whole feed, and its boot_event

  runtime::request_worker<ledger_type> worker{b.stage0};
  worker.batch = 2;
  b.stage0.register_kernel(runtime::ids::request_worker, worker);
  auto run = b.boot(runtime::ids::request_worker);
  CHECK(run["executed"] == 2);
  CHECK(run["queued"] == 3);

  // "Restart": new kernel objects, no state. Each reads the feed only from its last resume cursor.
  auto resumes_at = [&](const std::string& cursor) {
    return b.ledger.as_operator().changes(cursor, 100000).value().size() + 1;
  };  // + its boot_event
  for (int restart = 0; restart < 2; ++restart) {
    runtime::request_worker<ledger_type> fresh{b.stage0};
    fresh.batch = 2;
    b.stage0.register_kernel(runtime::ids::request_worker, fresh);
    const auto expected_read = resumes_at(run["resume_cursor"].template get<std::string>());
    run = b.boot(runtime::ids::request_worker);
    CHECK(run["feed_read"].template get<std::size_t>() == expected_read);
    CHECK(run["executed"] == 2 - restart);
  }
  CHECK(b.boot(runtime::ids::request_worker)["executed"] == 0);
  CHECK(b.user_executions() == 5);
  for (const auto& [id, vs] : b.requests()) {
    REQUIRE(vs.size() == 3);
    CHECK(vs[2].status == "complete");
  }

  b.stage0.register_kernel(runtime::ids::observer_bot, runtime::observer_bot<ledger_type>{});
  const auto expected_read = resumes_at(first["resume_cursor"].template get<std::string>());
  const json again = b.boot(runtime::ids::observer_bot);
  CHECK(again["feed_read"].template get<std::size_t>() == expected_read);
  CHECK(again["requests_created"] == 0);
  CHECK(b.requests().size() == 5);

  // A resume cursor in a span someone else wrote is not taken: only the operator's executions count.
  logline::universal_span fake = conformance::make_span("execution", "alice");
  fake.parent_id = runtime::ids::observer_bot;
  fake.status = "complete";
  fake.output = json{{"resume_cursor", "999999999.999999999"}};
  CHECK(b.ledger.as(b.alice).append(fake).error() ==
        logline::errc::permission_denied);  // not alice's type to write
  b.ledger.on_behalf_of(b.alice)
      .append(fake)
      .value();  // and were it there, owned by alice, it is no operator's run
  b.scheduled_function("return 6", b.alice);
  b.stage0.register_kernel(runtime::ids::observer_bot, runtime::observer_bot<ledger_type>{});
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 1);
}

namespace {

// Where the runs of a fairness test are, shared by the stand-in run_code kernels of every lane.
struct gate {
  std::mutex m;
  std::condition_variable cv;
  int acme_running = 0, acme_most = 0;
  bool acme_saw_bob_complete = false, bob_saw_acme_running = false, first_acme = true;
};

// Waits up to 30 s for pred (a give-up, never an expectation on time).
template <class P>
bool eventually(P pred) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "pipeline: one tenant's slow runs hold one lane; another tenant's request completes meanwhile",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  using ledger_type = typename pipeline_fixture<TestType>::ledger_type;
  using call = typename runtime::stage0<ledger_type>::call;
  for (int i = 0; i < 3; ++i)
    b.scheduled_function("return 'alice " + std::to_string(i) + "'", b.alice);
  const auto bobs = b.scheduled_function("return 'bob'", b.bob);
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 4);
  logline::uuid bob_request;
  for (const auto& [id, vs] : b.requests())
    if (vs.front().parent_id == bobs.id) bob_request = id;

  // Stand-ins for run_code: alice's first run does not end before bob's request is complete on
  // record; bob's does not start its work before one of alice's runs is running. Run one after
  // the other (in either order), one of them gives up after 30 s and the test fails.
  auto g = std::make_shared<gate>();
  b.stage0.register_kernel(
      runtime::ids::run_code, [g, &b, bob_request](call& c) -> logline::result<json> {
        if (c.as.identity().tenant_id == "other") {
          std::unique_lock lock(g->m);
          g->bob_saw_acme_running =
              g->cv.wait_for(lock, std::chrono::seconds(30), [&] { return g->acme_running > 0; });
          return json{{"who", "bob"}};
        }
        bool first;
        {
          std::lock_guard lock(g->m);
          g->acme_most = std::max(g->acme_most, ++g->acme_running);
          first = std::exchange(g->first_acme, false);
        }
        g->cv.notify_all();
        if (first) {
          const bool seen = eventually([&] {
            auto latest = b.ledger.as_operator().get(bob_request);
            return latest && latest->seq == 2 && latest->status == "complete";
          });
          std::lock_guard lock(g->m);
          g->acme_saw_bob_complete = seen;
        }
        std::lock_guard lock(g->m);
        --g->acme_running;
        return json{{"who", "alice"}};
      });
  runtime::request_worker<ledger_type> worker{b.stage0};
  worker.lanes = 3;  // a lane to spare: alice still gets one at a time
  b.stage0.register_kernel(runtime::ids::request_worker, worker);

  const json out = b.boot(runtime::ids::request_worker);
  INFO(out.dump());
  CHECK(out["executed"] == 4);
  CHECK(out["failed"].empty());
  CHECK(g->acme_saw_bob_complete);  // bob's request was complete while alice's first run went on
  CHECK(g->bob_saw_acme_running);
  CHECK(g->acme_most == 1);  // never two of alice's runs at once, with a lane free
  for (const auto& [id, vs] : b.requests()) {
    REQUIRE(vs.size() == 3);
    CHECK(vs[2].status == "complete");
  }
  CHECK(b.user_executions() == 4);
}

TEMPLATE_TEST_CASE(
    "pipeline: a request whose worker died is closed as abandoned when its lease ends, never run "
    "again",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  using ledger_type = typename pipeline_fixture<TestType>::ledger_type;
  runtime::manual_clock clock{date::floor<std::chrono::seconds>(std::chrono::system_clock::now())};
  auto restart = [&] {  // a new worker: no memory, resumes from the last complete run's cursor
    runtime::request_worker<ledger_type> w{b.stage0};
    w.time = &clock;
    b.stage0.register_kernel(runtime::ids::request_worker, w);
  };
  restart();
  const auto fn = b.scheduled_function("return 'ran'", b.alice);
  const auto legacy_fn = b.scheduled_function("return 'ran too'", b.bob);
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 2);
  // Two workers that claimed a request each and died: version 1 as the worker writes it (on the
  // owner's behalf), nothing after. One with a lease of a minute, one written before leases.
  for (const auto& [id, vs] : b.requests()) {
    logline::universal_span claim = logline::unsealed(vs.front());
    claim.seq = 1;
    claim.status = "running";
    claim.did = "claimed";
    claim.who = "request_worker";
    json md = *claim.metadata;
    if (claim.parent_id == fn.id) {
      md["lease_until"] =
          logline::timestamp{runtime::to_timestamp(clock.now()).unix_ms + 60'000}.to_string();
      md["worker"] = "a worker that died";
    }
    claim.metadata = md;
    b.ledger.on_behalf_of(logline::identity{*claim.owner_id, claim.tenant_id})
        .append(claim)
        .value();
  }
  const auto third = b.scheduled_function("return 3", b.alice);  // work for the living meanwhile
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 1);

  // Leases valid: both left alone; the third runs. The resume cursor stays before the claims.
  json run = b.boot(runtime::ids::request_worker);
  CHECK(run["executed"] == 1);
  CHECK(run["abandoned"] == 0);
  CHECK(run["running_elsewhere"] == 2);
  auto running = [&] {
    std::size_t n = 0;
    for (const auto& [id, vs] : b.requests()) n += vs.back().status == "running";
    return n;
  };
  CHECK(running() == 2);

  // A restart, the first lease over (a minute and a second later), the legacy one not yet (its
  // claim's time plus slow_ms plus the margin): the first is closed, the second left alone.
  clock.advance(std::chrono::seconds(61));
  restart();
  run = b.boot(runtime::ids::request_worker);
  CHECK(run["executed"] == 0);
  CHECK(run["abandoned"] == 1);
  CHECK(running() == 1);
  // Later still, after another restart: the legacy claim's lease is over too.
  clock.advance(std::chrono::minutes(10));
  restart();
  run = b.boot(runtime::ids::request_worker);
  CHECK(run["abandoned"] == 1);
  CHECK(run["running_elsewhere"] == 0);
  CHECK(running() == 0);
  // And nothing more.
  CHECK(b.boot(runtime::ids::request_worker)["abandoned"] == 0);
  restart();
  CHECK(b.boot(runtime::ids::request_worker)["abandoned"] == 0);

  for (const auto& [id, vs] : b.requests()) {
    REQUIRE(vs.size() == 3);
    if (vs[0].parent_id == third.id) {
      CHECK(vs[2].status == "complete");
      continue;
    }
    CHECK(vs[2].status == "error");
    CHECK((*vs[2].error)["code"] == "abandoned");
    CHECK(vs[2].owner_id == vs[0].owner_id);
    CHECK(vs[2].tenant_id == vs[0].tenant_id);
    if (vs[0].parent_id == fn.id)
      CHECK_THAT((*vs[2].error)["message"].template get<std::string>(),
                 Catch::Contains("a worker that died"));
    else
      CHECK(vs[0].parent_id == legacy_fn.id);
  }
  CHECK(b.user_executions() == 1);  // the abandoned ones never ran
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "pipeline: a slow worker and the recoverer: version 2 decides, the request ran once",
    "[runtime][pipeline]", LOGLINE_BACKENDS) {
  pipeline_fixture<TestType> b;
  using ledger_type = typename pipeline_fixture<TestType>::ledger_type;
  using call = typename runtime::stage0<ledger_type>::call;
  runtime::manual_clock clock{date::floor<std::chrono::seconds>(std::chrono::system_clock::now())};
  b.scheduled_function("return 1", b.alice);
  CHECK(b.boot(runtime::ids::observer_bot)["requests_created"] == 1);

  // Worker one: its run of the request holds until released.
  struct hold {
    std::mutex m;
    std::condition_variable cv;
    bool entered = false, released = false;
    int runs = 0;
  };
  auto h = std::make_shared<hold>();
  runtime::stage0<ledger_type> slow_stage0(b.ledger);
  slow_stage0.register_kernel(runtime::ids::run_code, [h](call&) -> logline::result<json> {
    std::unique_lock lock(h->m);
    ++h->runs;
    h->entered = true;
    h->cv.notify_all();
    h->cv.wait_for(lock, std::chrono::seconds(30), [&] { return h->released; });
    return json{{"late", true}};
  });
  runtime::request_worker<ledger_type> slow{slow_stage0};
  slow.time = &clock;
  slow_stage0.register_kernel(runtime::ids::request_worker, slow);
  json slow_out;
  std::thread one([&] {
    slow_out = *slow_stage0.boot(runtime::ids::request_worker, nullptr, b.system).value().output;
  });
  {
    std::unique_lock lock(h->m);
    REQUIRE(h->cv.wait_for(lock, std::chrono::seconds(30), [&] { return h->entered; }));
  }
  // Worker two, after the lease: closes the request; it runs nothing itself.
  clock.advance(std::chrono::hours(1));
  int second_runs = 0;
  b.stage0.register_kernel(runtime::ids::run_code, [&second_runs](call&) -> logline::result<json> {
    ++second_runs;
    return json(nullptr);
  });
  runtime::request_worker<ledger_type> recoverer{b.stage0};
  recoverer.time = &clock;
  b.stage0.register_kernel(runtime::ids::request_worker, recoverer);
  const json recovered = b.boot(runtime::ids::request_worker);
  CHECK(recovered["abandoned"] == 1);
  CHECK(recovered["executed"] == 0);
  {
    std::lock_guard lock(h->m);
    h->released = true;
  }
  h->cv.notify_all();
  one.join();
  // Worker one's outcome came second: a version conflict, reported, nothing written.
  INFO(slow_out.dump());
  CHECK(slow_out["executed"] == 0);
  REQUIRE(slow_out["failed"].size() == 1);
  CHECK_THAT(slow_out["failed"][0]["error"].template get<std::string>(),
             Catch::Contains("was closed"));
  const auto requests = b.requests();
  REQUIRE(requests.size() == 1);
  const auto& vs = requests.begin()->second;
  REQUIRE(vs.size() == 3);
  CHECK((*vs[2].error)["code"] == "abandoned");
  CHECK(h->runs == 1);
  CHECK(second_runs == 0);
  CHECK(b.user_executions() == 1);
}
