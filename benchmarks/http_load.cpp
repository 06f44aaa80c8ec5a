// HTTP load on loopback (DESIGN §9): a logline::http server in this process on a SQLite ledger
// (or PostgreSQL with --postgres URL), driven by client threads of this process.
//
//   build/bin/http_load [--seconds S] [--connections C] [--batch B] [--subscribers N] [--rate R]
//                       [--wal-pages P] [--postgres URL] [--hostile KINDS] [--code-cpu idle|shared]
//
//   1. POST /api/spans, batches of B spans, C connections for S seconds: appends/s, request p50/p99
//   2. GET /api/timeline?limit=50, C connections for S seconds: requests/s, p50/p99
//   (1 and 2 as fast as the server answers: each connection sends its next request when the last
//   one is answered. Then, at a fixed rate of R requests/s spread over the C connections, open
//   loop, each latency counted from the moment its request was due, so a stalled server is not
//   hidden by requests that were never sent: POST of one span, and GET /api/timeline?limit=50.)
//   3. The paced requests of 2 again, beside the hostile mix (--hostile 0 skips it; --hostile
//      idle,streams,uploads,bomb runs only the kinds named, to see what each costs): 80 idle
//      connections trickling a header line every 3 s (reconnecting when cut off), 100 streams of
//      one token (reopened every second when refused), an unauthenticated chunked upload of
//      1000 MiB (repeated), and a tenant whose Lua function is a pattern bomb, run by the
//      runtime (a node in this process, with the request worker every second; it runs during
//      the paced phases of 2 as well, so that the runtime's own work is in the baseline; its
//      tenants' code in the SCHED_IDLE class unless --code-cpu shared). The normal clients'
//      p50/p99 with and without it, what the bomb got, and the server's growth (RSS) under it.
//   4. SSE fan-out: N subscribers on /api/timeline/stream (ten per token, as many tokens as that
//      takes); one writer appends a span every 50 ms for S seconds; delivery latency (receipt -
//      the span's `at`) p50/p99 over every delivery, and whether every subscriber got every span.
// Clients come from distinct loopback addresses (127.0.0.0/8): the normal clients from
// 127.0.0.1, each hostile kind from its own, subscribers spread over 127.0.1.x, so the server's
// per-address caps see what they would see on a network.
// `make load` runs it with the defaults (S=10, C=64, B=100, N=1000). Results on stdout as JSON.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <logline/http/server.hpp>
#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/runtime/node.hpp>
#include <logline/sqlite.hpp>

namespace {

using clock_type = std::chrono::steady_clock;

struct settings {
  int seconds = 10, connections = 64, batch = 100, subscribers = 1000;
  std::set<std::string> hostile{"idle", "streams", "uploads", "bomb"};  // the kinds of step 3
  double rate = 1500;
  int wal_pages =
      1000;  // SQLite: WAL checkpoint threshold (logline-server's 1000; the library's default is 10000)
  std::optional<std::string> postgres;
  bool code_idle_cpu = true;  // the runtime's node::options::code_idle_cpu
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

std::string span_json(int i) {
  return R"({"entity_type":"load","this":"span )" + std::to_string(i) +
         R"(","visibility":"tenant","metadata":{"amount":12.5,"currency":"EUR","i":)" +
         std::to_string(i) + "}}";
}

// Connects a client's sockets from `source` (a loopback address of its own).
void from_address(httplib::Client& c, std::string source) {
  c.set_socket_options([source](int fd) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    ::inet_pton(AF_INET, source.c_str(), &a.sin_addr);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) std::perror("http_load: bind");
  });
}
int raw_connect(int port, const char* source) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, source, &a.sin_addr);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}
long rss_kib() {
  std::FILE* f = std::fopen("/proc/self/status", "r");
  char line[256];
  long kib = 0;
  while (f && std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "VmRSS: %ld", &kib) == 1) break;
  if (f) std::fclose(f);
  return kib;
}

// The hostile mix of step 3, on threads of its own until stop().
struct hostile_mix {
  std::atomic<bool> stopping{false};
  std::atomic<long> idle_cut{0}, streams_open{0}, streams_refused{0}, uploads{0}, upload_bytes{0},
      most_streams_open{0};
  std::vector<std::thread> threads;

