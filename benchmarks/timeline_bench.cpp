// Timeline query latency on a 1,000,000-span ledger (DESIGN §9). See benchmarks/README.md.
//
//   BM_timeline_first_page_sqlite   timeline({.limit = 50}), no filter
//   BM_timeline_filtered_sqlite     timeline({.entity_type = "payment", .status = "completed", .limit = 50})
//   BM_timeline_deep_page_sqlite    first page, then follow next_cursor 20 times (21 pages per op)
//   BM_get_latest_sqlite            get(id) of a random visible span
//
// Time per op is the latency (µs, wall clock). The ledger (chain policy set: append_only +
// hash_chained + tenant_isolated; 4 tenants x 2 users, 5 entity types, 4 statuses, 3
// visibilities) is built once with append_batch of 1000 and cached as build/bench/timeline-1m.db
// (directory: $LOGLINE_BENCH_DIR, else ../bench next to this executable); it is reused when it
// holds exactly the expected number of spans. Reads run as identity u1/t1 (tenant isolation on).
// LOGLINE_TIMELINE_SPANS=N builds and uses timeline-N.db instead (for quick runs).
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <logline/logline.hpp>
#include <logline/sqlite.hpp>

#include "bench_support.hpp"

namespace {

using namespace logline_bench;  // span_generator, bench_dir, count_rows, the ledger types

namespace fs = std::filesystem;
using logline::universal_span;

constexpr std::size_t batch_size = 1000;
constexpr int tenants = 4, users_per_tenant = 2;
constexpr int deep_pages = 20;

std::int64_t wanted_spans() {
  if (const char* n = std::getenv("LOGLINE_TIMELINE_SPANS"); n && *n)
    return std::max<std::int64_t>(batch_size, std::atoll(n));
  return 1'000'000;
}

std::string size_label(std::int64_t n) {
  if (n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "m";
  if (n % 1000 == 0) return std::to_string(n / 1000) + "k";
  return std::to_string(n);
}

void remove_database(const fs::path& p) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(p.string() + suffix, ec);
}

struct prepared_ledger {
  std::int64_t spans = wanted_spans();
  std::string path;
  std::unique_ptr<logline::sqlite::database> db;
  std::optional<ledger_chain> ledger;  // reader: u1 / t1
  std::vector<logline::uuid> visible_ids;
  double build_seconds = 0;

  prepared_ledger() {
    const fs::path dir = bench_dir();
    fs::create_directories(dir);
    path = (dir / ("timeline-" + size_label(spans) + ".db")).string();
    if (!(fs::exists(path) && count_rows(path) == spans)) build();
    db = logline::sqlite::database::open(path, {.sync = logline::sqlite::durability::normal})
             .value();
    auto l = ledger_chain::open(*db, {.identity = {"u1", "t1"}});
    if (!l) {
      std::fprintf(stderr, "timeline_bench: %s: %s; rebuilding\n", path.c_str(),
                   l.error().message().c_str());
      db.reset();
      build();
      db = logline::sqlite::database::open(path, {.sync = logline::sqlite::durability::normal})
               .value();
      l = ledger_chain::open(*db, {.identity = {"u1", "t1"}});
    }
    ledger.emplace(std::move(l).value());
    sample_ids();
  }

