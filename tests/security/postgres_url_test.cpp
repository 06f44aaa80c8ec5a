// PostgreSQL URLs kept off the command line (issue 15, item 8), where every user of the host reads
// them (ps, /proc/PID/cmdline): --postgres-env VAR and --postgres-owner-env VAR take them from
// the environment, libpq takes a password from PGPASSFILE (or ~/.pgpass, PGPASSWORD) for a URL
// without one, and a URL on the command line that holds a password gets a warning.
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <logline/postgres.hpp>

#include "../../tools/common/postgres_url.hpp"
#include "backends/conformance.hpp"
#include "security/secret_files.hpp"
#include "support/catch.hpp"
#include "support/process.hpp"

using namespace std::chrono_literals;
using namespace secret_files;

TEST_CASE("secrets: which PostgreSQL URLs hold a password, as libpq reads them", "[security]") {
  using logline_tools::conninfo_has_password;
  CHECK(conninfo_has_password("postgresql://app:s3cret@db.example/ledger"));
  CHECK(conninfo_has_password("postgres://app:s3cret@db.example:5433/ledger?sslmode=require"));
  CHECK(conninfo_has_password("postgresql://app@db.example/ledger?password=s3cret"));
  CHECK(conninfo_has_password("host=db.example dbname=ledger user=app password=s3cret"));
  CHECK(conninfo_has_password("host=db.example password='with space'"));
  CHECK_FALSE(conninfo_has_password("postgresql://app@db.example/ledger"));
  CHECK_FALSE(
      conninfo_has_password("postgresql://app:@db.example/ledger"));  // empty: nothing to hide
  CHECK_FALSE(conninfo_has_password("host=db.example dbname=ledger user=app"));
  CHECK_FALSE(conninfo_has_password("host=db.example passfile=/run/secrets/pgpass"));
}
TEST_CASE("secrets: --postgres-env VAR, and a warning for a password on the command line",
          "[security][cli]") {
  process_test::sandbox box;
  const std::string key = key_with_mode(box, "k", 0600);
  // Nothing listens on port 1: each run fails to connect, after the checks of its arguments.
  const std::string url = "postgresql://app:s3cret-word@127.0.0.1:1/ledger";
  for (const std::string& program :
       {cli + " export", scheduler + " --key " + key + " --postgres-owner x"}) {
    INFO(program);
    auto warned = process_test::run(program + " --postgres " + sh_quote(url) + " 2>&1");
    CHECK(warned.code == 2);
    CHECK_THAT(warned.out, Catch::Contains("warning: the --postgres URL holds a password") &&
                               Catch::Contains("--postgres-env VAR"));
    CHECK(warned.out.find("s3cret-word") == std::string::npos);

    auto from_env = process_test::run("LOGLINE_POSTGRES_URL=" + sh_quote(url) + " " + program +
                                      " --postgres-env LOGLINE_POSTGRES_URL 2>&1");
    CHECK(from_env.code == 2);
    CHECK_THAT(from_env.out, Catch::Contains("cannot connect to PostgreSQL"));
    CHECK(from_env.out.find("warning") == std::string::npos);
    CHECK(from_env.out.find("s3cret-word") == std::string::npos);

    auto unset = process_test::run("env -u LOGLINE_UNSET_URL " + program +
                                   " --postgres-env LOGLINE_UNSET_URL 2>&1");
    CHECK(unset.code == 2);
    CHECK_THAT(
        unset.out,
        Catch::Contains("--postgres-env: environment variable 'LOGLINE_UNSET_URL' is not set"));
    auto empty = process_test::run("LOGLINE_EMPTY_URL= " + program +
                                   " --postgres-env LOGLINE_EMPTY_URL 2>&1");
    CHECK(empty.code == 2);
    CHECK_THAT(empty.out, Catch::Contains("environment variable 'LOGLINE_EMPTY_URL' is empty"));
    auto both = process_test::run("LOGLINE_POSTGRES_URL=x " + program +
                                  " --postgres x --postgres-env LOGLINE_POSTGRES_URL 2>&1");
    CHECK(both.code == 2);
    CHECK_THAT(both.out, Catch::Contains("give --postgres URL or --postgres-env VAR, not both"));
  }
}

