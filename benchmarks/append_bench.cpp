// Append throughput per policy set, beside the raw limits measured in this same binary
// (DESIGN §9). See benchmarks/README.md for what each number means.
//
//   BM_append_<single|batch>_<none|chain|chain_sign>_sqlite   ledger appends (WAL, synchronous=NORMAL)
//   BM_append_single_chain_sign_sqlite_durable                 same, synchronous=FULL (fsync per commit)
//   BM_raw_insert_<single|batch>_sqlite                        prepared INSERT of the same rows, same DDL
//   BM_raw_ed25519_sign                                        crypto_sign_detached over 32 bytes, one core
//   BM_raw_blake3_canonical                                    span_hash (canonical JSON + BLAKE3) alone
//
// Every benchmark reports items/s (spans, rows, signatures or hashes per second of wall time).
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
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
using logline::sqlite::durability;

// CPU seconds used by every thread of the process (signing threads included).
double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class L>
constexpr const char* set_name() {
  return L::is_signed ? "chain_sign" : L::is_chained ? "chain" : "none";
}

constexpr std::size_t batch_size = 1000;
constexpr std::uint64_t max_rows = 2'000'000;  // a database is recreated beyond this
constexpr double min_time = 2.0;  // seconds per benchmark (bounds the binary's runtime)

const logline::ed25519::key& signing_key() {
  static const auto key = logline::ed25519::key::generate();
  return key;
}

// A temporary directory for the benchmark databases, removed at exit.
const fs::path& temp_dir() {
  struct holder {
    fs::path path;
    holder() {
      const char* base = std::getenv("TMPDIR");
      std::string tmpl =
          std::string(base && *base ? base : "/tmp") + "/logline-append-bench-XXXXXX";
      if (!mkdtemp(tmpl.data())) {
        std::perror("mkdtemp");
        std::exit(1);
      }
      path = tmpl;
    }
    ~holder() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const holder h;
  return h.path;
}

void remove_database(const fs::path& p) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(p.string() + suffix, ec);
}

// ---- ledger appends ----------------------------------------------------------------------------
template <class L>
struct ledger_fixture {
  fs::path path;
  durability sync;
  std::unique_ptr<logline::sqlite::database> db;
  std::optional<L> ledger;
  std::uint64_t rows = 0;
  span_generator gen{0x9e3779b97f4a7c15ull};

  ledger_fixture(const std::string& name, durability d)
      : path(temp_dir() / (name + ".db")), sync(d) {
    reopen();
  }
  ~ledger_fixture() {
    ledger.reset();
    db.reset();
    remove_database(path);
  }
  void reopen() {
    ledger.reset();
    db.reset();
    remove_database(path);
    db = logline::sqlite::database::open(path.string(), {.sync = sync}).value();
    ledger.emplace(*db,
                   typename L::options{.identity = {"u1", "t1"}, .signing_key = signing_key()});
    rows = 0;
  }
  void ensure_room(benchmark::State& state, std::size_t n) {
    if (rows + n <= max_rows) return;
    state.PauseTiming();
    reopen();
    state.ResumeTiming();
  }
  void fill(std::vector<universal_span>& out, std::size_t n) {
    out.clear();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(gen.make("u1", "t1"));
  }
};

void report_canonical_size(benchmark::State& state, const universal_span& stored) {
  state.counters["canonical_bytes"] = static_cast<double>(logline::canonical_span(stored).size());
}

// One append() per span: one transaction each.
template <class L, durability Sync>
void append_single(benchmark::State& state) {
  static ledger_fixture<L> fx(
      std::string("single_") + set_name<L>() + (Sync == durability::full ? "_durable" : ""), Sync);
  std::vector<universal_span> pool;
  std::size_t next = 0;
  std::optional<universal_span> last;
  for (auto _ : state) {
    if (next == pool.size()) {
      state.PauseTiming();
      fx.fill(pool, 4096);
      next = 0;
      state.ResumeTiming();
    }
    fx.ensure_room(state, 1);
    auto r = fx.ledger->append(std::move(pool[next++]));
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      break;
    }
    ++fx.rows;
    if (!last) last = std::move(*r);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["db_rows"] = static_cast<double>(fx.rows);
  if (last) report_canonical_size(state, *last);
}

// append_batch of 1000 spans: one transaction per batch.
template <class L>
void append_batch(benchmark::State& state) {
  static ledger_fixture<L> fx(std::string("batch_") + set_name<L>(), durability::normal);
  std::vector<universal_span> batch;
  std::optional<universal_span> last;
  const double cpu0 = process_cpu_seconds(), wall0 = wall_seconds();
  for (auto _ : state) {
    state.PauseTiming();
    fx.fill(batch, batch_size);
    state.ResumeTiming();
    fx.ensure_room(state, batch_size);
    auto r = fx.ledger->append_batch(std::move(batch));
    if (!r) {
      state.SkipWithError(r.error().message().c_str());
      break;
    }
    fx.rows += batch_size;
    if (!last) last = std::move(r->back());
    batch = {};
  }
  // Cores busy on average (process CPU ÷ wall, span generation included): shows whether the
  // signing threads got a second core.
  state.counters["cpu_cores"] =
      (process_cpu_seconds() - cpu0) / std::max(1e-9, wall_seconds() - wall0);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
  state.counters["db_rows"] = static_cast<double>(fx.rows);
  if (last) report_canonical_size(state, *last);
}

