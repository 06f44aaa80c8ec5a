// Crash consistency on SQLite: logline-server or logline-scheduler killed with SIGKILL at random
// moments while clients append, batch and execute (security/crash_fixture.hpp says what is
// checked afterwards). The PostgreSQL cases are in postgres_crash_test.cpp.
#include "security/crash_fixture.hpp"

using namespace crash_test;

TEST_CASE(
    "crash: kill -9 logline-server (SQLite) under load, restart on the same port at once, lose "
    "nothing",
    "[security][crash]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string();
  crash_and_check(box, "sqlite", {"--db", db}, "--db " + db, 8);
}

TEST_CASE("crash: kill -9 logline-scheduler (SQLite) under load, beside a server that stays up",
          "[security][crash]") {
  sandbox box;
  const std::string db = (box.dir / "ledger.db").string();
  crash_and_check(box, "sqlite, scheduler killed", {"--db", db}, "--db " + db, 6,
                  victim::scheduler);
}
