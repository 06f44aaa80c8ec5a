// logline-server: LogLineOS's HTTP API over a ledger of universal spans (DESIGN §8).
//
//   logline-server [--db FILE | --postgres URL [--postgres-owner URL]] [--host H] [--port N] [--key FILE]
//                  [--demo-token] [--cors ORIGIN] [--rate R] [--tls-cert F --tls-key F] [--quiet]
//                  [--max-connections N] [--max-connections-per-address N] [--request-deadline S]
//                  [--max-streams N] [--max-streams-per-token N] [--max-stream-catchups N] [--max-body BYTES]
//                  [--allow-readable-key]
//                  (--postgres-env VAR / --postgres-owner-env VAR: the URL from an environment variable)
//                  [--with-scheduler [--runtime-every S] [--policy-every S] [runtime flags]]
//                  (runtime flags: --worker-lanes, --policy-lanes, --lease-margin, --runtime-nice,
//                  --provider-*, as logline-scheduler's: tools/common/runtime_flags.hpp)
//
// Defaults: --db logline.db, 127.0.0.1:8080, a signing key from --key, $LOGLINE_SIGNING_KEY or,
// failing both, a new key for this run. --demo-token issues a token (user demo, tenant demo, every
// scope) and prints it. --with-scheduler runs the LogLineOS runtime beside the API (observer_bot
// and request_worker every 10 s, or every S seconds: what /api/execute enqueues gets executed;
// policy_agent every 30 s; the midnight ruler at 00:00 Europe/Paris; seed the ledger first
// with `logline-cli seed`). SIGTERM / SIGINT: open streams end, in-flight requests finish, the
// running kernels finish, exit 0.
//
// PostgreSQL: --postgres is the application role (a member of logline_app), under row-level
// security: the server refuses to start (exit 2) when that role owns the table, is a superuser
// or has BYPASSRLS. --postgres-owner is the role that owns the tables: migrations, and the
// runtime's reads of every tenant and writes with the operator's rights (required with
// --with-scheduler). docs/security.md shows the setup.
#include <signal.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <logline/http/server.hpp>
#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/runtime/node.hpp>
#include <logline/sqlite.hpp>

#include "../common/application_role.hpp"
#include "../common/ledger_on.hpp"
#include "../common/database_file.hpp"
#include "../common/help_and_version.hpp"
#include "../common/ledger_flags.hpp"
#include "../common/postgres_url.hpp"
#include "../common/runtime_flags.hpp"
#include "../common/signing_key.hpp"

