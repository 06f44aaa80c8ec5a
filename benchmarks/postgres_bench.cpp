// PostgreSQL: append throughput per policy set beside raw COPY and raw INSERT of the same rows,
// on the same server in the same run; timeline latency on 1M spans; writers on distinct tenants.
//
//   BM_pg_raw_copy_batch                       COPY of 1000 pre-encoded rows per transaction (owner, same DDL)
//   BM_pg_batch_<none|chain|chain_sign>        ledger.append_batch(1000): COPY inside the transaction
//   BM_pg_batch_chain_tenant                   the same under row-level security (multi-row INSERT: COPY FROM is refused under RLS)
//   BM_pg_raw_insert_single                    one prepared INSERT per transaction (autocommit), same DDL
//   BM_pg_single_<none|chain|chain_sign>       ledger.append(one span)
//   BM_pg_timeline_1M/<query>                  ledger.timeline() on a 1M-span ledger (RLS), one page of 50
//   BM_pg_tenants/threads:N                    N writers, one tenant each, single chained appends (does it scale?)
//
// Server: $LOGLINE_BENCH_PG_DSN (a role that may create schemas) and $LOGLINE_BENCH_PG_APP_DSN (a
// member of logline_app), else the LOGLINE_TEST_PG_* of scripts/pg-cluster.sh; `make bench`
// starts a durable throwaway cluster (fsync on). Each benchmark uses a fresh schema; the 1M-span
// timeline schema (logline_bench_timeline) is kept and reused when the server is.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <logline/logline.hpp>
#include <logline/postgres.hpp>

#include "bench_support.hpp"