// ---- raw limits: prepared INSERT of the same rows ------------------------------------------------
// A stored value of one column, as the library binds it (recorded through the schema's sink).
struct cell {
  enum kind_t { null, integer, real, text } kind = null;
  std::int64_t i = 0;
  double d = 0;
  std::string s;
};
using row = std::vector<cell>;

struct recorder final : logline::value_sink {
  row* out;
  explicit recorder(row& r) : out(&r) {}
  void null() override { out->push_back({}); }
  void integer(std::int64_t v) override { out->push_back({cell::integer, v, 0, {}}); }
  void real(double v) override { out->push_back({cell::real, 0, v, {}}); }
  void text(std::string_view v) override { out->push_back({cell::text, 0, 0, std::string(v)}); }
};

void check_rc(int rc, sqlite3* db, const char* what) {
  if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::fprintf(stderr, "raw sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    std::exit(1);
  }
}

// The chain policy set's table, written with plain sqlite3 calls: the rows the chain ledger would
// write (id v7, at = now, owner/tenant, chain_position, prev_hash, curr_hash), prepared outside
// the timed region.
struct raw_fixture {
  fs::path path;
  sqlite3* db = nullptr;
  sqlite3_stmt *insert = nullptr, *begin = nullptr, *commit = nullptr;
  std::uint64_t rows = 0;
  std::int64_t position = 0;
  std::optional<logline::digest> prev;
  span_generator gen{0x9e3779b97f4a7c15ull};

  explicit raw_fixture(const std::string& name) : path(temp_dir() / (name + ".db")) { reopen(); }
  ~raw_fixture() {
    close();
    remove_database(path);
  }
  void close() {
    for (auto* s : {insert, begin, commit})
      if (s) sqlite3_finalize(s);
    insert = begin = commit = nullptr;
    if (db) sqlite3_close_v2(db);
    db = nullptr;
  }
  void reopen() {
    close();
    remove_database(path);
    check_rc(
        sqlite3_open_v2(path.c_str(), &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr),
        db, "open");
    // The engine settings the library's connections use (logline::sqlite::tuning_pragmas).
    const std::string pragmas = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; " +
                                logline::sqlite::tuning_pragmas({});
    check_rc(sqlite3_exec(db, pragmas.c_str(), nullptr, nullptr, nullptr), db, "pragmas");
    const std::string ddl = ledger_chain::store_type::ddl(ledger_chain::table());
    check_rc(sqlite3_exec(db, ddl.c_str(), nullptr, nullptr, nullptr), db, "ddl");
    const auto& cols = logline::schema<universal_span>::columns();
    std::string names, params;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      names += (i ? ", \"" : "\"") + std::string(cols[i].name) + "\"";
      params += (i ? ", ?" : "?") + std::to_string(i + 1);
    }
    const std::string sql =
        "INSERT INTO \"universal_registry\" (" + names + ") VALUES (" + params + ")";
    check_rc(sqlite3_prepare_v3(db, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &insert, nullptr),
             db, "prepare insert");
    check_rc(
        sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin, nullptr),
        db, "prepare begin");
    check_rc(sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit, nullptr), db,
             "prepare commit");
    rows = 0;
    position = 0;
    prev.reset();
  }
  void ensure_room(benchmark::State& state, std::size_t n) {
    if (rows + n <= max_rows) return;
    state.PauseTiming();
    reopen();
    state.ResumeTiming();
  }
  // n rows continuing the chain, as the chain ledger would store them.
  void fill(std::vector<row>& out, std::size_t n) {
    out.clear();
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      universal_span s = gen.make("u1", "t1");
      s.id = logline::uuid::v7();
      s.at = logline::timestamp::now();
      s.chain_position = position++;
      s.prev_hash = prev;
      s.curr_hash = logline::span_hash(s);
      prev = s.curr_hash;
      row r;
      recorder rec(r);
      for (const auto& c : logline::schema<universal_span>::columns()) c.bind(s, rec);
      out.push_back(std::move(r));
    }
  }
  void exec(sqlite3_stmt* s) {
    check_rc(sqlite3_step(s), db, "step");
    sqlite3_reset(s);
  }
  void insert_row(const row& r) {
    int i = 1;
    for (const cell& c : r) {
      switch (c.kind) {
        case cell::null:
          sqlite3_bind_null(insert, i);
          break;
        case cell::integer:
          sqlite3_bind_int64(insert, i, c.i);
          break;
        case cell::real:
          sqlite3_bind_double(insert, i, c.d);
          break;
        case cell::text:
          sqlite3_bind_text(insert, i, c.s.data(), static_cast<int>(c.s.size()), SQLITE_STATIC);
          break;
      }
      ++i;
    }
    check_rc(sqlite3_step(insert), db, "insert");
    sqlite3_reset(insert);
  }
};