namespace {

using logline_tools::ledger_on;

std::atomic<bool> stop_requested{false};
extern "C" void on_signal(int) { stop_requested = true; }

struct config : logline_tools::ledger_flags {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::optional<std::string> tls_cert, tls_key, cors;
  bool demo_token = false, quiet = false, with_scheduler = false;
  long runtime_every = 10, policy_every = 30;
  logline_tools::runtime_flags runtime;
  logline::http::connection_limits limits{};
  std::size_t max_streams = logline::http::server_options{}.max_streams;
  std::size_t max_streams_per_token = logline::http::server_options{}.max_streams_per_token;
  std::size_t max_stream_catchups = logline::http::server_options{}.max_stream_catchups;
  std::size_t max_body = logline::http::server_options{}.max_body_bytes;
  double rate = 200;  // requests per second per token (burst: twice that)
};

std::string usage_text() {
  std::ostringstream s;
  s << "usage: logline-server [--db FILE | --postgres URL [--postgres-owner URL]] [--host H] "
       "[--port N] [--key FILE] [--demo-token]\n"
       "                      [--cors ORIGIN] [--rate R] [--tls-cert FILE --tls-key FILE] "
       "[--quiet]\n"
       "                      [--max-connections N] [--max-connections-per-address N] "
       "[--request-deadline S]\n"
       "                      [--max-streams N] [--max-streams-per-token N] [--max-stream-catchups "
       "N] [--max-body BYTES]\n"
       "                      [--allow-readable-key]\n"
       "       (--postgres-env VAR, --postgres-owner-env VAR: the URL in environment variable "
       "VAR)\n"
       "                      [--with-scheduler [--runtime-every S] [--policy-every S] [runtime "
       "flags]]\n"
       "       runtime flags: "
    << logline_tools::runtime_flags::synopsis << "\n";
  s << "       logline-server --help | --version\n";
  return s.str();
}

// A bad argument: the problem and the usage on stderr, exit 2.
[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "logline-server: " << problem << "\n" << usage_text();
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
    auto count = [&](std::size_t lo, std::size_t hi) -> std::size_t {
      const std::string v = value();
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec != std::errc() || end != v.data() + v.size() || n < lo || n > hi)
        usage(a + " must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
      return n;
    };
    if (c.ledger_flags::parse(a, value))
      continue;
    else if (a == "--host")
      c.host = value();
    else if (a == "--port")
      c.port = std::atoi(value().c_str());
    else if (a == "--tls-cert")
      c.tls_cert = value();
    else if (a == "--tls-key")
      c.tls_key = value();
    else if (a == "--cors")
      c.cors = value();
    else if (a == "--max-connections")
      c.limits.max_connections = count(1, 100000);
    else if (a == "--max-connections-per-address")
      c.limits.max_connections_per_address = count(1, 100000);
    else if (a == "--request-deadline")
      c.limits.request_deadline = std::chrono::seconds(count(1, 3600));
    else if (a == "--max-streams")
      c.max_streams = count(0, 100000);
    else if (a == "--max-streams-per-token")
      c.max_streams_per_token = count(0, 100000);
    else if (a == "--max-stream-catchups")
      c.max_stream_catchups = count(1, 1000);
    else if (a == "--max-body")
      c.max_body = count(1, std::size_t(1) << 30);
    else if (a == "--rate")
      c.rate = std::atof(value().c_str());
    else if (a == "--demo-token")
      c.demo_token = true;
    else if (a == "--quiet")
      c.quiet = true;
    else if (a == "--with-scheduler")
      c.with_scheduler = true;
    else if (a == "--runtime-every")
      c.runtime_every = std::atol(value().c_str());
    else if (a == "--policy-every")
      c.policy_every = std::atol(value().c_str());
    else if (c.runtime.parse(a, value, usage))
      continue;
    else if (!logline_tools::answer_help_or_version(a, "logline-server", usage_text))
      usage("unknown argument '" + a + "'");
  }
  if (c.port < 0 || c.port > 65535) usage("--port must be in 0..65535");
  if (c.max_streams >= c.limits.max_connections)
    usage(
        "--max-streams must be below --max-connections (streams must leave connections for "
        "requests)");
  if (!(c.rate > 0)) usage("--rate must be a positive number of requests per second");
  if (c.runtime_every < 1 || c.runtime_every > 86400)
    usage("--runtime-every must be a number of seconds in 1..86400");
  if (c.policy_every < 1 || c.policy_every > 86400)
    usage("--policy-every must be a number of seconds in 1..86400");
  if (c.tls_cert.has_value() != c.tls_key.has_value())
    usage("--tls-cert and --tls-key go together");
  c.resolve_urls("logline-server", usage);
  if (c.postgres_owner && !c.postgres) usage("--postgres-owner goes with --postgres");
  if (c.postgres && c.with_scheduler && !c.postgres_owner)
    usage(
        "--with-scheduler on PostgreSQL needs --postgres-owner URL (the runtime reads every "
        "tenant's feed and writes with the operator's rights)");
  return c;
}