namespace {

using logline::universal_span;
namespace pg = logline::postgres;
using logline_bench::span_generator;

template <class... P>
using pg_ledger = logline::ledger<universal_span, pg::backend, logline::append_only, P...>;
using pg_none = pg_ledger<>;
using pg_chain = pg_ledger<logline::hash_chained>;
using pg_chain_sign = pg_ledger<logline::hash_chained, logline::signed_by<logline::ed25519>>;
using pg_chain_tenant = pg_ledger<logline::hash_chained, logline::tenant_isolated>;

constexpr std::size_t batch_size = 1000;

std::string env(const char* a, const char* b) {
  for (const char* name : {a, b})
    if (const char* v = std::getenv(name); v && *v) return v;
  throw std::runtime_error(std::string("postgres_bench: set ") + a +
                           " (or run `make bench`, which starts a cluster)");
}
const std::string& owner_dsn() {
  static const std::string s = env("LOGLINE_BENCH_PG_DSN", "LOGLINE_TEST_PG_DSN");
  return s;
}
const std::string& app_dsn() {
  static const std::string s = env("LOGLINE_BENCH_PG_APP_DSN", "LOGLINE_TEST_PG_APP_DSN");
  return s;
}

const logline::ed25519::key& signing_key() {
  static const auto key = logline::ed25519::key::generate();
  return key;
}

// A schema for one benchmark: created fresh (or kept, for `keep`), the ledger connected to it.
struct schema {
  std::string name, owner, app;
  std::unique_ptr<pg::connection> admin;
  std::unique_ptr<pg::database> db;
  bool keep = false;
  explicit schema(std::string n, bool keep_it = false) : name(std::move(n)), keep(keep_it) {
    owner = owner_dsn() + " options=-csearch_path=" + name;
    app = app_dsn() + " options=-csearch_path=" + name;
    admin = pg::connection::open(owner).value();
    if (!keep) (void)admin->exec("DROP SCHEMA IF EXISTS " + name + " CASCADE");
    admin
        ->exec("CREATE SCHEMA IF NOT EXISTS " + name + "; GRANT USAGE ON SCHEMA " + name +
               " TO logline_app")
        .value();
    db = pg::database::open(app, {.pool_size = 4, .owner = owner}).value();
  }
  ~schema() {
    db.reset();
    if (!keep) (void)admin->exec("DROP SCHEMA IF EXISTS " + name + " CASCADE");
  }
};

template <class L>
L open_ledger(pg::database& db, const std::string& user = "bench",
              const std::string& tenant = "t1") {
  if constexpr (L::is_signed)
    return L(db, {.identity = {user, tenant}, .signing_key = signing_key()});
  else
    return L(db, {.identity = {user, tenant}});
}

template <class L>
void batch(benchmark::State& state) {
  schema s("logline_bench_batch");
  auto ledger = open_ledger<L>(*s.db);
  span_generator gen(42);
  std::vector<universal_span> spans;
  for (auto _ : state) {
    state.PauseTiming();
    spans.clear();
    for (std::size_t i = 0; i < batch_size; ++i) spans.push_back(gen.make("bench", "t1"));
    state.ResumeTiming();
    auto r = ledger.append_batch(std::move(spans));
    if (!r) state.SkipWithError(r.error().message().c_str());
    spans = {};
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

template <class L>
void single(benchmark::State& state) {
  schema s("logline_bench_single");
  auto ledger = open_ledger<L>(*s.db);
  span_generator gen(7);
  for (auto _ : state) {
    state.PauseTiming();
    auto span = gen.make("bench", "t1");
    state.ResumeTiming();
    auto r = ledger.append(std::move(span));
    if (!r) state.SkipWithError(r.error().message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Rows as the chained ledger would store them (hash computed, position counting up).
struct raw_rows {
  span_generator gen{99};
  std::int64_t position = 0;
  universal_span next() {
    auto s = gen.make("bench", "t1");
    s.id = logline::uuid::v7();
    s.at = logline::timestamp::now();
    s.chain_position = position++;
    s.curr_hash = logline::span_hash(s);
    return s;
  }
  void encode(const universal_span& s, pg::params& p) {
    pg::detail::row_encoder enc(p);
    for (const auto& c : logline::schema<universal_span>::columns()) {
      enc.kind(c.kind);
      c.bind(s, enc);
    }
  }
};

std::string column_names() {
  std::string names;
  for (const auto& c : logline::schema<universal_span>::columns())
    names += (names.empty() ? "\"" : ", \"") + std::string(c.name) + "\"";
  return names;
}

void BM_pg_raw_copy_batch(benchmark::State& state) {
  schema s("logline_bench_raw_copy");
  { auto create = open_ledger<pg_chain>(*s.db); }  // the same DDL as the chained ledger
  raw_rows rows;
  const std::string copy = "COPY universal_registry (" + column_names() + ") FROM STDIN";
  std::string data;
  for (auto _ : state) {
    state.PauseTiming();
    data.clear();
    for (std::size_t i = 0; i < batch_size; ++i) {
      pg::params p;
      rows.encode(rows.next(), p);
      for (std::size_t k = 0; k < p.size(); ++k) {
        if (k) data += '\t';
        if (p.is_null(k))
          data += "\\N";
        else
          pg::detail::append_copy_value(data, p.value(k));
      }
      data += '\n';
    }
    state.ResumeTiming();
    auto ok = s.admin->exec("BEGIN");
    if (ok) ok = s.admin->copy_in(copy, data, "COPY");
    if (ok) ok = s.admin->exec("COMMIT");
    if (!ok) state.SkipWithError(ok.error().message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

void BM_pg_raw_insert_single(benchmark::State& state) {
  schema s("logline_bench_raw_insert");
  { auto create = open_ledger<pg_chain>(*s.db); }
  auto conn = pg::connection::open(s.app).value();
  raw_rows rows;
  std::string values;
  for (std::size_t i = 1; i <= logline::schema<universal_span>::size; ++i)
    values += (i > 1 ? ", $" : "$") + std::to_string(i);
  const std::string insert =
      "INSERT INTO universal_registry (" + column_names() + ") VALUES (" + values + ")";
  for (auto _ : state) {
    state.PauseTiming();
    pg::params p;
    rows.encode(rows.next(), p);
    state.ResumeTiming();
    auto r = conn->query(insert, p);
    if (!r) state.SkipWithError(r.error().message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// The 1M-span ledger for timeline queries (made once; kept in the server).
constexpr std::int64_t timeline_rows = 1'000'000;
schema& timeline_schema() {
  static schema s("logline_bench_timeline", true);
  static bool filled = [] {
    auto ledger = open_ledger<pg_chain_tenant>(*s.db, "u0", "t0");
    auto count =
        s.admin->query_once("SELECT count(*) FROM universal_registry").value().integer(0, 0);
    span_generator gen(2024);
    std::vector<universal_span> spans;
    while (count < timeline_rows) {
      // 10 tenants x 10 users; the ledger's identity must own what it writes.
      const int t = static_cast<int>((count / static_cast<std::int64_t>(batch_size)) % 10);
      auto writer =
          open_ledger<pg_chain_tenant>(*s.db, "u" + std::to_string(t), "t" + std::to_string(t));
      spans.clear();
      for (std::size_t i = 0; i < batch_size; ++i)
        spans.push_back(gen.make("u" + std::to_string(t), "t" + std::to_string(t)));
      writer.append_batch(std::move(spans)).value();
      spans = {};
      count += static_cast<std::int64_t>(batch_size);
    }
    (void)s.admin->exec("ANALYZE universal_registry");
    return true;
  }();
  (void)filled;
  return s;
}

void BM_pg_timeline_1M(benchmark::State& state) {
  auto& s = timeline_schema();
  auto ledger = open_ledger<pg_chain_tenant>(*s.db, "u3", "t3");
  logline::timeline_query q;
  q.limit = 50;
  switch (state.range(0)) {
    case 0:
      state.SetLabel("newest page");
      break;
    case 1:
      q.entity_type = "payment";
      state.SetLabel("entity_type=payment");
      break;
    case 2:
      q.status = "failed";
      q.entity_type = "order";
      state.SetLabel("entity_type+status");
      break;
    case 3: {  // the 20th page
      for (int i = 0; i < 19; ++i) q.cursor = ledger.timeline(q).value().next_cursor;
      state.SetLabel("page 20 (cursor)");
      break;
    }
  }
  for (auto _ : state) {
    auto page = ledger.timeline(q);
    if (!page || page->spans.empty())
      state.SkipWithError(page ? "empty page" : page.error().message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// N writers, each on its own connection and tenant (its own chain).
schema& tenants_schema() {
  static schema s("logline_bench_tenants");
  static const bool migrated = [] {
    auto create = open_ledger<pg_chain_tenant>(*s.db);
    return true;
  }();
  (void)migrated;
  return s;
}

void BM_pg_tenants(benchmark::State& state) {
  auto& s = tenants_schema();
  const std::string user = "w" + std::to_string(state.thread_index()),
                    tenant = "tenant" + std::to_string(state.thread_index());
  auto db = pg::database::open(s.app, {.pool_size = 1, .owner = s.owner}).value();
  auto ledger = open_ledger<pg_chain_tenant>(*db, user, tenant);
  span_generator gen(1000 + static_cast<std::uint64_t>(state.thread_index()));
  for (auto _ : state) {  // the threads' timed loops start together
    auto r = ledger.append(gen.make(user, tenant));
    if (!r) state.SkipWithError(r.error().message().c_str());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_pg_raw_copy_batch)->Unit(benchmark::kMillisecond)->MinTime(3)->UseRealTime();
BENCHMARK_TEMPLATE(batch, pg_none)
    ->Name("BM_pg_batch_none")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK_TEMPLATE(batch, pg_chain)
    ->Name("BM_pg_batch_chain")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK_TEMPLATE(batch, pg_chain_sign)
    ->Name("BM_pg_batch_chain_sign")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK_TEMPLATE(batch, pg_chain_tenant)
    ->Name("BM_pg_batch_chain_tenant")
    ->Unit(benchmark::kMillisecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK(BM_pg_raw_insert_single)->Unit(benchmark::kMicrosecond)->MinTime(3)->UseRealTime();
BENCHMARK_TEMPLATE(single, pg_none)
    ->Name("BM_pg_single_none")
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK_TEMPLATE(single, pg_chain)
    ->Name("BM_pg_single_chain")
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK_TEMPLATE(single, pg_chain_sign)
    ->Name("BM_pg_single_chain_sign")
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(3)
    ->UseRealTime();
BENCHMARK(BM_pg_timeline_1M)
    ->DenseRange(0, 3)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(2)
    ->UseRealTime();
BENCHMARK(BM_pg_tenants)
    ->ThreadRange(1, 8)
    ->Unit(benchmark::kMicrosecond)
    ->MinTime(3)
    ->UseRealTime();
