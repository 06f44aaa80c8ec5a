// The run_code kernel on both backends: a Lua function from the ledger runs as its caller
// (reads and writes under the caller's identity), its output becomes a signed execution, and
// infinite loops, memory bombs and syntax errors become error executions while the process
// carries on.
#include <atomic>
#include <thread>

#include <logline/runtime/run_code.hpp>

#include "runtime/runtime_bench.hpp"

namespace runtime = logline::runtime;
using logline::json;

namespace {

template <class F>
struct code_bench : runtime_test::bench<F> {
  using typename runtime_test::bench<F>::ledger_type;
  using runtime_test::bench<F>::ledger;
  using runtime_test::bench<F>::stage0;
  using runtime_test::bench<F>::alice;

  code_bench() {
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
    return stage0.boot(runtime::ids::run_code, json{{"span_id", fn.to_string()}, {"input", std::move(input)}}, who).value();
  }
};

}  // namespace

TEMPLATE_TEST_CASE("run_code: a Lua function runs as its caller and its output is a signed execution", "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_bench<TestType> b;
  const auto fn = b.function(R"(
    local note = ctx.insert_span({entity_type = "note", who = "lua", this = "written by lua", visibility = "tenant"})
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
  auto inserted = b.ledger.as(b.alice).get(logline::uuid::parse(out["inserted"].template get<std::string>()).value()).value();
  CHECK(inserted.tenant_id == "acme");
  CHECK(inserted.this_ == "written by lua");
  CHECK(code_bench<TestType>::authentic(execution));
  CHECK(b.ledger.verify().value().ok());
  // bob may not read alice's private function: the kernel fails, nothing of hers runs.
  const auto refused = b.run(fn, json{{"n", 1}}, b.bob);
  CHECK(refused.status == "error");
  CHECK((*refused.error)["code"] == "not_found");
}

TEMPLATE_TEST_CASE("run_code: infinite loops, memory bombs and errors are error executions; the process carries on", "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_bench<TestType> b;
  struct bad_case {
    const char* code;
    const char* error_code;
  };
  for (const auto& [code, error_code] : {bad_case{"while true do end", "limit_exceeded"},
                                         bad_case{"while true do pcall(function() while true do end end) end", "limit_exceeded"},
                                         bad_case{"local t = {} while true do t[#t + 1] = ('x'):rep(4096) .. #t end", "limit_exceeded"},
                                         bad_case{"return ('x'):rep(1e10)", "limit_exceeded"},
                                         bad_case{"return {", "execution_failed"},
                                         bad_case{"error('boom')", "execution_failed"},
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

TEMPLATE_TEST_CASE("run_code: two runs of one function never overlap (the lock is held for the whole run)", "[runtime][run_code]", LOGLINE_BACKENDS) {
  code_bench<TestType> b;
  // Each run marks its start and its end with a span; a busy loop in between (well within the
  // budget) keeps it running long enough for the other to try.
  const auto fn = b.function(R"(
    ctx.insert_span({entity_type = "mark", who = "lua", this = "begin"})
    local x = 0
    for i = 1, 1000000 do x = x + i end
    ctx.insert_span({entity_type = "mark", who = "lua", this = "end"})
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