namespace {

// A child process with extra environment variables, its stdout and stderr in files of `dir`.
struct child {
  pid_t pid = -1;
  fs::path out, err;
  child(const fs::path& dir, std::vector<std::string> args,
        const std::vector<std::pair<std::string, std::string>>& env)
      : out(dir / "child.out"), err(dir / "child.err") {
    std::fflush(stdout);
    std::fflush(stderr);
    pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (const auto& [name, value] : env) ::setenv(name.c_str(), value.c_str(), 1);
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(err.c_str(), "w", stderr);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  // Waits up to 60 s for `text` in its stdout (false if it exits or the time runs out first).
  bool wait_for(const std::string& text) {
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (process_test::slurp(out).find(text) != std::string::npos) return true;
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return false;
      }
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  // SIGTERM, then its exit status (-1 if it does not end within 30 s).
  int terminate() {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(50ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
    return -1;
  }
  ~child() { terminate(); }
};

// A login role of logline_app that must give a password: a line for it alone ahead of the test
// cluster's `trust` lines in pg_hba.conf (scram-sha-256), taken out again afterwards.
struct password_role {
  std::unique_ptr<logline::postgres::connection> admin;
  std::string name, password, hba_file, hba_before;

  password_role() {
    std::random_device rd;
    name = "logline_pw_" + std::to_string(rd() % 1000000000u);
    password = "pw-" + std::to_string(rd()) + "-" + std::to_string(rd());
    admin = logline::postgres::connection::open(conformance::pg_env("LOGLINE_TEST_PG_ADMIN_DSN"))
                .value();
    admin->exec("CREATE ROLE " + name + " LOGIN PASSWORD '" + password + "' IN ROLE logline_app")
        .value();
    hba_file = admin->query_once("SHOW hba_file").value().text(0, 0);
    hba_before = process_test::slurp(hba_file);
    REQUIRE_FALSE(hba_before.empty());
    write_hba("host all " + name + " 127.0.0.1/32 scram-sha-256\n" + hba_before);
    // The postmaster reloads on its own time: wait until a wrong password is refused.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (logline::postgres::connection::open(url("wrong")).has_value()) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(50ms);
    }
  }
  ~password_role() {
    write_hba(hba_before);
    (void)admin->exec(
        "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE "
        "usename = '" +
        name + "'");
    (void)admin->exec("DROP ROLE IF EXISTS " + name);
  }
  void write_hba(const std::string& text) {
    {
      std::ofstream f(hba_file, std::ios::trunc);  // in place: the file keeps its owner
      f << text;
    }
    (void)admin->exec("SELECT pg_catalog.pg_reload_conf()");
  }
  // Its connection string (in `schema`), with a password or none.
  std::string url(const std::string& with_password = "", const std::string& schema = "") const {
    std::string dsn = conformance::pg_env("LOGLINE_TEST_PG_ADMIN_DSN");
    dsn = dsn.substr(0, dsn.find("user=")) + "user=" + name;
    if (!with_password.empty()) dsn += " password=" + with_password;
    if (!schema.empty()) dsn += " options=-csearch_path=" + schema;
    return dsn;
  }
  int connections() {
    return std::stoi(std::string(
        admin
            ->query_once("SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE usename = '" +
                         name + "'")
            .value()
            .text(0, 0)));
  }
};

std::string without_nul(std::string s) {
  for (char& c : s)
    if (c == '\0') c = ' ';
  return s;
}

}  // namespace
TEST_CASE(
    "secrets: PostgreSQL URLs from the environment, the password from PGPASSFILE, none in "
    "/proc/PID/cmdline",
    "[postgres][security]") {
  conformance::postgres_schema f;
  password_role role;
  process_test::sandbox box;
  const std::string key = key_with_mode(box, "k", 0600);
  const std::string passfile = (box.dir / "pgpass").string();
  {
    std::ofstream p(passfile);
    p << "*:*:*:" << role.name << ":" << role.password << "\n";
  }
  REQUIRE(::chmod(passfile.c_str(), 0600) == 0);  // libpq ignores a password file others may read
  const std::vector<std::pair<std::string, std::string>> env = {
      {"LOGLINE_POSTGRES_URL", role.url("", f.schema)},
      {"LOGLINE_POSTGRES_OWNER_URL", f.owner_dsn},
      {"PGPASSFILE", passfile}};
  std::string env_prefix;
  for (const auto& [name, value] : env) env_prefix += name + "=" + sh_quote(value) + " ";

  // The CLI appends as the password role, its URL from the environment.
  auto appended =
      process_test::run("echo '{\"entity_type\":\"note\",\"this\":\"x\"}' | " + env_prefix + cli +
                        " append --postgres-env LOGLINE_POSTGRES_URL --postgres-owner-env "
                        "LOGLINE_POSTGRES_OWNER_URL --key " +
                        key + " --user alice --tenant acme 2>&1");
  INFO(appended.out);
  CHECK(appended.code == 0);
  CHECK(appended.out.find("warning") == std::string::npos);

  // The scheduler serves with both URLs from the environment.
  child running(box.dir,
                {scheduler, "--postgres-env", "LOGLINE_POSTGRES_URL", "--postgres-owner-env",
                 "LOGLINE_POSTGRES_OWNER_URL", "--key", key, "--seed"},
                env);
  const bool started = running.wait_for("logline-scheduler: observer_bot every");
  INFO(process_test::slurp(running.out) << process_test::slurp(running.err));
  REQUIRE(started);
  CHECK(role.connections() >= 1);  // it holds a connection as the role that must give a password
  const std::string cmdline =
      without_nul(process_test::slurp("/proc/" + std::to_string(running.pid) + "/cmdline"));
  CHECK_THAT(cmdline, Catch::Contains("--postgres-env LOGLINE_POSTGRES_URL"));
  CHECK(cmdline.find(role.password) == std::string::npos);
  CHECK(cmdline.find(role.name) == std::string::npos);
  CHECK(without_nul(process_test::slurp("/proc/" + std::to_string(running.pid) + "/environ"))
            .find(role.password) == std::string::npos);
  CHECK(running.terminate() == 0);

  // The password was needed: a password file with a wrong one, and the scheduler cannot connect.
  {
    std::ofstream p(passfile, std::ios::trunc);
    p << "*:*:*:" << role.name << ":not-" << role.password << "\n";
  }
  auto refused = process_test::run(env_prefix + scheduler +
                                   " --postgres-env LOGLINE_POSTGRES_URL --postgres-owner-env "
                                   "LOGLINE_POSTGRES_OWNER_URL --key " +
                                   key + " --once 2>&1");
  CHECK(refused.code == 2);
  CHECK_THAT(refused.out, Catch::Contains("password authentication failed"));
}
