// The seed policies on both backends, run by the policy agent with a manual clock: ttl_reaper
// archives each expired span once (a newer version moves the expiry; spans without a TTL stay),
// slow_execution alerts on slow executions only; installing twice appends nothing; and a node
// boots the agent for a due revisit on an otherwise idle ledger.
#include <map>

#include <logline/runtime/node.hpp>
#include <logline/runtime/seed_policies.hpp>

#include "runtime/policy_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;
using namespace std::chrono_literals;

namespace {

using runtime_test::policy_fixture;

// status_patch spans by target; each must archive.
template <class F>
std::map<logline::uuid, int> archived(policy_fixture<F>& b) {
  std::map<logline::uuid, int> out;
  for (const auto& s : b.of_type("status_patch")) {
    CHECK(s.status == "archived");
    ++out[*s.parent_id];
  }
  return out;
}

}  // namespace

TEMPLATE_TEST_CASE("seed policies: installed once per owner and tenant, signed, active",
                   "[runtime][policy][seed]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  CHECK(runtime::install_seed_policies(b.ledger, b.alice).value() == 2);
  CHECK(runtime::install_seed_policies(b.ledger, b.alice).value() == 0);
  CHECK(runtime::install_seed_policies(b.ledger, b.bob).value() == 2);  // another tenant: its own
  auto policies = b.of_type("policy");
  REQUIRE(policies.size() == 4);
  for (const auto& p : policies) {
    CHECK(p.status == "active");
    CHECK(p.language == "lua");
    CHECK(b.authentic(p));
  }
  const auto ttl =
      b.ledger.as_operator().get(runtime::seed_policy_id("ttl_reaper", b.alice)).value();
  CHECK(ttl.owner_id == "alice");
  CHECK(ttl.tenant_id == "acme");
  CHECK(ttl.visibility == logline::visibility::tenant);
  CHECK(runtime::seed_policy_id("ttl_reaper", b.alice) !=
        runtime::seed_policy_id("ttl_reaper", b.bob));
  auto nobody = runtime::install_seed_policies(b.ledger, logline::identity{"", "acme"});
  REQUIRE_FALSE(nobody);
  CHECK(nobody.error() == logline::errc::invalid_argument);
}

