// The run_code kernel on one backend (a conformance source: compiled once per backend): a Lua
// function from the ledger runs as its caller (reads and writes under the caller's identity), its
// output becomes a signed execution, and infinite loops, memory bombs and syntax errors become
// error executions while the process carries on.
#include <atomic>
#include <thread>

#include <logline/runtime/run_code.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;

namespace {

template <class F>
struct code_fixture : runtime_test::fixture<F> {
  using typename runtime_test::fixture<F>::ledger_type;
  using runtime_test::fixture<F>::ledger;
  using runtime_test::fixture<F>::stage0;
  using runtime_test::fixture<F>::alice;

  code_fixture() {
    runtime::seed(ledger).value();
    runtime::run_code<ledger_type> kernel;
    kernel.limits.instructions = 5'000'000;  // an infinite loop ends in well under a second
    kernel.limits.memory_bytes = 16u << 20;
    stage0.register_kernel(runtime::ids::run_code, kernel);
  }
  logline::uuid function(const std::string& code) {
    logline::universal_span s = conformance::make_span("function", "alice");
    s.language = "lua";
    s.code = code;
    return ledger.as(alice).append(s).value().id;
  }
  logline::universal_span run(const logline::uuid& fn, json input, const logline::identity& who) {
    return stage0
        .boot(runtime::ids::run_code,
              json{{"span_id", fn.to_string()}, {"input", std::move(input)}}, who)
        .value();
  }
};

}  // namespace