  void start(int port, const std::string& flood_token, const std::set<std::string>& kinds) {
    // 80 idle connections, a header line every 3 s; a cut-off connection is replaced.
    if (kinds.count("idle"))
      threads.emplace_back([this, port] {
        std::vector<int> fds(80, -1);
        while (!stopping) {
          for (int& fd : fds) {
            if (fd >= 0 && ::send(fd, "X-Idle: 1\r\n", 11, MSG_NOSIGNAL) != 11) {
              ::close(fd);
              fd = -1;
              ++idle_cut;
            }
            if (fd < 0 && (fd = raw_connect(port, "127.0.0.2")) >= 0)
              ::send(fd, "GET /health HTTP/1.1\r\n", 22, MSG_NOSIGNAL);
          }
          for (int i = 0; i < 30 && !stopping; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        for (int fd : fds)
          if (fd >= 0) ::close(fd);
      });
    // 100 streams of one token.
    for (int i = 0; i < 100 && kinds.count("streams"); ++i)
      threads.emplace_back([this, port, flood_token] {
        while (!stopping) {
          httplib::Client c("127.0.0.1", port);
          from_address(c, "127.0.0.3");
          bool counted = false;
          int status = 0;
          c.Get(
              "/api/timeline/stream", {{"Authorization", "Bearer " + flood_token}},
              [&](const httplib::Response& r) {
                status = r.status;
                if (status == 200) {
                  counted = true;
                  const long n = ++streams_open;
                  for (long m = most_streams_open.load();
                       n > m && !most_streams_open.compare_exchange_weak(m, n);) {
                  }
                }
                return status == 200;
              },
              [&](const char*, std::size_t) { return !stopping; });
          if (counted)
            --streams_open;
          else if (status == 429 || status == 503)
            ++streams_refused;
          for (int k = 0; k < 10 && !stopping; ++k)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
    // An unauthenticated chunked upload of 1000 MiB, again five times a second.
    if (kinds.count("uploads"))
      threads.emplace_back([this, port] {
        const std::string piece = [] {
          std::string data(64 * 1024, 'a');
          char size[16];
          std::snprintf(size, sizeof size, "%zx\r\n", data.size());
          return size + data + "\r\n";
        }();
        while (!stopping) {
          const int fd = raw_connect(port, "127.0.0.4");
          if (fd < 0) break;
          const std::string head =
              "POST /api/spans HTTP/1.1\r\nHost: x\r\nContent-Type: "
              "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
          ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
          ++uploads;
          for (int i = 0; i < 16000 && !stopping; ++i) {
            const ssize_t n = ::send(fd, piece.data(), piece.size(), MSG_NOSIGNAL);
            if (n <= 0) break;
            upload_bytes += n;
          }
          ::close(fd);
          for (int k = 0; k < 2 && !stopping; ++k)
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      });
  }
  void stop() {
    stopping = true;
    for (auto& t : threads) t.join();
    threads.clear();
  }
};

template <class Ledger, class Database>
int run(const settings& s, Database& db) {
  Ledger ledger(db, {.identity = logline::http::token_admin,
                     .signing_key = logline::ed25519::key::generate()});
  logline::http::server_options o;
  o.rate_per_second = 1e9;
  o.rate_burst = 1e9;
  logline::http::api<Ledger> api(ledger, o);
  const std::string token = logline::http::generate_token();
  const std::set<std::string> scopes{"admin"};
  ledger.append(logline::http::token_span(token, {"load", "load"}, scopes)).value();
  api.tokens().reload().value();
  logline::http::server svr;
  api.mount(svr);
  const int port = logline::http::bind_exclusive(svr, "127.0.0.1", 0);
  std::thread server([&] { svr.listen_after_bind(); });
  while (!svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const httplib::Headers auth{{"Authorization", "Bearer " + token}};

  // rate > 0: connection c sends request i at start + (i * C + c) / rate (open loop).
  auto hammer = [&](auto&& request, const char* what, int items_per_request, double rate = 0) {
    std::mutex m;
    std::vector<double> latencies;
    std::atomic<long> ok{0}, failed{0};
    const auto end = clock_type::now() + std::chrono::seconds(s.seconds);
    std::vector<std::thread> threads;
    for (int c = 0; c < s.connections; ++c)
      threads.emplace_back([&, c] {
        httplib::Client cl("127.0.0.1", port);
        from_address(cl, "127.0.0.1");
        cl.set_keep_alive(true);
        cl.set_tcp_nodelay(true);
        std::vector<double> mine;
        int i = 0;
        const auto start = clock_type::now();
        while (clock_type::now() < end) {
          auto t0 = clock_type::now();
          if (rate > 0) {
            const auto due = start + std::chrono::duration_cast<clock_type::duration>(
                                         std::chrono::duration<double>(
                                             (static_cast<double>(i) * s.connections + c) / rate));
            if (due >= end) break;
            std::this_thread::sleep_until(due);
            t0 = due;
          }
          const bool good = request(cl, c, i++);
          mine.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - t0).count());
          (good ? ok : failed)++;
        }
        std::lock_guard lock(m);
        latencies.insert(latencies.end(), mine.begin(), mine.end());
      });
    for (auto& t : threads) t.join();
    const double per_second = static_cast<double>(ok.load()) * items_per_request / s.seconds;
    std::printf(
        "  \"%s\": {\"connections\": %d, \"offered_per_second\": %.0f, \"requests\": %ld, "
        "\"failed\": %ld, \"items_per_second\": %.0f, \"p50_ms\": %.2f, "
        "\"p99_ms\": %.2f, \"max_ms\": %.2f},\n",
        what, s.connections, rate, ok.load(), failed.load(), per_second, percentile(latencies, 0.5),
        percentile(latencies, 0.99), percentile(latencies, 1.0));
    std::fflush(stdout);
  };

  std::printf("{\n  \"backend\": \"%s\",\n", s.postgres ? "postgres" : "sqlite");
  hammer(
      [&](httplib::Client& cl, int c, int i) {
        std::string body = "[";
        for (int k = 0; k < s.batch; ++k)
          body += (k ? "," : "") + span_json(c * 1000000 + i * s.batch + k);
        body += "]";
        auto r = cl.Post("/api/spans", auth, body, "application/json");
        return r && r->status == 201;
      },
      "post_batch", s.batch);
  hammer(
      [&](httplib::Client& cl, int, int) {
        auto r = cl.Get("/api/timeline?limit=50", auth);
        return r && r->status == 200;
      },
      "get_timeline", 1);

  // With the hostile mix, the paced phases run with and without it beside the runtime, as
  // logline-server --with-scheduler runs it: seeded, caught up with the feed (one boot of each
  // kernel, which reads everything appended so far), then on its schedule. Its own work is part
  // of the baseline; the mix adds a tenant whose function is a pattern bomb.
  std::optional<logline::runtime::node<Ledger>> node;
  if (!s.hostile.empty() && s.rate > 0) {
    logline::runtime::seed(ledger).value();
    typename logline::runtime::node<Ledger>::options ro;
    ro.observer_every = ro.worker_every = std::chrono::seconds(1);
    ro.code_idle_cpu = s.code_idle_cpu;
    node.emplace(ledger, ro);
    for (const auto& kernel :
         {logline::runtime::ids::observer_bot, logline::runtime::ids::request_worker,
          logline::runtime::ids::policy_agent})
      node->boot(kernel).value();
    node->start();
  }

  if (s.rate > 0) {
    hammer(
        [&](httplib::Client& cl, int c, int i) {
          auto r = cl.Post("/api/spans", auth, span_json(2000000000 + c * 100000 + i),
                           "application/json");
          return r && r->status == 201;
        },
        "post_one_paced", 1, s.rate);
    hammer(
        [&](httplib::Client& cl, int, int) {
          auto r = cl.Get("/api/timeline?limit=50", auth);
          return r && r->status == 200;
        },
        "get_timeline_paced", 1, s.rate);
  }

  if (!s.hostile.empty() && s.rate > 0) {
    // A tenant whose function is a pattern bomb (executed again and again).
    const std::string flood = logline::http::generate_token();
    ledger
        .append(logline::http::token_span(flood, {"mallory", "globex"},
                                          {"spans:read", "spans:write", "execute"}))
        .value();
    api.tokens().reload().value();
    httplib::Client bomber("127.0.0.1", port);
    from_address(bomber, "127.0.0.5");
    const httplib::Headers mallory{{"Authorization", "Bearer " + flood}};
    auto fn =
        logline::parse_json(
            bomber
                .Post(
                    "/api/spans", mallory,
                    R"J({"entity_type":"function","this":"bomb","language":"lua","code":"return (\"a\"):rep(2000):find(\".-.-b\")"})J",
                    "application/json")
                ->body)
            .value();
    const std::string bomb_id = fn["id"].get<std::string>();
    hostile_mix mix;
    const long rss_before = rss_kib();
    mix.start(port, flood, s.hostile);
    std::atomic<bool> bombing{s.hostile.count("bomb") > 0};
    std::thread bombs([&] {
      while (bombing) {
        bomber.Post("/api/execute", mallory, R"({"span_id":")" + bomb_id + "\"}",
                    "application/json");
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    });
    std::this_thread::sleep_for(std::chrono::seconds(2));  // the mix in full swing
    hammer(
        [&](httplib::Client& cl, int c, int i) {
          auto r = cl.Post("/api/spans", auth, span_json(2100000000 + c * 100000 + i),
                           "application/json");
          return r && r->status == 201;
        },
        "post_one_paced_hostile", 1, s.rate);
    hammer(
        [&](httplib::Client& cl, int, int) {
          auto r = cl.Get("/api/timeline?limit=50", auth);
          return r && r->status == 200;
        },
        "get_timeline_paced_hostile", 1, s.rate);
    const long rss_during = rss_kib();
    bombing = false;
    bombs.join();
    mix.stop();
    node->stop();
    // What the bomb got: its requests, and those that ran to the time limit (the rest waited
    // their turn: one lane per tenant).
    long bomb_requests = 0, bomb_timeouts = 0;
    logline::timeline_query q;
    q.entity_type = "request";
    q.parent_id = logline::uuid::parse(bomb_id).value();
    q.limit = logline::timeline_query::max_limit;
    for (auto page = ledger.as_operator().timeline(q); page;
         page = ledger.as_operator().timeline(q)) {
      for (const auto& r : page->spans) {
        if (r.seq == 1) ++bomb_requests;
        if (r.status == "error" && r.error && (*r.error).value("code", "") == "limit_exceeded")
          ++bomb_timeouts;
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    std::printf(
        "  \"hostile\": {\"idle_connections_cut\": %ld, \"flood_streams_most_open\": %ld, "
        "\"flood_streams_refused\": %ld, \"uploads\": %ld, \"upload_mib_sent\": %ld, "
        "\"bomb_requests\": %ld, \"bomb_runs_to_limit\": %ld, \"rss_before_mib\": %ld, "
        "\"rss_during_mib\": %ld},\n",
        mix.idle_cut.load(), mix.most_streams_open.load(), mix.streams_refused.load(),
        mix.uploads.load(), mix.upload_bytes.load() >> 20, bomb_requests, bomb_timeouts,
        rss_before >> 10, rss_during >> 10);
    std::fflush(stdout);
  }

  // SSE fan-out.
  std::atomic<int> connected{0};
  std::atomic<bool> stop{false};
  std::mutex m;
  std::vector<double> delivery;
  std::vector<int> received(static_cast<std::size_t>(s.subscribers), 0);
  std::map<std::string, int> errors;  // subscribers that never got a byte, by client error
  std::vector<std::thread> subs;
  // Start after everything appended so far (resume from the current end of the feed).
  std::string start_cursor;
  for (;;) {
    auto page = ledger.as_operator().changes(start_cursor, 5000).value();
    if (page.empty()) break;
    start_cursor = page.back().cursor;
  }
  // Ten streams per token (the server allows 16), from 127.0.1.1 .. (200 per address).
  std::vector<httplib::Headers> sub_auth;
  for (int i = 0; i < s.subscribers; i += 10) {
    const std::string t = logline::http::generate_token();
    ledger.append(logline::http::token_span(t, {"load", "load"}, {"spans:read"})).value();
    sub_auth.push_back({{"Authorization", "Bearer " + t}});
  }
  api.tokens().reload().value();
  for (int i = 0; i < s.subscribers; ++i)
    subs.emplace_back([&, i] {
      httplib::Client cl("127.0.0.1", port);
      from_address(cl, "127.0.1." + std::to_string(i / 200 + 1));
      cl.set_read_timeout(std::chrono::seconds(s.seconds + 30));
      std::string buffer;
      std::vector<double> mine;
      bool counted = false;
      auto res =
          cl.Get("/api/timeline/stream?entity_type=probe&after=" + start_cursor,
                 sub_auth[static_cast<std::size_t>(i / 10)], [&](const char* d, std::size_t n) {
                   if (!counted) {
                     counted = true;
                     ++connected;
                   }
                   buffer.append(d, n);
                   for (std::size_t end; (end = buffer.find("\n\n")) != std::string::npos;) {
                     const std::string event = buffer.substr(0, end);
                     buffer.erase(0, end + 2);
                     const auto at = event.find("\"at\":\"");
                     if (at == std::string::npos) continue;
                     auto ts = logline::timestamp::parse(event.substr(at + 6, 24));
                     if (!ts) continue;
                     const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count();
                     mine.push_back(static_cast<double>(now_ms - ts->unix_ms));
                     ++received[static_cast<std::size_t>(i)];
                   }
                   return !stop;
                 });
      std::lock_guard lock(m);
      if (!counted) ++errors[httplib::to_string(res.error())];
      delivery.insert(delivery.end(), mine.begin(), mine.end());
    });
  // The streams answer with headers once the first chunk (a keep-alive or an event) is written:
  // announce them with one probe span and wait until every subscriber has its first bytes.
  const auto deadline = clock_type::now() + std::chrono::seconds(60);
  httplib::Client writer("127.0.0.1", port);
  int probes = 0;
  auto probe = [&] {
    auto r = writer.Post("/api/spans", auth,
                         R"({"entity_type":"probe","this":"probe )" + std::to_string(probes++) +
                             R"(","visibility":"tenant"})",
                         "application/json");
    return r && r->status == 201;
  };
  probe();
  while (connected < s.subscribers && clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const auto end = clock_type::now() + std::chrono::seconds(s.seconds);
  while (clock_type::now() < end) {
    probe();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::seconds(3));  // the last deliveries
  stop = true;
  // A last span wakes every stream so that it sees `stop`.
  probe();
  for (auto& t : subs) t.join();
  for (const auto& [e, n] : errors)
    std::fprintf(stderr, "http_load: %d subscribers failed: %s\n", n, e.c_str());
  int complete = 0;
  for (int r : received) complete += r >= probes - 1 ? 1 : 0;
  std::printf(
      "  \"sse\": {\"subscribers\": %d, \"connected\": %d, \"spans\": %d, "
      "\"subscribers_with_every_span\": %d, \"deliveries\": %zu, \"p50_ms\": %.1f, \"p99_ms\": "
      "%.1f}\n}\n",
      s.subscribers, connected.load(), probes - 1, complete, delivery.size(),
      percentile(delivery, 0.5), percentile(delivery, 0.99));
  api.stop();
  svr.stop();
  server.join();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  settings s;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    const std::string v = argv[i + 1];
    if (a == "--seconds")
      s.seconds = std::atoi(v.c_str());
    else if (a == "--connections")
      s.connections = std::atoi(v.c_str());
    else if (a == "--batch")
      s.batch = std::atoi(v.c_str());
    else if (a == "--subscribers")
      s.subscribers = std::atoi(v.c_str());
    else if (a == "--rate")
      s.rate = std::atof(v.c_str());
    else if (a == "--wal-pages")
      s.wal_pages = std::atoi(v.c_str());
    else if (a == "--postgres")
      s.postgres = v;
    else if (a == "--code-cpu" && (v == "idle" || v == "shared"))
      s.code_idle_cpu = v == "idle";
    else if (a == "--hostile") {
      s.hostile.clear();
      for (std::size_t from = 0; v != "0" && from <= v.size();) {
        const auto comma = std::min(v.find(',', from), v.size());
        const std::string kind = v.substr(from, comma - from);
        if (kind != "idle" && kind != "streams" && kind != "uploads" && kind != "bomb") {
          std::cerr << "http_load: --hostile takes 0 or a list of idle, streams, uploads, bomb\n";
          return 2;
        }
        s.hostile.insert(kind);
        from = comma + 1;
      }
    } else {
      std::cerr << "http_load: unknown argument " << a << "\n";
      return 2;
    }
  }
  using sqlite_ledger = logline::audited_ledger<logline::universal_span, logline::sqlite::backend>;
  using pg_ledger = logline::audited_ledger<logline::universal_span, logline::postgres::backend>;
  if (s.postgres) {
    auto db =
        logline::postgres::database::open(*s.postgres, {.pool_size = 16, .owner = *s.postgres})
            .value();
    return run<pg_ledger>(s, *db);
  }
  const auto dir =
      std::filesystem::temp_directory_path() / ("logline-http-load-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  int rc = 0;
  {
    auto db = logline::sqlite::database::open((dir / "load.db").string(),
                                              {.sync = logline::sqlite::durability::normal,
                                               .wal_autocheckpoint_pages = s.wal_pages})
                  .value();
    rc = run<sqlite_ledger>(s, *db);
  }
  std::filesystem::remove_all(dir);
  return rc;
}
