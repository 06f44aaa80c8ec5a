// Key files (issue 15, item 8): logline-server and logline-scheduler refuse a key file that
// group or others may access (exit 2, naming the file and chmod 600), or start with a warning
// given --allow-readable-key; logline-cli warns and goes on.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "security/secret_files.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace secret_files;

TEST_CASE(
    "secrets: a key file that group or others may access: the services refuse it, the CLI warns",
    "[security][cli]") {
  process_test::sandbox box;
  const std::string db = (box.dir / "ledger.db").string();
  for (mode_t mode : {0644, 0640, 0604, 0620}) {
    const std::string key = key_with_mode(box, "exposed.key", mode);
    INFO("mode " << std::oct << mode);
    auto refused = process_test::run(scheduler + " --db " + db + " --key " + key + " --once 2>&1");
    CHECK(refused.code == 2);
    CHECK_THAT(refused.out,
               Catch::Contains("key file '" + key + "' is accessible by group or others") &&
                   Catch::Contains("chmod 600 '" + key + "'") &&
                   Catch::Contains("--allow-readable-key"));
    CHECK_FALSE(fs::exists(db));  // refused before the database is opened: nothing made
    // The server too (if it did not refuse, it would serve until `timeout` ends it: 124).
    auto served = process_test::run("timeout 30 " + server + " --db " + db + " --key " + key +
                                    " --port 0 2>&1");
    CHECK(served.code == 2);
    CHECK_THAT(served.out,
               Catch::Contains("key file '" + key + "' is accessible by group or others"));
    fs::remove(key);
    fs::remove(db);
  }

  const std::string exposed = key_with_mode(box, "exposed.key", 0644);
  // --allow-readable-key: the scheduler runs, with a warning.
  auto allowed = process_test::run(scheduler + " --db " + db + " --key " + exposed +
                                   " --allow-readable-key --seed --once 2>&1");
  CHECK(allowed.code == 0);
  CHECK_THAT(allowed.out, Catch::Contains("logline-scheduler: warning: key file '" + exposed +
                                          "' is accessible by group or others"));
  CHECK_THAT(allowed.out, Catch::Contains("policy_agent: complete"));
  // The CLI warns and goes on: the key still signs.
  auto appended = append_note(db, exposed);
  CHECK(appended.code == 0);
  CHECK_THAT(appended.out, Catch::Contains("logline-cli: warning: key file '" + exposed +
                                           "' is accessible by group or others"));

  // A 0600 key: no warning at all.
  REQUIRE(::chmod(exposed.c_str(), 0600) == 0);
  auto quiet = process_test::run(scheduler + " --db " + db + " --key " + exposed + " --once 2>&1");
  CHECK(quiet.code == 0);
  CHECK(quiet.out.find("warning") == std::string::npos);
}