  void build() {
    std::fprintf(stderr, "timeline_bench: building %s (%lld spans)...\n", path.c_str(),
                 static_cast<long long>(spans));
    const auto t0 = std::chrono::steady_clock::now();
    const std::string tmp = path + ".building";
    remove_database(tmp);
    {
      auto wdb = logline::sqlite::database::open(tmp, {.sync = logline::sqlite::durability::normal})
                     .value();
      std::vector<ledger_chain> writers;
      writers.reserve(tenants * users_per_tenant);
      for (int t = 0; t < tenants; ++t)
        for (int u = 0; u < users_per_tenant; ++u)
          writers.emplace_back(
              *wdb,
              ledger_chain::options{.identity = {"u" + std::to_string(t * users_per_tenant + u),
                                                 "t" + std::to_string(t)}});
      span_generator gen(11);
      std::int64_t b = 0;
      for (std::int64_t done = 0; done < spans; done += batch_size, ++b) {
        auto& w = writers[static_cast<std::size_t>(b) % writers.size()];
        std::vector<universal_span> batch;
        batch.reserve(batch_size);
        for (std::size_t i = 0; i < batch_size; ++i)
          batch.push_back(gen.make(w.identity().user_id, *w.identity().tenant_id));
        auto r = w.append_batch(std::move(batch));
        if (!r) {
          std::fprintf(stderr, "timeline_bench: build failed: %s\n", r.error().message().c_str());
          std::exit(1);
        }
        if ((b + 1) % 100 == 0)
          std::fprintf(
              stderr, "timeline_bench:   %lld spans, %.1f s\n",
              static_cast<long long>(done + batch_size),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      }
      (void)wdb->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    remove_database(path);
    fs::rename(tmp, path);
    remove_database(tmp);
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "timeline_bench: built %lld spans in %.1f s (%.0f spans/s)\n",
                 static_cast<long long>(spans), build_seconds,
                 static_cast<double>(spans) / build_seconds);
  }

  // Ids the reader may see (its own spans), spread over the whole ledger.
  void sample_ids() {
    sqlite3_stmt* st = nullptr;
    const std::string sql =
        "SELECT id FROM universal_registry WHERE owner_id = 'u1' AND rowid % 97 = 0 LIMIT 4096";
    if (sqlite3_prepare_v2(db->handle(), sql.c_str(), -1, &st, nullptr) == SQLITE_OK) {
      while (sqlite3_step(st) == SQLITE_ROW) {
        auto id = logline::uuid::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
        if (id) visible_ids.push_back(*id);
      }
    }
    sqlite3_finalize(st);
  }
};

prepared_ledger& prepared() {
  static prepared_ledger p;
  return p;
}

void add_counters(benchmark::State& state, const prepared_ledger& p) {
  state.counters["ledger_spans"] = static_cast<double>(p.spans);
  if (p.build_seconds > 0) state.counters["build_seconds"] = p.build_seconds;
}

void run_page(benchmark::State& state, const logline::timeline_query& q) {
  auto& p = prepared();
  std::size_t rows = 0;
  for (auto _ : state) {
    auto page = p.ledger->timeline(q);
    if (!page) return state.SkipWithError(page.error().message().c_str());
    if (page->spans.size() != q.limit) return state.SkipWithError("short page");
    rows += page->spans.size();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(rows));  // spans returned per second
  add_counters(state, p);
}

void BM_timeline_first_page_sqlite(benchmark::State& state) { run_page(state, {.limit = 50}); }

void BM_timeline_filtered_sqlite(benchmark::State& state) {
  run_page(state, {.entity_type = "payment", .status = "completed", .limit = 50});
}

void BM_timeline_deep_page_sqlite(benchmark::State& state) {
  auto& p = prepared();
  std::size_t pages = 0;
  for (auto _ : state) {
    logline::timeline_query q{.limit = 50};
    for (int i = 0; i <= deep_pages; ++i) {
      auto page = p.ledger->timeline(q);
      if (!page) return state.SkipWithError(page.error().message().c_str());
      if (page->next_cursor.empty()) return state.SkipWithError("ran out of pages");
      q.cursor = std::move(page->next_cursor);
      ++pages;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(pages));  // pages per second
  add_counters(state, p);
}

void BM_get_latest_sqlite(benchmark::State& state) {
  auto& p = prepared();
  if (p.visible_ids.empty()) return state.SkipWithError("no visible ids sampled");
  std::size_t i = 0;
  for (auto _ : state) {
    auto s = p.ledger->get(p.visible_ids[i++ % p.visible_ids.size()]);
    if (!s) return state.SkipWithError(s.error().message().c_str());
    benchmark::DoNotOptimize(s->seq);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  add_counters(state, p);
}

[[maybe_unused]] const bool registered = [] {
  for (auto [name, fn] :
       {std::pair{"BM_timeline_first_page_sqlite", &BM_timeline_first_page_sqlite},
        std::pair{"BM_timeline_filtered_sqlite", &BM_timeline_filtered_sqlite},
        std::pair{"BM_timeline_deep_page_sqlite", &BM_timeline_deep_page_sqlite},
        std::pair{"BM_get_latest_sqlite", &BM_get_latest_sqlite}})
    benchmark::RegisterBenchmark(name, fn)->UseRealTime()->MinTime(1.0)->Unit(
        benchmark::kMicrosecond);
  return true;
}();

}  // namespace