TEMPLATE_TEST_CASE(
    "run_code: a Lua function runs as its caller and its output is a signed execution",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  const auto fn = b.function(R"(
    local note = ctx.insert_span({entity_type = "note", this = "written by lua", visibility = "tenant"})
    local notes = ctx.query({entity_type = "note"})
    return {double = ctx.input.n * 2, user = ctx.env.user_id, tenant = ctx.env.tenant_id,
            inserted = note.id, owner = note.owner_id, notes = #notes, hash = ctx.blake3("abc")}
  )");
  const auto execution = b.run(fn, json{{"n", 21}}, b.alice);
  INFO(execution.error.value_or(json(nullptr)).dump());
  REQUIRE(execution.status == "complete");
  const json& out = *execution.output;
  CHECK(out["double"] == 42);
  CHECK(out["user"] == "alice");
  CHECK(out["tenant"] == "acme");
  CHECK(out["owner"] == "alice");
  CHECK(out["notes"] == 1);
  CHECK(out["hash"] == "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85");
  // The span the code inserted is alice's, in her tenant, hashed and signed like any other.
  auto inserted =
      b.ledger.as(b.alice)
          .get(logline::uuid::parse(out["inserted"].template get<std::string>()).value())
          .value();
  CHECK(inserted.tenant_id == "acme");
  CHECK(inserted.this_ == "written by lua");
  CHECK(code_fixture<TestType>::authentic(execution));
  CHECK(b.ledger.verify().value().ok());
  // bob may not read alice's private function: the kernel fails, nothing of hers runs.
  const auto refused = b.run(fn, json{{"n", 1}}, b.bob);
  CHECK(refused.status == "error");
  CHECK((*refused.error)["code"] == "not_found");
}

TEMPLATE_TEST_CASE(
    "run_code: infinite loops, memory bombs and errors are error executions; the process carries "
    "on",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  struct bad_case {
    const char* code;
    const char* error_code;
  };
  for (const auto& [code, error_code] :
       {bad_case{"while true do end", "limit_exceeded"},
        bad_case{"while true do pcall(function() while true do end end) end", "limit_exceeded"},
        bad_case{"local t = {} while true do t[#t + 1] = ('x'):rep(4096) .. #t end",
                 "limit_exceeded"},
        bad_case{"return ('x'):rep(1e10)", "limit_exceeded"},
        bad_case{"return {", "execution_failed"}, bad_case{"error('boom')", "execution_failed"},
        bad_case{"return io.open('/etc/passwd')", "execution_failed"},
        bad_case{"return os.execute('true')", "execution_failed"}}) {
    INFO(code);
    const auto execution = b.run(b.function(code), json::object(), b.alice);
    CHECK(execution.status == "error");
    CHECK((*execution.error)["code"] == error_code);
    CHECK_FALSE(execution.output);
  }
  const auto fine = b.run(b.function("return {ok = true}"), json::object(), b.alice);
  CHECK(fine.status == "complete");
  CHECK(fine.output == json{{"ok", true}});
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "run_code: two runs of one function never overlap (the lock is held for the whole run)",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  // Each run marks its start and its end with a span; a busy loop in between (well within the
  // budget) keeps it running long enough for the other to try.
  const auto fn = b.function(R"(
    ctx.insert_span({entity_type = "mark", this = "begin"})
    local x = 0
    for i = 1, 1000000 do x = x + i end
    ctx.insert_span({entity_type = "mark", this = "end"})
    return {x = x}
  )");
  std::vector<std::thread> runs;
  std::atomic<int> complete{0};
  for (int i = 0; i < 2; ++i)
    runs.emplace_back([&] {
      if (b.run(fn, json::object(), b.alice).status == "complete") ++complete;
    });
  for (auto& t : runs) t.join();
  CHECK(complete == 2);
  std::vector<std::string> marks;
  for (const auto& s : b.of_type("mark")) marks.push_back(s.this_);
  CHECK(marks == std::vector<std::string>{"begin", "end", "begin", "end"});
  // Another function is not held up by it: its lock is its own.
  const auto other = b.function("return 1");
  CHECK(b.run(other, json::object(), b.alice).status == "complete");
}

namespace {
// A new version of the manifest with `edit` applied to its metadata (the latest manifest wins).
template <class Bench>
void edit_manifest(Bench& b, const std::function<void(json&)>& edit) {
  auto m = logline::unsealed(b.ledger.as_operator().get(runtime::ids::manifest).value());
  edit(*m.metadata);
  b.ledger.append_version(m).value();
}
}  // namespace

TEMPLATE_TEST_CASE(
    "run_code: the per-tenant daily quota refuses runs with a policy_violation; a valid override "
    "grant passes",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  edit_manifest(b, [](json& md) { md["throttle"]["per_tenant_daily_exec_limit"] = 2; });
  const auto fn = b.function("return {ok = true}");
  CHECK(b.run(fn, json::object(), b.alice).status == "complete");
  CHECK(b.run(fn, json::object(), b.alice).status == "complete");
  const auto before_violation = b.of_type("execution").size();
  const auto refused = b.run(fn, json::object(), b.alice);
  CHECK(refused.status == "error");
  CHECK((*refused.error)["code"] == "policy_violation");
  CHECK_THAT((*refused.error)["message"].template get<std::string>(),
             Catch::Contains("daily quota of 2"));
  CHECK(b.of_type("execution").size() == before_violation + 1);  // the refusal, nothing run
  auto violations = b.of_type("policy_violation");
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].parent_id == fn);
  CHECK(violations[0].tenant_id == "acme");
  CHECK(violations[0].status == "refused");
  CHECK((*violations[0].metadata)["limit"] == 2);
  CHECK((*violations[0].metadata)["time_zone"] == "UTC");

  // Another tenant has its own count.
  logline::universal_span public_fn = conformance::make_span("function", "alice");
  public_fn.language = "lua";
  public_fn.code = "return 7";
  public_fn.visibility = logline::visibility::public_;
  const auto shared = b.ledger.as(b.alice).append(public_fn).value();
  CHECK(b.run(shared.id, json::object(), b.bob).status == "complete");

  // metadata.force with a grant by a key that is not the override key: still refused.
  auto forced = [&](const logline::ed25519::key& key) {
    logline::universal_span f = conformance::make_span("function", "alice");
    f.language = "lua";
    f.code = "return {forced = true}";
    f.id = logline::uuid::v7();
    f.metadata = json{{"force", {{"signature", runtime::force_grant(key, f.id, *f.code)}}}};
    return b.ledger.as(b.alice).append(f).value().id;
  };
  const auto other_key = logline::ed25519::key::generate();
  const auto forged = b.run(forced(other_key), json::object(), b.alice);
  CHECK((*forged.error)["code"] == "policy_violation");
  // A grant for other code (the function's code changed after the grant): refused.
  logline::universal_span changed = conformance::make_span("function", "alice");
  changed.language = "lua";
  changed.code = "return {changed = true}";
  changed.id = logline::uuid::v7();
  changed.metadata = json{{"force",
                           {{"signature", runtime::force_grant(conformance::test_key(), changed.id,
                                                               "return {forced = true}")}}}};
  const auto changed_id = b.ledger.as(b.alice).append(changed).value().id;
  CHECK((*b.run(changed_id, json::object(), b.alice).error)["code"] == "policy_violation");
  // A grant by the override key (the seeding key): runs, and the override is on record.
  const auto granted = b.run(forced(conformance::test_key()), json::object(), b.alice);
  CHECK(granted.status == "complete");
  CHECK(granted.output == json{{"forced", true}});
  violations = b.of_type("policy_violation");
  CHECK(std::count_if(violations.begin(), violations.end(),
                      [](const auto& v) { return v.status == "overridden"; }) == 1);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "run_code: the tenant's time zone comes from the manifest; an unknown zone is a clear error",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  edit_manifest(b, [](json& md) {
    md["throttle"]["per_tenant_daily_exec_limit"] = 1;
    md["throttle"]["time_zones"] = {{"acme", "Europe/Paris"}, {"other", "Mars/Olympus"}};
  });
  const auto fn = b.function("return 1");
  CHECK(b.run(fn, json::object(), b.alice).status == "complete");
  CHECK((*b.run(fn, json::object(), b.alice).error)["code"] == "policy_violation");
  CHECK((*b.of_type("policy_violation").front().metadata)["time_zone"] == "Europe/Paris");
  logline::universal_span public_fn = conformance::make_span("function", "alice");
  public_fn.language = "lua";
  public_fn.code = "return 7";
  public_fn.visibility = logline::visibility::public_;
  const auto shared = b.ledger.as(b.alice).append(public_fn).value();
  const auto bad_zone = b.run(shared.id, json::object(), b.bob);
  CHECK(bad_zone.status == "error");
  CHECK_THAT((*bad_zone.error)["message"].template get<std::string>(),
             Catch::Contains("unknown time zone 'Mars/Olympus'"));
}

