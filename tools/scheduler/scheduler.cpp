// logline-scheduler: the LogLineOS runtime on its own (DESIGN §7): Stage-0 with the built-in
// kernels, and a scheduler booting observer_bot, request_worker and policy_agent (and the
// midnight ruler), over a SQLite file or PostgreSQL. Functions with status "scheduled" and requests from POST /api/execute get executed.
//
//   logline-scheduler [--db FILE | --postgres URL --postgres-owner URL] [--key FILE [--allow-readable-key]]
//                     [--seed] [--observer-every S] [--worker-every S] [--policy-every S] [--once]
//                     [--worker-lanes N] [--policy-lanes N] [--lease-margin S] [--runtime-nice N]
//                     [--provider-credential NAME[=ENV]@HOST[,HOST...]] [--provider-private HOST[:PORT]]
//                     [--provider-http-key-host HOST[:PORT]] [--provider-allow-host HOST[:PORT]]
//                     (these runtime flags: tools/common/runtime_flags.hpp, shared with logline-server)
//
// --worker-lanes / --policy-lanes (default 2): requests / policies run at once, one tenant's on
// one lane at a time (keep below the PostgreSQL pool size, 4 here). --runtime-nice (default 10):
// the nice value of the runtime's threads (0: the process's own). The --provider-* options
// are provider_exec's operator configuration (egress.hpp, docs/runtime.md), each repeatable: a
// credential a provider span may name in auth_env (the key in $ENV, default $NAME) and the
// hosts it may be sent to; a destination allowed to be loopback or private; one a key may reach
// over plain http; and, when any --provider-allow-host is given, the only destinations.
//
// --key FILE (or $LOGLINE_SIGNING_KEY) signs the spans the runtime appends; it is required. A
// key file that group or others may access is refused (exit 2), unless --allow-readable-key
// (then a warning). --postgres-env VAR and --postgres-owner-env VAR take a URL from the
// environment instead of the command line, where every user of the host can read it (ps).
// --seed appends the LogLineOS manifest and kernel spans first (as `logline-cli seed`; the key
// becomes the manifest's override key), nothing if they exist. --once boots the observer, the
// worker and the policy agent once each and exits (for cron or tests). On PostgreSQL, --postgres
// is the application role (user code reads under row-level security: the scheduler refuses a
// role that owns the table, is a superuser or has BYPASSRLS, exit 2) and --postgres-owner the
// role that owns the tables (the kernels read every tenant's feed). SIGTERM / SIGINT: the running kernels finish,
// exit 0. Exit 2 on bad arguments or a database that cannot be opened.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/runtime/node.hpp>
#include <logline/sqlite.hpp>

#include "../common/application_role.hpp"
#include "../common/database_file.hpp"
#include "../common/help_and_version.hpp"
#include "../common/ledger_flags.hpp"
#include "../common/ledger_on.hpp"
#include "../common/postgres_url.hpp"
#include "../common/runtime_flags.hpp"
#include "../common/signing_key.hpp"

namespace {

using logline_tools::ledger_on;

std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested = true; }

struct config : logline_tools::ledger_flags {
  bool seed = false, once = false;
  long observer_every = 10, worker_every = 10, policy_every = 30;
  logline_tools::runtime_flags runtime;
};

std::string usage_text() {
  std::ostringstream s;
  s << "usage: logline-scheduler [--db FILE | --postgres URL --postgres-owner URL] [--key FILE "
       "[--allow-readable-key]] [--seed]\n"
       "                         [--observer-every S] [--worker-every S] [--policy-every S] "
       "[--once]\n"
       "                         "
    << logline_tools::runtime_flags::synopsis
    << "\n"
       "       (--postgres-env VAR, --postgres-owner-env VAR: the URL in environment variable "
       "VAR)\n";
  s << "       logline-scheduler --help | --version\n";
  return s.str();
}

// A bad argument: the problem and the usage on stderr, exit 2.
[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "logline-scheduler: " << problem << "\n" << usage_text();
  std::exit(2);
}

