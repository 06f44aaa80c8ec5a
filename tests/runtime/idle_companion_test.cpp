// Tenants' code on the CPU nobody else wants (logline/runtime/idle_companion.hpp): the work runs
// on a SCHED_IDLE companion, what it calls back runs on the caller's thread at the caller's
// priority, failures cross back, nesting runs inline, and run_lua with lua_limits::idle_cpu
// gives the same results with every host function called on the calling thread.
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <logline/runtime/lua.hpp>

#include "support/catch.hpp"

namespace rt = logline::runtime;
using logline::errc;
using logline::json;

TEST_CASE("idle companion: the work runs in SCHED_IDLE, callbacks on the caller's thread",
          "[runtime][idle_companion]") {
  const pid_t caller = ::gettid();
  const int caller_policy = ::sched_getscheduler(0);
  REQUIRE(caller_policy != SCHED_IDLE);
  pid_t worked_on = 0, called_back_on = 0;
  int work_policy = -1, callback_policy = -1;
  bool on_companion = false, callback_on_companion = true;
  rt::idle_companion::run([&] {
    worked_on = ::gettid();
    work_policy = ::sched_getscheduler(0);
    on_companion = rt::idle_companion::on_companion();
    rt::idle_companion::call_back([&] {
      called_back_on = ::gettid();
      callback_policy = ::sched_getscheduler(0);
      callback_on_companion = rt::idle_companion::on_companion();
    });
  });
  CHECK(worked_on != caller);
  CHECK(work_policy == SCHED_IDLE);
  CHECK(on_companion);
  CHECK(called_back_on == caller);
  CHECK(callback_policy == caller_policy);
  CHECK_FALSE(callback_on_companion);
  CHECK(::sched_getscheduler(0) == caller_policy);  // the caller never changed class

  // The same companion serves this thread's next run.
  pid_t again = 0;
  rt::idle_companion::run([&] { again = ::gettid(); });
  CHECK(again == worked_on);

  // Outside run(), call_back simply runs here.
  pid_t inline_on = 0;
  rt::idle_companion::call_back([&] { inline_on = ::gettid(); });
  CHECK(inline_on == caller);
}

TEST_CASE("idle companion: exceptions cross back, nesting runs inline",
          "[runtime][idle_companion]") {
  CHECK_THROWS_WITH(rt::idle_companion::run([] { throw std::runtime_error("from the work"); }),
                    "from the work");
  // A callback's exception reaches the work; not caught there, the caller.
  std::string seen_in_work;
  rt::idle_companion::run([&] {
    try {
      rt::idle_companion::call_back([] { throw std::runtime_error("from the callback"); });
    } catch (const std::runtime_error& e) {
      seen_in_work = e.what();
    }
  });
  CHECK(seen_in_work == "from the callback");
  CHECK_THROWS_WITH(rt::idle_companion::run([] {
                      rt::idle_companion::call_back([] { throw std::runtime_error("uncaught"); });
                    }),
                    "uncaught");

  // Code run again from a callback runs on the caller, which is waiting anyway; run from the
  // work runs on the companion. Neither deadlocks, and the companion still works afterwards.
  const pid_t caller = ::gettid();
  pid_t nested_from_callback = 0, nested_from_work = 0, outer = 0;
  rt::idle_companion::run([&] {
    outer = ::gettid();
    rt::idle_companion::call_back(
        [&] { rt::idle_companion::run([&] { nested_from_callback = ::gettid(); }); });
    rt::idle_companion::run([&] { nested_from_work = ::gettid(); });
  });
  CHECK(nested_from_callback == caller);
  CHECK(nested_from_work == outer);
  pid_t after = 0;
  rt::idle_companion::run([&] { after = ::gettid(); });
  CHECK(after == outer);
}

TEST_CASE("idle companion: many threads, each with its own companion, many round trips",
          "[runtime][idle_companion]") {
  constexpr int threads = 4, runs = 200;
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      const pid_t me = ::gettid();
      for (int i = 0; i < runs; ++i) {
        int total = 0;
        rt::idle_companion::run([&] {
          for (int k = 1; k <= 3; ++k)
            rt::idle_companion::call_back([&] {
              if (::gettid() != me) ++wrong;
              total += k;
            });
        });
        if (total != 6) ++wrong;
        ++done;
      }
    });  // each thread's companion is joined as the thread ends
  for (auto& t : pool) t.join();
  CHECK(wrong == 0);
  CHECK(done == threads * runs);
}

TEST_CASE("lua: with idle_cpu the VM runs on the companion and host functions on the caller",
          "[runtime][lua][idle_companion]") {
  rt::lua_limits limits;
  limits.idle_cpu = true;
  limits.instructions = 2'000'000;
  const pid_t caller = ::gettid();
  std::vector<pid_t> host_threads;
  rt::lua_context ctx;
  ctx.values["input"] = json{{"n", 7}};
  ctx.functions["twice"] = [&](const json& args) -> logline::result<json> {
    host_threads.push_back(::gettid());
    return json(args[0].get<std::int64_t>() * 2);
  };
  ctx.functions["refuse"] = [&](const json&) -> logline::result<json> {
    host_threads.push_back(::gettid());
    return logline::make_error(errc::permission_denied, "not yours");
  };
  ctx.functions["explode"] = [&](const json&) -> logline::result<json> {
    throw std::runtime_error("host blew up");
  };

  auto out = rt::run_lua(
      "local ok, e = pcall(ctx.refuse) return {n = ctx.twice(ctx.input.n), refused = e}", ctx,
      limits);
  REQUIRE(out);
  CHECK((*out)["n"] == 14);
  CHECK_THAT((*out)["refused"].get<std::string>(), Catch::Contains("ctx.refuse: not yours"));
  CHECK(host_threads == std::vector<pid_t>{caller, caller});

  auto thrown = rt::run_lua("return ctx.explode()", ctx, limits);
  REQUIRE_FALSE(thrown);
  CHECK(thrown.error() == errc::execution_failed);
  CHECK_THAT(thrown.error().message(), Catch::Contains("ctx.explode threw: host blew up"));

  // The limits hold the same way on the companion.
  auto looped = rt::run_lua("while true do end", ctx, limits);
  REQUIRE_FALSE(looped);
  CHECK(looped.error() == errc::limit_exceeded);
  CHECK_THAT(looped.error().message(), Catch::Contains("instruction budget"));
  auto syntax = rt::run_lua("return (", ctx, limits);
  REQUIRE_FALSE(syntax);
  CHECK(syntax.error() == errc::execution_failed);
}
