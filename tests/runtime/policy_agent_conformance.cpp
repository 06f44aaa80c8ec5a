// The policy agent on both backends: active Lua policies see their tenant's new spans once,
// oldest first; their actions become spans; failures become policy_error spans; the cursor and
// a batch's outputs are written together, so a crash in between, batches, restarts and two
// agents at once neither miss nor repeat a span.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include <logline/runtime/policy_agent.hpp>

#include "runtime/policy_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;
using runtime_test::policy_fixture;

namespace {

// Emits an alert for every span of type "note", naming it.
constexpr const char* alert_every_note = R"(
  function on(span)
    if span.entity_type ~= "note" then return {} end
    if span.this == "boom" then error("cannot handle boom") end
    if span.this == "loop" then while true do end end
    return {{emit_span = {entity_type = "alert", this = "saw " .. span.this, parent_id = span.id}}}
  end
)";

}  // namespace

TEMPLATE_TEST_CASE(
    "policy_agent: actions become spans, failures policy_errors, each span is seen once",
    "[runtime][policy]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  const auto fn = b.note("function", "a function", b.alice);
  const auto p = b.policy(std::string(R"(
    function on(span)
      if span.entity_type == "payment" and span.metadata.amount > 100 then
        return {{emit_span = {entity_type = "alert", this = "big payment", parent_id = span.id, metadata = {amount = span.metadata.amount}}}}
      end
      if span.entity_type == "order" then
        return {{run = "run_code", span_id = ")") +
                              fn.id.to_string() + R"(", input = {order = span.this}}}
      end
      if span.this == "boom" then error("cannot handle boom") end
      return {}
    end
  )",
                          b.alice);
  const auto small = b.note("payment", "small", b.alice, json{{"metadata_is", "x"}, {"amount", 5}});
  const auto big = b.note("payment", "big", b.alice, json{{"amount", 500}});
  const auto order = b.note("order", "order-1", b.alice);
  b.note("note", "boom", b.alice);
  b.note("payment", "other tenant", b.bob,
         json{{"amount", 900}});  // bob's tenant: not the policy's

  auto out = b.run().value();
  CHECK(out["policies"] == 1);
  CHECK(out["policy_errors"] == 1);
  auto alerts = b.of_type("alert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].parent_id == big.id);
  CHECK(alerts[0].owner_id == "alice");
  CHECK(alerts[0].tenant_id == "acme");
  CHECK(alerts[0].who == "policy_agent");
  CHECK((*alerts[0].metadata)["amount"] == 500);
  REQUIRE(alerts[0].related_to);
  CHECK(std::find(alerts[0].related_to->begin(), alerts[0].related_to->end(), p.id) !=
        alerts[0].related_to->end());
  auto requests = b.of_type("request");
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].parent_id == fn.id);
  CHECK(requests[0].status == "scheduled");
  CHECK(*requests[0].input == json{{"order", "order-1"}});
  CHECK((*requests[0].metadata)["request_key"] ==
        "policy:" + p.id.to_string() + ":" + order.id.to_string() + ":0:0");
  auto errors = b.of_type("policy_error");
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].parent_id == p.id);
  CHECK_THAT((*errors[0].error)["message"].template get<std::string>(),
             Catch::Contains("cannot handle boom"));
  auto cursor = b.ledger.as_operator().get(runtime::policy_cursor_id(p.id)).value();
  CHECK(cursor.entity_type == "policy_cursor");
  CHECK(cursor.parent_id == p.id);
  (void)small;

  // Again: nothing new (its own output is not fed back to it), nothing written.
  const auto stored = b.stored();
  out = b.run().value();
  CHECK(out["evaluated"] == 0);
  CHECK(b.stored() == stored + 2);  // only the agent's boot_event and execution
  b.note("payment", "bigger", b.alice, json{{"amount", 1000}});
  out = b.run().value();
  INFO(out.dump());
  CHECK(out["evaluated"] == 1);
  CHECK(b.of_type("alert").size() == 2);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "policy_agent: a crash between evaluation and cursor, batches and restarts: every span once",
    "[runtime][policy]", LOGLINE_BACKENDS) {
  using ledger_type = typename policy_fixture<TestType>::ledger_type;
  std::atomic<bool> crash{true};
  runtime::policy_agent<ledger_type> agent;
  agent.batch = 3;
  agent.before_write = [&](const logline::universal_span&) -> logline::result<void> {
    if (crash.exchange(false))
      return logline::make_error(logline::errc::storage_error, "simulated crash before the write");
    return {};
  };
  policy_fixture<TestType> b(agent);
  b.policy(alert_every_note, b.alice);
  for (int i = 0; i < 7; ++i) b.note("note", "n" + std::to_string(i), b.alice);

  // The crash: the batch was evaluated, nothing was written.
  auto out = b.run().value();
  CHECK(out["failed"].size() == 1);
  CHECK(b.of_type("alert").empty());
  CHECK(b.of_type("policy_cursor").empty());
  // Restarted (a new agent, no memory): batches of 3 until done, each note once.
  // (Batches of the feed as alice sees it: the public seed spans and the policy come first.)
  // Ten runs are more than enough; the extra ones find nothing.
  for (int run = 0; run < 10; ++run) {
    runtime::policy_agent<ledger_type> fresh;
    fresh.batch = 3;
    b.restart(fresh);
    b.run().value();
  }
  auto alerts = b.of_type("alert");
  CHECK(alerts.size() == 7);
  std::set<std::string> seen;
  for (const auto& a : alerts) seen.insert(a.this_);
  CHECK(seen.size() == 7);
  CHECK(seen.count("saw n0") == 1);
  CHECK(seen.count("saw n6") == 1);
  // The cursor records the last span processed.
  auto cursor = b.of_type("policy_cursor");
  REQUIRE_FALSE(cursor.empty());
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("policy_agent: two agents at once, an inactive policy, a loop and an error",
                   "[runtime][policy]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  b.policy(alert_every_note, b.alice);
  auto retired = b.policy(alert_every_note, b.alice);
  auto off = logline::unsealed(retired);
  off.status = "inactive";
  b.ledger.as(b.alice).append_version(off).value();  // its latest version is not active
  for (int i = 0; i < 20; ++i) b.note("note", "n" + std::to_string(i), b.alice);
  b.note("note", "boom", b.alice);
  b.note("note", "loop", b.alice);

  CHECK(b.boot_at_once(4) == 0);
  b.run().value();
  auto alerts = b.of_type("alert");
  CHECK(alerts.size() == 20);  // one policy, each note once
  std::set<std::string> seen;
  for (const auto& a : alerts) seen.insert(a.this_);
  CHECK(seen.size() == 20);
  auto errors = b.of_type("policy_error");
  REQUIRE(errors.size() == 2);
  std::set<std::string> codes;
  for (const auto& e : errors) codes.insert((*e.error)["code"].template get<std::string>());
  CHECK(codes == std::set<std::string>{"limit_exceeded", "execution_failed"});
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("policy_agent: a revisit is evaluated once when it falls due, across a crash",
                   "[runtime][policy]", LOGLINE_BACKENDS) {
  using ledger_type = typename policy_fixture<TestType>::ledger_type;
  using namespace std::chrono_literals;
  std::atomic<bool> crash{false};
  runtime::policy_agent<ledger_type> agent;
  agent.before_write = [&](const logline::universal_span&) -> logline::result<void> {
    if (crash.exchange(false))
      return logline::make_error(logline::errc::storage_error, "simulated crash before the write");
    return {};
  };
  policy_fixture<TestType> b(agent);
  auto& clock = b.clock;
  const auto p = b.policy(R"(
    function on(span)
      if span.entity_type ~= "note" then return {} end
      if span.this == "bad time" then return {{revisit_at = "yesterday"}} end
      if ctx.revisit then
        -- asking again for the revisit being evaluated is the same revisit: nothing new
        return {{emit_span = {entity_type = "alert", this = "revisited " .. span.this, parent_id = span.id,
                              metadata = {due = ctx.revisit.at, seq = span.seq}}},
                {revisit_at = ctx.revisit.at}}
      end
      local due = ctx.timestamp(ctx.now_ms + 60000)
      return {{revisit_at = due}, {revisit_at = due}}
    end
  )",
                          b.alice);
  const auto n = b.note("note", "n", b.alice);
  b.note("note", "bad time", b.alice);

  auto out = b.run().value();
  CHECK(out["policy_errors"] == 1);
  CHECK_THAT(b.of_type("policy_error").at(0).error->at("message").template get<std::string>(),
             Catch::Contains("revisit_at must be a timestamp"));
  const std::string due = runtime::to_timestamp(clock.now() + 60s).to_string();
  CHECK(out["wake_at"] == due);
  auto revisits = b.of_type("policy_revisit");
  REQUIRE(revisits.size() == 1);  // asked twice, one revisit
  CHECK(revisits[0].id ==
        runtime::policy_revisit_id(p.id, n.id, logline::timestamp::parse(due).value()));
  CHECK(revisits[0].status == "scheduled");
  CHECK(revisits[0].parent_id == p.id);
  CHECK((*revisits[0].metadata)["due_at"] == due);

  // Not due yet: nothing. A new version of the note meanwhile (the revisit sees the latest).
  clock.advance(30s);
  out = b.run().value();
  CHECK(out["revisited"] == 0);
  CHECK(out["wake_at"] == due);
  CHECK(b.of_type("alert").empty());
  auto v1 = logline::unsealed(n);
  v1.this_ = "n v1";
  b.ledger.as(b.alice).append_version(v1).value();
  out = b.run().value();  // the new version asks for a revisit a minute from now: a second one
  CHECK(b.of_type("policy_revisit").size() == 2);

  // Due, but the agent crashes before writing: nothing written. Restarted (a new agent that
  // finds the pending revisits on the ledger): once, and never again.
  clock.advance(31s);
  crash = true;
  out = b.run().value();
  CHECK(out["failed"].size() == 1);
  CHECK(b.of_type("alert").empty());
  b.restart();
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  auto alerts = b.of_type("alert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].this_ == "revisited n v1");  // the note's latest version
  CHECK((*alerts[0].metadata)["due"] == due);
  CHECK((*alerts[0].metadata)["seq"] == 1);
  out = b.run().value();
  CHECK(out["revisited"] == 0);
  CHECK(b.of_type("alert").size() == 1);
  std::size_t done = 0;
  for (const auto& r : b.latest_of_type("policy_revisit"))
    if (r.status == "done") {
      ++done;
      CHECK((*r.metadata)["outcome"] == "evaluated");
    }
  CHECK(done == 1);

  // The second revisit, 30 s later, by another restarted agent; then nothing is pending.
  clock.advance(30s);
  b.restart();
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  CHECK(out["wake_at"].is_null());
  CHECK(b.of_type("alert").size() == 2);
  for (int i = 0; i < 2; ++i) {
    clock.advance(120s);
    CHECK(b.run().value()["revisited"] == 0);
  }
  CHECK(b.of_type("alert").size() == 2);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("policy_agent: two agents at once evaluate each revisit once",
                   "[runtime][policy]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  b.policy(R"(
    function on(span)
      if span.entity_type ~= "note" then return {} end
      if ctx.revisit then return {{emit_span = {entity_type = "alert", this = "revisited " .. span.this, parent_id = span.id}}} end
      return {{revisit_at = ctx.timestamp(ctx.now_ms + 1000)}}
    end
  )",
           b.alice);
  for (int i = 0; i < 12; ++i) b.note("note", "n" + std::to_string(i), b.alice);
  b.run().value();  // every note asks for a revisit a second from now
  REQUIRE(b.of_type("policy_revisit").size() == 12);
  b.clock.advance(std::chrono::seconds(2));
  CHECK(b.boot_at_once(5) == 0);  // revisits in batches of 5: the agents interleave
  b.run().value();
  auto alerts = b.of_type("alert");
  CHECK(alerts.size() == 12);
  std::set<std::string> seen;
  for (const auto& a : alerts) seen.insert(a.this_);
  CHECK(seen.size() == 12);
  std::size_t done = 0;
  for (const auto& r : b.latest_of_type("policy_revisit")) done += r.status == "done";
  CHECK(done == 12);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "policy_agent: one tenant's slow policy holds one lane; another tenant's policy is written "
    "meanwhile",
    "[runtime][policy]", LOGLINE_BACKENDS) {
  using ledger_type = typename policy_fixture<TestType>::ledger_type;
  // alice's first evaluation does not end before bob's alert is on record; bob's batch is not
  // written before alice's evaluation is running. One after the other (in either order), one
  // of them gives up after 30 s and the test fails.
  struct gate {
    std::mutex m;
    std::condition_variable cv;
    bool acme_in = false, acme_first = true, acme_saw_bob_alert = false, bob_saw_acme_in = false;
  };
  auto g = std::make_shared<gate>();
  std::function<bool()> bob_alert_stored;
  runtime::policy_agent<ledger_type> agent;
  agent.lanes = 2;
  agent.tenant_budget = std::chrono::hours(1);  // the wait below is not to count against alice
  agent.before_evaluate = [g, &bob_alert_stored](const logline::universal_span& policy,
                                                 const logline::universal_span&) {
    if (policy.tenant_id != "acme") return;
    {
      std::lock_guard lock(g->m);
      if (!std::exchange(g->acme_first, false)) return;
      g->acme_in = true;
    }
    g->cv.notify_all();
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    bool seen = false;
    while (!(seen = bob_alert_stored()) && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(g->m);
    g->acme_saw_bob_alert = seen;
    g->acme_in = false;
  };
  agent.before_write = [g](const logline::universal_span& policy) -> logline::result<void> {
    if (policy.tenant_id != "other") return {};
    std::unique_lock lock(g->m);
    g->bob_saw_acme_in = g->cv.wait_for(lock, std::chrono::seconds(30), [&] { return g->acme_in; });
    return {};
  };
  policy_fixture<TestType> b(agent);
  bob_alert_stored = [&b] {
    for (const auto& s : b.of_type("alert"))
      if (s.tenant_id == "other") return true;
    return false;
  };
  b.policy(alert_every_note, b.alice);
  b.policy(alert_every_note, b.bob);
  b.note("note", "a1", b.alice);
  b.note("note", "a2", b.alice);
  b.note("note", "b1", b.bob);

  const json out = b.run().value();
  INFO(out.dump());
  CHECK(out["failed"].empty());
  CHECK(g->acme_saw_bob_alert);
  CHECK(g->bob_saw_acme_in);
  std::map<std::string, int> alerts;
  for (const auto& s : b.of_type("alert")) ++alerts[s.tenant_id.value_or("")];
  CHECK(alerts == std::map<std::string, int>{{"acme", 2}, {"other", 1}});
}

TEMPLATE_TEST_CASE(
    "policy_agent: a tenant's time per run is bounded; its policies take turns and every span is "
    "still seen once",
    "[runtime][policy]", LOGLINE_BACKENDS) {
  using ledger_type = typename policy_fixture<TestType>::ledger_type;
  // A manual steady clock: each of alice's evaluations takes 2 s of it, bob's none. With a
  // budget of 3 s alice gets two evaluations per run (the second starts at 2 s), bob all his.
  auto fake_ms = std::make_shared<std::atomic<std::int64_t>>(0);
  auto acme_this_run = std::make_shared<std::atomic<int>>(0);
  runtime::policy_agent<ledger_type> agent;
  agent.lanes = 1;  // the time source is one for all lanes: alice's steps would also be bob's time
  agent.tenant_budget = std::chrono::milliseconds(3000);
  agent.steady_now = [fake_ms] {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(fake_ms->load()));
  };
  agent.before_evaluate = [fake_ms, acme_this_run](const logline::universal_span& policy,
                                                   const logline::universal_span&) {
    if (policy.tenant_id != "acme") return;
    *fake_ms += 2000;
    ++*acme_this_run;
  };
  policy_fixture<TestType> b(agent);
  for (int i = 0; i < 5; ++i) b.note("note", "a" + std::to_string(i), b.alice);
  for (int i = 0; i < 3; ++i) b.note("note", "b" + std::to_string(i), b.bob);
  const auto p1 = b.policy(alert_every_note, b.alice);
  const auto p2 = b.policy(alert_every_note, b.alice);
  b.policy(alert_every_note, b.bob);

  json out = b.run().value();
  INFO(out.dump());
  CHECK(*acme_this_run == 2);
  CHECK(out["deferred"] == 1);  // alice's other policy: next run
  CHECK(out["evaluated"] ==
        2 + 4);  // bob's policy: every span of bob's tenant (3 notes, the policy itself)
  CHECK(out["wake_at"].is_string());  // due again at once
  std::map<std::string, int> alerts;
  for (const auto& s : b.of_type("alert")) ++alerts[s.tenant_id.value_or("")];
  CHECK(alerts["other"] == 3);
  CHECK(alerts["acme"] == 2);

  // Further runs: at most two of alice's evaluations each, her two policies in turn, until
  // nothing is left; then each of her notes has one alert from each policy.
  int runs = 1;
  for (; runs < 40; ++runs) {
    *acme_this_run = 0;
    out = b.run().value();
    CHECK(*acme_this_run <= 2);
    if (out["evaluated"] == 0 && out["deferred"] == 0) break;
  }
  CHECK(runs < 40);
  std::map<std::pair<logline::uuid, std::string>, int> per_policy;
  for (const auto& s : b.of_type("alert")) {
    if (s.tenant_id != "acme") continue;
    for (const auto& p : {p1.id, p2.id})
      if (std::find(s.related_to->begin(), s.related_to->end(), p) != s.related_to->end())
        ++per_policy[{p, s.this_}];
  }
  CHECK(per_policy.size() == 10);
  for (const auto& [k, n] : per_policy) CHECK(n == 1);
}