void BM_raw_insert_single_sqlite(benchmark::State& state) {
  static raw_fixture fx("raw_single");
  std::vector<row> pool;
  std::size_t next = 0;
  for (auto _ : state) {
    if (next == pool.size()) {
      state.PauseTiming();
      if (fx.rows + 4096 > max_rows)
        fx.reopen();  // pool rows continue the current chain: reopen first
      fx.fill(pool, 4096);
      next = 0;
      state.ResumeTiming();
    }
    fx.exec(fx.begin);
    fx.insert_row(pool[next++]);
    fx.exec(fx.commit);
    ++fx.rows;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_raw_insert_batch_sqlite(benchmark::State& state) {
  static raw_fixture fx("raw_batch");
  std::vector<row> batch;
  for (auto _ : state) {
    state.PauseTiming();
    if (fx.rows + batch_size > max_rows) fx.reopen();
    fx.fill(batch, batch_size);
    state.ResumeTiming();
    fx.exec(fx.begin);
    for (const row& r : batch) fx.insert_row(r);
    fx.exec(fx.commit);
    fx.rows += batch_size;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * batch_size));
}

// ---- raw limits: crypto --------------------------------------------------------------------------
void BM_raw_ed25519_sign(benchmark::State& state) {
  if (sodium_init() < 0) return state.SkipWithError("sodium_init failed");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  std::vector<std::array<unsigned char, 32>> digests(256);
  for (auto& d : digests) randombytes_buf(d.data(), d.size());
  unsigned char sig[crypto_sign_BYTES];
  std::size_t i = 0;
  for (auto _ : state) {
    crypto_sign_detached(sig, nullptr, digests[i++ & 255].data(), 32, sk);
    benchmark::DoNotOptimize(sig);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// span_hash alone (canonical JSON of every hashed column + BLAKE3-256) of a span as the
// chain+sign ledger stores it.
void BM_raw_blake3_canonical(benchmark::State& state) {
  span_generator gen(42);
  std::vector<universal_span> spans;
  std::optional<logline::digest> prev;
  for (int i = 0; i < 256; ++i) {
    universal_span s = gen.make("u1", "t1");
    s.id = logline::uuid::v7();
    s.at = logline::timestamp::now();
    s.chain_position = i;
    s.prev_hash = prev;
    s.public_key = signing_key().public_key();
    s.curr_hash = logline::span_hash(s);
    prev = s.curr_hash;
    spans.push_back(std::move(s));
  }
  std::size_t i = 0;
  for (auto _ : state) {
    auto d = logline::span_hash(spans[i++ & 255]);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["canonical_bytes"] = static_cast<double>(logline::canonical_span(spans[1]).size());
}

// ---- registration ----------------------------------------------------------------------------------
[[maybe_unused]] const bool registered = [] {
  auto wall = [](benchmark::internal::Benchmark* b) { return b->UseRealTime()->MinTime(min_time); };
  wall(benchmark::RegisterBenchmark("BM_append_single_none_sqlite", [](benchmark::State& s) {
    append_single<ledger_none, durability::normal>(s);
  }))->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark("BM_append_single_chain_sqlite", [](benchmark::State& s) {
    append_single<ledger_chain, durability::normal>(s);
  }))->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark("BM_append_single_chain_sign_sqlite", [](benchmark::State& s) {
    append_single<ledger_chain_sign, durability::normal>(s);
  }))->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark(
           "BM_append_single_chain_sign_sqlite_durable",
           [](benchmark::State& s) { append_single<ledger_chain_sign, durability::full>(s); }))
      ->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark("BM_append_batch_none_sqlite", [](benchmark::State& s) {
    append_batch<ledger_none>(s);
  }))->Unit(benchmark::kMillisecond);
  wall(benchmark::RegisterBenchmark("BM_append_batch_chain_sqlite", [](benchmark::State& s) {
    append_batch<ledger_chain>(s);
  }))->Unit(benchmark::kMillisecond);
  wall(benchmark::RegisterBenchmark("BM_append_batch_chain_sign_sqlite", [](benchmark::State& s) {
    append_batch<ledger_chain_sign>(s);
  }))->Unit(benchmark::kMillisecond);
  wall(benchmark::RegisterBenchmark("BM_raw_insert_single_sqlite", BM_raw_insert_single_sqlite))
      ->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark("BM_raw_insert_batch_sqlite", BM_raw_insert_batch_sqlite))
      ->Unit(benchmark::kMillisecond);
  wall(benchmark::RegisterBenchmark("BM_raw_ed25519_sign", BM_raw_ed25519_sign))
      ->Unit(benchmark::kMicrosecond);
  wall(benchmark::RegisterBenchmark("BM_raw_blake3_canonical", BM_raw_blake3_canonical))
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
