// The midnight ruler on both backends, with a manual clock across Paris's spring-forward night:
// decisions per law and a composed verdict for each governable span, idempotent per span
// version and boundary; a missed midnight is made up once, for its boundary, also after a
// restart (the job's next due time is on the ledger).
#include <logline/runtime/node.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;
using namespace std::chrono_literals;

namespace {

constexpr const char* deadline_law = R"(law deadlines:1.0:
  scope: task
  clock: Europe/Paris
  if ok: overdue == false
    then: accept
  if not: overdue == true and metadata.priority == "high"
    then: terminate(reason="missed a high-priority deadline"), notify(role="owner"), append_ledger
)";

constexpr const char* priority_law = R"(law priorities:2:
  scope: task
  clock: Europe/Paris
  if ok: metadata.priority != "high"
    then: accept
  if doubt: metadata.priority == "high"
    then: hold(hours=48), tag(key="watch", val="yes")
)";

template <class F>
struct ruler_fixture : runtime_test::fixture<F> {
  using typename runtime_test::fixture<F>::ledger_type;
  using runtime_test::fixture<F>::ledger;
  using runtime_test::fixture<F>::alice;
  using runtime_test::fixture<F>::of_type;

  runtime::manual_clock clock{date::sys_days{date::year{2026} / 3 / 28} + 20h};
  std::unique_ptr<runtime::ledger_state<ledger_type>> state;
  std::unique_ptr<runtime::node<ledger_type>> node;
  std::vector<std::string> errors;

  ruler_fixture() {
    runtime::seed(ledger).value();
    restart();
  }
  // A new node with nothing in memory, as after a restart.
  void restart() {
    node.reset();
    state = std::make_unique<runtime::ledger_state<ledger_type>>(
        ledger, std::set<std::string>{"midnight_ruler"});
    typename runtime::node<ledger_type>::options o;
    o.scheduling.inline_runs = true;
    o.observer_every = o.worker_every = o.policy_every =
        std::chrono::hours(24 * 365);  // only the ruler matters here
    o.on_error = [this](const std::string& job, const logline::error_info& e) {
      errors.push_back(job + ": " + e.message());
    };
    node = std::make_unique<runtime::node<ledger_type>>(ledger, o, clock, *state);
  }
  void law(const char* text) {
    logline::universal_span l = conformance::make_span("law", "logline");
    l.code = text;
    l.status = "active";
    l.visibility = logline::visibility::public_;
    ledger.append(l).value();
  }
  logline::universal_span task(const std::string& name, const char* deadline,
                               const char* priority) {
    logline::universal_span t = conformance::make_span("task", "alice");
    t.this_ = name;
    t.status = "open";
    t.metadata = json{{"deadline_at", deadline}, {"priority", priority}};
    return ledger.as(alice).append(t).value();
  }
  std::vector<logline::universal_span> of(const std::string& type, const logline::uuid& parent,
                                          const std::string& boundary) {
    std::vector<logline::universal_span> out;
    for (auto& s : of_type(type))
      if (s.parent_id == parent && (*s.metadata)["boundary"] == boundary)
        out.push_back(std::move(s));
    return out;
  }
};

}  // namespace

TEMPLATE_TEST_CASE(
    "midnight ruler: decisions and verdicts at Paris midnights across DST; idempotent; a missed "
    "midnight made up once",
    "[runtime][ruler]", LOGLINE_BACKENDS) {
  ruler_fixture<TestType> b;
  b.law(deadline_law);
  b.law(priority_law);
  const auto late = b.task("late", "2026-03-28T12:00:00.000Z", "high");
  const auto fine = b.task("fine", "2026-04-30T12:00:00.000Z", "low");
  logline::universal_span untouched =
      conformance::make_span("note", "alice");  // no deadline, no law
  untouched.status = "open";
  b.ledger.as(b.alice).append(untouched).value();

  // 20:00 UTC, then midnight in Paris (still CET: 23:00 UTC).
  CHECK(b.node->tick() == 3);  // the three fixed-rate jobs' first runs; the ruler is not due
  b.clock.set(date::sys_days{date::year{2026} / 3 / 28} + 23h);
  CHECK(b.node->tick() == 1);
  const std::string first = "2026-03-28T23:00:00.000Z";
  auto decisions = b.of("law.decision", late.id, first);
  REQUIRE(decisions.size() == 2);
  auto verdicts = b.of("law.verdict", late.id, first);
  REQUIRE(verdicts.size() == 1);
  const json& v = *verdicts[0].metadata;
  CHECK(v["triage"] == "not");
  CHECK(v["obligations"] ==
        json::array({{{"action", "terminate"}, {"reason", "missed a high-priority deadline"}},
                     {{"action", "notify"}, {"role", "owner"}},
                     {{"action", "tag"}, {"key", "watch"}, {"val", "yes"}},
                     {{"action", "append_ledger"}}}));
  CHECK(verdicts[0].owner_id == "alice");
  CHECK(verdicts[0].tenant_id == "acme");
  auto fine_verdict = b.of("law.verdict", fine.id, first);
  REQUIRE(fine_verdict.size() == 1);
  CHECK((*fine_verdict[0].metadata)["triage"] == "ok");
  CHECK(b.of_type("law.verdict").size() == 2);  // the note is not governable

  // The same boundary again: nothing new.
  const auto stored = b.stored();
  auto again = runtime::midnight_ruler<typename ruler_fixture<TestType>::ledger_type>{}(
                   b.ledger, logline::timestamp::parse(first).value())
                   .value();
  CHECK(again["recorded"] == 0);
  CHECK(again["already_recorded"] == 6);
  CHECK(b.stored() == stored);

  // Down over two midnights (the second after the change to CEST: 22:00 UTC), restarted on the
  // 31st: one run, for the latest missed boundary.
  b.restart();
  b.clock.set(date::sys_days{date::year{2026} / 3 / 31} + 5h);
  CHECK(b.node->tick() == 4);  // the three fixed-rate jobs (new node) and the made-up midnight
  CHECK(b.of("law.verdict", late.id, "2026-03-29T22:00:00.000Z").empty());
  CHECK(b.of("law.verdict", late.id, "2026-03-30T22:00:00.000Z").size() == 1);
  CHECK(b.of_type("law.verdict").size() == 4);
  // Next midnight: 2026-03-31T22:00Z.
  b.clock.set(date::sys_days{date::year{2026} / 3 / 31} + 21h + 59min);
  CHECK(b.node->tick() == 0);
  b.clock.set(date::sys_days{date::year{2026} / 3 / 31} + 22h);
  CHECK(b.node->tick() == 1);
  CHECK(b.of("law.verdict", late.id, "2026-03-31T22:00:00.000Z").size() == 1);
  CHECK(b.errors.empty());
  CHECK(b.ledger.verify().value().ok());
}
