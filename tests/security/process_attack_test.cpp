// The attack suite's processes: ids the runtime derives, squatted in a ledger (planted past the
// write rules, as only a bug or an old ledger could have them), do not stop logline-scheduler or
// logline-server --with-scheduler; the seed installer names the squat and exits non-zero.
#include <httplib.h>

#include <logline/runtime/manifest.hpp>
#include <logline/runtime/seed_policies.hpp>
#include <logline/sqlite.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

namespace runtime = logline::runtime;

TEST_CASE(
    "attack: squatted derived ids, then the scheduler, the server and the seed installer start "
    "over them",
    "[security][cli]") {
  process_test::sandbox box;
  const std::string db = (box.dir / "ledger.db").string(), key = (box.dir / "server.key").string();
  box.cli("keygen --out " + key);
  box.cli("seed --db " + db + " --key " + key);
  const logline::identity demo{"demo", "demo"}, mallory{"mallory", "globex"};
  {
    auto database = logline::sqlite::database::open(db).value();
    conformance::full_ledger<logline::sqlite::backend> ledger{
        *database,
        {.identity = {"logline", std::nullopt},
         .signing_key = logline::ed25519::key::from_file(key).value()}};
    auto plant = [&](const logline::uuid& id, const std::string& type, logline::json metadata) {
      logline::universal_span s = conformance::make_span(type, "mallory");
      s.id = id;
      s.status = "active";
      s.visibility = logline::visibility::public_;
      s.metadata = std::move(metadata);
      ledger.on_behalf_of(mallory).append(s).value();
    };
    plant(runtime::seed_policy_id("ttl_reaper", demo), "policy", logline::json::object());
    plant(runtime::derived_uuid("logline.schedule_state\nmidnight_ruler"), "schedule_state",
          logline::json{{"job", "midnight_ruler"}, {"next_due", "2001-01-01T00:00:00.000Z"}});
  }

  auto installed =
      box.try_cli("seed --db " + db + " --key " + key + " --policies --user demo --tenant demo");
  INFO(installed.out);
  CHECK(installed.code == 2);
  CHECK_THAT(installed.out, Catch::Contains("squatted"));

  auto once = process_test::run(std::string(LOGLINE_SCHEDULER_PATH) + " --db " + db + " --key " +
                                key + " --once 2>&1");
  INFO(once.out);
  CHECK(once.code == 0);
  CHECK_THAT(once.out, Catch::Contains("policy_agent: complete"));

  process_test::server_process server(box.dir,
                                      {"--db", db, "--key", key, "--with-scheduler", "--quiet"});
  httplib::Client c("127.0.0.1", server.port);
  auto health = c.Get("/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(server.terminate() == 0);
  CHECK(box.try_cli("verify --db " + db).code == 0);
}
