// The runtime's flags (lanes, lease margin, nice, the CPU class of tenants' code,
// provider_exec's operator configuration) are read by one parser in logline-server
// --with-scheduler and logline-scheduler: a bad value is refused the same way by both (exit 2,
// naming the flag), before anything starts. And both answer --help and --version.
#include <string>
#include <utility>

#include <logline/version.hpp>

#include "security/secret_files.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace secret_files;

TEST_CASE("runtime flags: the server and the scheduler refuse the same bad values the same way",
          "[security][cli]") {
  process_test::sandbox box;
  const std::string db = (box.dir / "ledger.db").string();
  const std::string key = key_with_mode(box, "ledger.key", 0600);
  const std::pair<const char*, const char*> refused[] = {
      {"--runtime-nice 20", "--runtime-nice must be a nice value in 0..19"},
      {"--code-cpu low", "--code-cpu must be idle or shared"},
      {"--worker-lanes 0", "--worker-lanes must be a whole number in 1..64"},
      {"--policy-lanes many", "--policy-lanes must be a whole number in 1..64"},
      {"--lease-margin 0", "--lease-margin must be a whole number of seconds in 1..86400"},
      {"--provider-credential OPENAI", "--provider-credential must be NAME[=ENV]@HOST[,HOST...]"},
      {"--provider-credential 'OPEN-AI@api.example.com'", "NAME and ENV are letters, digits and _"},
      {"--provider-private 'not a host'", "--provider-private: 'not a host' is not HOST"},
  };
  const std::string programs[] = {scheduler + " --key " + key + " --once",
                                  server + " --key " + key + " --port 0 --with-scheduler"};
  for (const auto& program : programs)
    for (const auto& [flags, says] : refused) {
      INFO(program << " " << flags);
      // (A server that did not refuse would serve until `timeout` ends it: 124.)
      auto r = process_test::run("timeout 30 " + program + " --db " + db + " " + flags + " 2>&1");
      CHECK(r.code == 2);
      CHECK_THAT(r.out, Catch::Contains(says));
      CHECK_FALSE(fs::exists(db));  // refused before the database is opened
    }

  // Good values: the scheduler runs its kernels once with them; the server serves with them.
  const std::string good =
      " --worker-lanes 3 --policy-lanes 1 --lease-margin 60 --runtime-nice 5 --code-cpu shared "
      "--provider-credential OPENAI=OPENAI_KEY@api.example.com"
      " --provider-allow-host api.example.com --provider-http-key-host api.example.com";
  auto once = process_test::run(scheduler + " --key " + key + " --db " + db + " --seed --once" +
                                good + " 2>&1");
  INFO(once.out);
  CHECK(once.code == 0);
  CHECK_THAT(once.out, Catch::Contains("request_worker: complete"));
  auto served = process_test::run("timeout 3 " + server + " --key " + key + " --db " + db +
                                  " --port 0 --with-scheduler" + good + " 2>&1");
  INFO(served.out);
  CHECK(served.code == 124);
  CHECK_THAT(served.out, Catch::Contains("runtime: observer_bot and request_worker every"));
}

TEST_CASE("the server and the scheduler: --help and --version answer on stdout and exit 0",
          "[security][cli]") {
  for (const auto& [program, name] :
       {std::pair{server, "logline-server"}, std::pair{scheduler, "logline-scheduler"}}) {
    INFO(name);
    auto help = process_test::run(program + " --help 2>/dev/null");
    CHECK(help.code == 0);
    CHECK_THAT(help.out, Catch::Contains(std::string("usage: ") + name));
    CHECK_THAT(help.out, Catch::Contains("--worker-lanes N"));  // the runtime flags are listed too
    auto version = process_test::run(program + " --version 2>/dev/null");
    CHECK(version.code == 0);
    CHECK(version.out == std::string(name) + " " + logline::version + "\n");
    auto wrong = process_test::run(program + " --bogus 2>&1");
    CHECK(wrong.code == 2);
    CHECK_THAT(wrong.out, Catch::Contains("unknown argument '--bogus'"));
  }
}
