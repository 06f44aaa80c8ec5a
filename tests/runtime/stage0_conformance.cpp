// Seeds and Stage-0 on both backends: the manifest and kernels with LogLineOS's ids, booting a
// kernel (boot_event, then a hashed and signed execution), and the refusals that append nothing:
// an id the manifest does not allow, an unknown id, a tampered function, a forged signature.
#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::errc;
using logline::json;

using runtime_test::fixture;

TEMPLATE_TEST_CASE("seed: LogLineOS's manifest and kernels, once", "[runtime][stage0]",
                   LOGLINE_BACKENDS) {
  fixture<TestType> b;
  CHECK(runtime::seed(b.ledger).value() == 6);
  CHECK(runtime::seed(b.ledger).value() == 0);
  CHECK(b.stored() == 6);
  auto m = runtime::load_manifest(b.ledger).value();
  CHECK(m.id == runtime::ids::manifest);
  CHECK(m.kernels.at("run_code") == runtime::ids::run_code);
  CHECK(m.kernels.at("provider_exec") == runtime::ids::provider_exec);
  CHECK(m.allowed_boot_ids.size() == 5);
  CHECK(m.per_tenant_daily_exec_limit == 100);
  CHECK(m.slow_ms == 5000);
  CHECK(m.signatures_required);
  REQUIRE(m.override_key);
  CHECK(*m.override_key == conformance::test_key().public_key());
  // The seeded spans are public: every tenant's Stage-0 reads them.
  auto as_alice = b.ledger.as(b.alice);
  CHECK(runtime::load_manifest(as_alice).value().id == runtime::ids::manifest);
  CHECK(as_alice.get(runtime::ids::observer_bot).value().language == "native");
}

TEMPLATE_TEST_CASE("stage0: a kernel boots, runs and leaves a boot_event and a signed execution",
                   "[runtime][stage0]", LOGLINE_BACKENDS) {
  fixture<TestType> b;
  runtime::seed(b.ledger).value();
  std::string seen_user;
  b.stage0.register_kernel(runtime::ids::run_code,
                           [&](typename fixture<TestType>::call& c) -> logline::result<json> {
                             seen_user = c.as.identity().user_id;
                             return json{{"doubled", c.input["n"].template get<int>() * 2},
                                         {"kernel", *c.function.name}};
                           });
  auto execution =
      b.stage0.boot(runtime::ids::run_code, json{{"n", 21}}, b.alice, "trace-1").value();
  CHECK(seen_user == "alice");  // the function runs as its caller
  CHECK(execution.entity_type == "execution");
  CHECK(execution.status == "complete");
  CHECK(execution.parent_id == runtime::ids::run_code);
  CHECK(execution.trace_id == "trace-1");
  CHECK(execution.output == json{{"doubled", 42}, {"kernel", "run_code"}});
  CHECK(execution.input == json{{"n", 21}});
  REQUIRE(execution.duration_ms);
  CHECK(*execution.duration_ms >= 0);
  CHECK(execution.owner_id == "alice");
  CHECK(execution.tenant_id == "acme");
  CHECK(fixture<TestType>::authentic(execution));
  auto boots = b.of_type("boot_event");
  REQUIRE(boots.size() == 1);
  CHECK(boots[0].parent_id == runtime::ids::run_code);
  CHECK(boots[0].trace_id == "trace-1");
  CHECK(boots[0].at <= execution.at);
  CHECK(b.ledger.verify().value().ok());

  // A kernel that fails is an error execution, not a boot error.
  b.stage0.register_kernel(runtime::ids::observer_bot, [](auto&) -> logline::result<json> {
    return logline::make_error(errc::execution_failed, "observer: nothing to observe");
  });
  auto failed = b.stage0.boot(runtime::ids::observer_bot, json::object(), b.alice).value();
  CHECK(failed.status == "error");
  CHECK(failed.error ==
        json{{"code", "execution_failed"}, {"message", "observer: nothing to observe"}});
  CHECK_FALSE(failed.output);
  // A kernel with no implementation registered (language "native", no runner) likewise.
  auto missing = b.stage0.boot(runtime::ids::policy_agent, json::object(), b.alice).value();
  CHECK(missing.status == "error");
  CHECK_THAT((*missing.error)["message"].template get<std::string>(),
             Catch::Contains("no runner for language 'native'"));
}

TEMPLATE_TEST_CASE("stage0: refused, unknown, tampered and forged functions append nothing",
                   "[runtime][stage0]", LOGLINE_BACKENDS) {
  fixture<TestType> b;
  // Without a manifest nothing boots.
  auto none = b.stage0.boot(runtime::ids::run_code, json::object(), b.alice);
  REQUIRE_FALSE(none);
  CHECK(none.error() == errc::not_found);
  CHECK_THAT(none.error().message(), Catch::Contains("no manifest"));
  runtime::seed(b.ledger).value();
  bool ran = false;
  for (const auto& id : {runtime::ids::run_code, runtime::ids::observer_bot})
    b.stage0.register_kernel(id, [&](auto&) -> logline::result<json> {
      ran = true;
      return json::object();
    });

  // A function of alice's that the manifest does not list.
  logline::universal_span mine = conformance::make_span("function", "alice");
  mine.language = "lua";
  mine.code = "return 1";
  const auto own = b.ledger.as(b.alice).append(mine).value();
  std::size_t before = b.stored();
  auto refused = b.stage0.boot(own.id, json::object(), b.alice);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::permission_denied);
  CHECK_THAT(refused.error().message(), Catch::Contains("allowed_boot_ids"));
  CHECK(b.stored() == before);

  // A newer manifest wins: it allows an id that names no span.
  const auto ghost = logline::uuid::v7();
  auto newer = runtime::seed_manifest(conformance::test_key().public_key());
  (*newer.metadata)["allowed_boot_ids"].push_back(ghost.to_string());
  newer.seq = 1;
  b.ledger.append(newer).value();
  before = b.stored();
  auto unknown = b.stage0.boot(ghost, json::object(), b.alice);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::not_found);
  CHECK(b.stored() == before);

  // A forged signature on a kernel (the content still hashes right: signatures are not hashed):
  // a kernel span the operator did not sign is no kernel span.
  const auto forged = conformance::test_key().sign(logline::digest{}).to_string();
  REQUIRE(b.tamper("UPDATE universal_registry SET signature = '" + forged + "' WHERE id = '" +
                   runtime::ids::observer_bot.to_string() + "'"));
  auto bad = b.stage0.boot(runtime::ids::observer_bot, json::object(), b.alice);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::not_found);
  // A tampered kernel: its code changed in the database.
  REQUIRE(b.tamper("UPDATE universal_registry SET code = 'evil' WHERE id = '" +
                   runtime::ids::run_code.to_string() + "'"));
  auto tampered = b.stage0.boot(runtime::ids::run_code, json::object(), b.alice);
  REQUIRE_FALSE(tampered);
  CHECK(tampered.error() == errc::integrity_violation);
  CHECK_FALSE(ran);
  CHECK(b.stored() == before);
  CHECK(b.of_type("boot_event").empty());
  CHECK(b.of_type("execution").empty());
}