template <class Ledger, class Database>
int serve(const config& c, const logline::ed25519::key& key, Database& db,
          std::function<void()> on_tick) {
  Ledger ledger(db, {.identity = logline::http::token_admin, .signing_key = key});
  logline_tools::refuse_unfit_application_role("logline-server", ledger);
  logline::http::server_options o;
  o.cors_origin = c.cors;
  o.rate_per_second = c.rate;
  o.rate_burst = 2 * c.rate;
  o.max_streams = c.max_streams;
  o.max_streams_per_token = c.max_streams_per_token;
  o.max_stream_catchups = c.max_stream_catchups;
  o.max_body_bytes = c.max_body;
  if (!c.quiet)
    o.access_log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  logline::http::api<Ledger> api(ledger, o);

  std::optional<logline::http::tls_files> tls;
  if (c.tls_cert) tls = logline::http::tls_files{*c.tls_cert, *c.tls_key};
  auto svr = std::make_unique<logline::http::server>(c.limits, tls);
  if (!svr->is_valid()) {
    std::cerr << "logline-server: cannot load the TLS certificate or key\n";
    return 2;
  }
  api.mount(*svr);

  const int port = logline::http::bind_exclusive(*svr, c.host, c.port);
  if (port < 0) {
    std::cerr << "logline-server: cannot listen on " << c.host << ":" << c.port
              << " (in use, or not an IPv4 address)\n";
    return 2;
  }
  const std::string url =
      std::string(c.tls_cert ? "https" : "http") + "://" + c.host + ":" + std::to_string(port);
  if (c.demo_token) {
    const std::string token = logline::http::generate_token();
    const std::set<std::string> scopes(std::begin(logline::http::all_scopes),
                                       std::end(logline::http::all_scopes));
    auto issued = ledger.append(logline::http::token_span(token, {"demo", "demo"}, scopes, "demo"));
    if (!issued) {
      std::cerr << "logline-server: cannot issue the demo token: " << issued.error().message()
                << "\n";
      return 2;
    }
    std::cout << "demo token (user demo, tenant demo, every scope): " << token << "\n\n"
              << "  curl -s -H 'Authorization: Bearer " << token
              << "' -H 'Content-Type: application/json' \\\n"
              << "       -d '{\"entity_type\":\"note\",\"who\":\"demo\",\"this\":\"hello\"}' "
              << url << "/api/spans\n"
              << "  curl -s -H 'Authorization: Bearer " << token << "' '" << url
              << "/api/timeline?limit=5'\n"
              << "  curl -sN -H 'Authorization: Bearer " << token << "' " << url
              << "/api/timeline/stream\n"
              << std::endl;
  }

  std::unique_ptr<logline::runtime::node<Ledger>> runtime;
  if (c.with_scheduler) {
    typename logline::runtime::node<Ledger>::options ro;
    ro.observer_every = ro.worker_every = std::chrono::seconds(c.runtime_every);
    ro.policy_every = std::chrono::seconds(c.policy_every);
    c.runtime.apply(ro);
    runtime = std::make_unique<logline::runtime::node<Ledger>>(ledger, ro);
    runtime->start();
    std::cout << "runtime: observer_bot and request_worker every " << c.runtime_every
              << " s, policy_agent every " << c.policy_every
              << " s, the midnight ruler at 00:00 Europe/Paris" << std::endl;
  }
  std::cout << "logline-server listening on " << url << " ("
            << (c.postgres ? "PostgreSQL" : "SQLite " + c.db) << ")" << std::endl;
  std::thread stopper([&] {
    while (!stop_requested) {
      if (on_tick)
        on_tick();
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    api.stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(600));  // streams see the flag and end
    svr->stop();
  });
  const bool ok = svr->listen_after_bind();
  stop_requested = true;
  stopper.join();
  if (runtime) runtime->stop();
  if (!c.quiet) std::cerr << "logline-server: stopped\n";
  return ok || stop_requested ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const config c = parse(argc, argv);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // The key first: a refused key file leaves no new database behind.
  const auto key =
      logline_tools::signing_key("logline-server", c.key_file, true,
                                 c.allow_readable_key ? logline_tools::readable_key::warn
                                                      : logline_tools::readable_key::refuse);
  try {
    if (c.postgres) {
      auto db = logline::postgres::database::open(*c.postgres,
                                                  {.pool_size = 16, .owner = c.postgres_owner});
      if (!db) usage(db.error().message());
      // Commits of other processes reach the streams through LISTEN/NOTIFY.
      auto listener = logline::postgres::listener::open(*c.postgres);
      if (!listener) usage(listener.error().message());
      auto& database = **db;
      return serve<ledger_on<logline::postgres::backend>>(c, key, database, [&] {
        auto woke = (*listener)->wait(std::chrono::milliseconds(200));
        if (woke && *woke) database.notify_commit();
      });
    }
    // Smaller, more frequent WAL checkpoints than the library's default: the commit that crosses
    // the threshold runs the checkpoint, and a server's clients wait on it (decision 25).
    logline_tools::warn_if_world_accessible("logline-server", c.db);
    auto db = logline::sqlite::database::open(c.db, {.wal_autocheckpoint_pages = 1000});
    if (!db) usage(db.error().message());
    return serve<ledger_on<logline::sqlite::backend>>(c, key, **db, {});
  } catch (const std::exception& e) {
    std::cerr << "logline-server: " << e.what() << "\n";
    return 2;
  }
}