TEMPLATE_TEST_CASE("seed policies: ttl_reaper archives each expired span once",
                   "[runtime][policy][seed]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  runtime::install_seed_policies(b.ledger, b.alice).value();
  const auto five = b.note("note", "five", b.alice, json{{"ttl_minutes", 5}});
  const auto ten = b.note("note", "ten", b.alice, json{{"ttl_minutes", 10}});
  const auto forever = b.note("note", "no ttl", b.alice, json{{"kind", "x"}});
  const auto zero = b.note("note", "already expired", b.alice, json{{"ttl_minutes", 0}});
  const auto junk = b.note("note", "not a number", b.alice, json{{"ttl_minutes", "soon"}});
  // The agent's clock at the second of the zero-TTL span, whatever the writes took (a slow
  // machine, ThreadSanitizer): each step below is then a known time after the spans.
  b.clock.set(logline::runtime::sys_seconds(std::chrono::seconds(zero.at.unix_ms / 1000)));

  auto out = b.run().value();
  CHECK(out["policy_errors"] == 0);
  CHECK(b.of_type("policy_revisit").size() == 3);  // five, ten, zero
  CHECK(archived(b).empty());                      // archiving happens at the revisit

  // The next run (the clock started before the spans were written): the zero-TTL span is due.
  b.clock.advance(1s);
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  CHECK(archived(b) == std::map<logline::uuid, int>{{zero.id, 1}});
  const auto patch = b.of_type("status_patch").at(0);
  CHECK(patch.owner_id == "alice");
  CHECK(patch.tenant_id == "acme");
  CHECK((*patch.metadata)["ttl_minutes"] == 0);

  // "ten" gets a new version with a 20-minute TTL before it expires.
  b.clock.advance(2min);
  auto longer = logline::unsealed(ten);
  (*longer.metadata)["ttl_minutes"] = 20;
  b.ledger.as(b.alice).append_version(longer).value();
  b.run().value();

  b.clock.advance(4min);  // 6 min: "five" expired
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  CHECK(archived(b) == std::map<logline::uuid, int>{{zero.id, 1}, {five.id, 1}});

  b.clock.advance(5min);  // 11 min: ten's first expiry, moved by its new version: not archived
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  CHECK(archived(b).count(ten.id) == 0);

  b.clock.advance(12min);  // 23 min: past the new expiry (20 min after the version at 2 min)
  out = b.run().value();
  CHECK(out["revisited"] == 1);
  CHECK(archived(b) == std::map<logline::uuid, int>{{zero.id, 1}, {five.id, 1}, {ten.id, 1}});
  CHECK(out["wake_at"].is_null());

  // Nothing more, ever; the spans without a usable TTL were never touched.
  b.clock.advance(60min);
  out = b.run().value();
  CHECK(out["revisited"] == 0);
  CHECK(b.of_type("status_patch").size() == 3);
  CHECK(archived(b).count(forever.id) == 0);
  CHECK(archived(b).count(junk.id) == 0);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("seed policies: slow_execution alerts on executions over the threshold",
                   "[runtime][policy][seed]", LOGLINE_BACKENDS) {
  policy_fixture<TestType> b;
  runtime::install_seed_policies(b.ledger, b.alice).value();
  const auto fn = b.note("function", "some function", b.alice);
  auto execution = [&](std::int64_t ms) {
    logline::universal_span s = conformance::make_span("execution", "alice");
    s.parent_id = fn.id;
    s.status = "complete";
    s.duration_ms = ms;
    s.visibility = logline::visibility::tenant;
    return b.ledger.on_behalf_of(b.alice)
        .append(s)
        .value();  // an execution is the runtime's record
  };
  const auto slow = execution(1500);
  execution(200);
  execution(1000);  // at the threshold: not above it
  b.run().value();
  auto alerts = b.of_type("alert");
  REQUIRE(alerts.size() == 1);
  CHECK(alerts[0].parent_id == slow.id);
  CHECK(alerts[0].this_ == "slow execution");
  CHECK((*alerts[0].metadata)["duration_ms"] == 1500);
  CHECK((*alerts[0].metadata)["threshold_ms"] == 1000);
  CHECK((*alerts[0].metadata)["function_id"] == fn.id.to_string());

  // A lower threshold is a new version of the policy's metadata.
  auto policy = logline::unsealed(
      b.ledger.as_operator().get(runtime::seed_policy_id("slow_execution", b.alice)).value());
  (*policy.metadata)["threshold_ms"] = 100;
  b.ledger.as(b.alice).append_version(policy).value();
  execution(150);
  b.run().value();
  CHECK(b.of_type("alert").size() == 2);
}

TEMPLATE_TEST_CASE(
    "seed policies: a node boots the policy agent when a revisit falls due on an idle ledger",
    "[runtime][policy][seed][node]", LOGLINE_BACKENDS) {
  using ledger_type = typename policy_fixture<TestType>::ledger_type;
  policy_fixture<TestType> b;
  runtime::install_seed_policies(b.ledger, b.alice).value();
  runtime::memory_state state;
  typename runtime::node<ledger_type>::options o;
  o.scheduling.inline_runs = true;
  o.policy_every = 10s;
  o.ruler_cron = "";
  std::vector<std::string> errors;
  o.on_error = [&](const std::string& job, const logline::error_info& e) {
    errors.push_back(job + ": " + e.message());
  };
  runtime::node<ledger_type> node(b.ledger, o, b.clock, state);
  const auto note = b.note("note", "short-lived", b.alice, json{{"ttl_minutes", 1}});

  node.tick();  // the policy agent schedules the revisit
  REQUIRE(b.of_type("policy_revisit").size() == 1);
  // Idle until it is due: the jobs skip their runs and nothing is written.
  for (int i = 0; i < 2; ++i) {
    b.clock.advance(10s);
    node.tick();
  }
  const auto quiet = b.stored();
  const auto idle = node.idle_runs();
  for (int i = 0; i < 3; ++i) {
    b.clock.advance(10s);
    node.tick();
  }
  CHECK(b.stored() == quiet);
  CHECK(node.idle_runs() == idle + 9);
  CHECK(archived(b).empty());
  // Past the minute: the agent is booted although nothing arrived, and archives the note.
  b.clock.advance(20s);
  node.tick();
  CHECK(archived(b) == std::map<logline::uuid, int>{{note.id, 1}});
  CHECK(errors.empty());
}