config parse(int argc, char** argv) {
  config c;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value after " + a);
      return argv[++i];
    };
    auto seconds = [&]() {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 86400)
        usage(a + " must be a whole number of seconds in 1..86400");
      return n;
    };
    if (c.ledger_flags::parse(a, value))
      continue;
    else if (a == "--seed")
      c.seed = true;
    else if (a == "--once")
      c.once = true;
    else if (a == "--observer-every")
      c.observer_every = seconds();
    else if (a == "--worker-every")
      c.worker_every = seconds();
    else if (a == "--policy-every")
      c.policy_every = seconds();
    else if (c.runtime.parse(a, value, usage))
      continue;
    else if (!logline_tools::answer_help_or_version(a, "logline-scheduler", usage_text))
      usage("unknown argument '" + a + "'");
  }
  c.resolve_urls("logline-scheduler", usage);
  if (c.db_given && c.postgres) usage("give one of --db FILE or --postgres URL");
  if (c.postgres.has_value() != c.postgres_owner.has_value())
    usage("--postgres URL and --postgres-owner URL go together");
  return c;
}

template <class Ledger, class Database>
int run(const config& c, Database& db, const logline::ed25519::key& key) {
  Ledger ledger(db, {.identity = {"logline", std::nullopt}, .signing_key = key});
  logline_tools::refuse_unfit_application_role("logline-scheduler", ledger);
  if (c.seed) {
    auto seeded = logline::runtime::seed(ledger);
    if (!seeded) usage("seed: " + seeded.error().message());
    std::cout << "seeded: " << *seeded << " spans appended" << std::endl;
  }
  typename logline::runtime::node<Ledger>::options o;
  o.observer_every = std::chrono::seconds(c.observer_every);
  o.worker_every = std::chrono::seconds(c.worker_every);
  o.policy_every = std::chrono::seconds(c.policy_every);
  c.runtime.apply(o);
  logline::runtime::node<Ledger> node(ledger, o);
  if (c.once) {
    int failures = 0;
    for (const auto& kernel :
         {logline::runtime::ids::observer_bot, logline::runtime::ids::request_worker,
          logline::runtime::ids::policy_agent}) {
      auto e = node.boot(kernel);
      if (!e) {
        std::cerr << "logline-scheduler: " << kernel.to_string() << ": " << e.error().message()
                  << "\n";
        ++failures;
      } else {
        std::cout << e->this_ << ": " << e->status.value_or("") << " "
                  << (e->output ? e->output->dump() : e->error.value_or(nullptr).dump())
                  << std::endl;
        if (e->status != "complete") ++failures;
      }
    }
    return failures == 0 ? 0 : 1;
  }
  node.start();
  std::cout << "logline-scheduler: observer_bot every " << c.observer_every
            << " s, request_worker every " << c.worker_every << " s, policy_agent every "
            << c.policy_every << " s (" << (c.postgres ? "PostgreSQL" : "SQLite " + c.db) << ")"
            << std::endl;
  while (!stop_requested) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  node.stop();
  std::cerr << "logline-scheduler: stopped\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const config c = parse(argc, argv);
  // The key before the database: a key that is refused leaves no new database file behind.
  const auto key =
      logline_tools::signing_key("logline-scheduler", c.key_file, false,
                                 c.allow_readable_key ? logline_tools::readable_key::warn
                                                      : logline_tools::readable_key::refuse);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  try {
    if (c.postgres) {
      auto db = logline::postgres::database::open(*c.postgres,
                                                  {.pool_size = 4, .owner = *c.postgres_owner});
      if (!db) usage(db.error().message());
      return run<ledger_on<logline::postgres::backend>>(c, **db, key);
    }
    logline_tools::warn_if_world_accessible("logline-scheduler", c.db);
    auto db = logline::sqlite::database::open(c.db);
    if (!db) usage(db.error().message());
    return run<ledger_on<logline::sqlite::backend>>(c, **db, key);
  } catch (const std::exception& e) {
    std::cerr << "logline-scheduler: " << e.what() << "\n";
    return 2;
  }
}