TEMPLATE_TEST_CASE(
    "run_code: a run that succeeds after more than slow_ms adds a status_patch with status slow",
    "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_fixture<TestType> b;
  edit_manifest(b, [](json& md) { md["policy"]["slow_ms"] = 50; });
  runtime::run_code<typename code_fixture<TestType>::ledger_type> kernel;
  // A host call the sandbox cannot interrupt (as a slow query would be).
  kernel.extend = [](runtime::lua_context& ctx, auto&) {
    ctx.functions["pause"] = [](const json& args) -> logline::result<json> {
      std::this_thread::sleep_for(std::chrono::milliseconds(args[0].get<int>()));
      return json(nullptr);
    };
  };
  b.stage0.register_kernel(runtime::ids::run_code, kernel);
  const auto fast = b.function("return 1");
  CHECK(b.run(fast, json::object(), b.alice).status == "complete");
  CHECK(b.of_type("status_patch").empty());
  const auto slow = b.function("ctx.pause(120) return 2");
  const auto e = b.run(slow, json::object(), b.alice);
  CHECK(e.status == "complete");
  auto patches = b.of_type("status_patch");
  REQUIRE(patches.size() == 1);
  CHECK(patches[0].parent_id == slow);
  CHECK(patches[0].status == "slow");
  CHECK((*patches[0].metadata)["duration_ms"].template get<long>() >= 120);
  // A Lua loop longer than slow_ms is cut off: an error, no patch.
  const auto cut = b.run(b.function("while true do end"), json::object(), b.alice);
  CHECK((*cut.error)["code"] == "limit_exceeded");
  CHECK(b.of_type("status_patch").size() == 1);
}
