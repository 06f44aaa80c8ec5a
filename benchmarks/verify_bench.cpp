// Verify throughput beside the raw Ed25519 verify rate, measured in this same binary (DESIGN §9).
// See benchmarks/README.md.
//
//   BM_verify_sqlite/threads:N   ledger.verify({.threads = N}) over a 100,000-span chain+sign
//                                ledger (4 tenant chains), spans/s
//   BM_raw_ed25519_verify        crypto_sign_verify_detached over 32 bytes, one core, verifies/s
//
// The ledger file is built once (append_batch of 1000) and cached as build/bench/verify-100k.db
// (directory: $LOGLINE_BENCH_DIR, else ../bench next to this executable).
#include <benchmark/benchmark.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

constexpr std::int64_t ledger_spans = 100'000;
constexpr std::size_t batch_size = 1000;
constexpr int tenants = 4;

void remove_database(const fs::path& p) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(p.string() + suffix, ec);
}

// The prepared ledger: opened (read/write, so the ledger can check its schema) once per process.
struct prepared_ledger {
  std::string path;
  std::unique_ptr<logline::sqlite::database> db;
  std::optional<ledger_chain_sign> ledger;
  double build_seconds = 0;

  prepared_ledger() {
    const fs::path dir = bench_dir();
    fs::create_directories(dir);
    path = (dir / "verify-100k.db").string();
    const auto key = logline::ed25519::key::generate();
    if (fs::exists(path) && count_rows(path) == ledger_spans) {
      db = logline::sqlite::database::open(path, {.sync = logline::sqlite::durability::normal})
               .value();
      auto l = ledger_chain_sign::open(*db, {.identity = {"u0", "t0"}, .signing_key = key});
      if (l) {
        ledger.emplace(std::move(*l));
        return;
      }
      std::fprintf(stderr, "verify_bench: %s has another schema (%s); rebuilding\n", path.c_str(),
                   l.error().message().c_str());
      db.reset();
    }
    build(key);
  }

  void build(const logline::ed25519::key& key) {
    std::fprintf(stderr, "verify_bench: building %s (%lld spans, %d tenant chains)...\n",
                 path.c_str(), static_cast<long long>(ledger_spans), tenants);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string tmp = path + ".building";
    remove_database(tmp);
    {
      auto wdb = logline::sqlite::database::open(tmp, {.sync = logline::sqlite::durability::normal})
                     .value();
      std::vector<ledger_chain_sign> writers;
      for (int t = 0; t < tenants; ++t) {
        const std::string n = std::to_string(t);
        writers.emplace_back(
            *wdb, ledger_chain_sign::options{.identity = {"u" + n, "t" + n}, .signing_key = key});
      }
      span_generator gen(7);
      for (std::int64_t done = 0, b = 0; done < ledger_spans; done += batch_size, ++b) {
        const int t = static_cast<int>(b % tenants);
        const std::string n = std::to_string(t);
        std::vector<universal_span> batch;
        batch.reserve(batch_size);
        for (std::size_t i = 0; i < batch_size; ++i) batch.push_back(gen.make("u" + n, "t" + n));
        auto r = writers[t].append_batch(std::move(batch));
        if (!r) {
          std::fprintf(stderr, "verify_bench: build failed: %s\n", r.error().message().c_str());
          std::exit(1);
        }
      }
      (void)wdb->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    remove_database(path);
    fs::rename(tmp, path);
    remove_database(tmp);
    build_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "verify_bench: built in %.1f s\n", build_seconds);
    db = logline::sqlite::database::open(path, {.sync = logline::sqlite::durability::normal})
             .value();
    ledger.emplace(*db, ledger_chain_sign::options{.identity = {"u0", "t0"}, .signing_key = key});
  }
};

prepared_ledger& prepared() {
  static prepared_ledger p;
  return p;
}

double process_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
double wall_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void BM_verify_sqlite(benchmark::State& state) {
  auto& p = prepared();
  const auto threads = static_cast<unsigned>(state.range(0));
  std::uint64_t checked = 0;
  const double cpu0 = process_cpu_seconds(), wall0 = wall_seconds();
  for (auto _ : state) {
    auto report = p.ledger->verify(logline::verify_options{.threads = threads});
    if (!report) {
      state.SkipWithError(report.error().message().c_str());
      return;
    }
    if (!report->ok() || report->spans_checked != static_cast<std::uint64_t>(ledger_spans)) {
      state.SkipWithError(("verify found " + std::to_string(report->problems) + " problems in " +
                           std::to_string(report->spans_checked) + " spans")
                              .c_str());
      return;
    }
    checked += report->spans_checked;
  }
  // Cores busy on average (process CPU ÷ wall): below `threads` means the threads waited (for
  // each other or, on a shared machine, for a core).
  state.counters["cpu_cores"] =
      (process_cpu_seconds() - cpu0) / std::max(1e-9, wall_seconds() - wall0);
  state.SetItemsProcessed(static_cast<std::int64_t>(checked));
  state.counters["ledger_spans"] = static_cast<double>(ledger_spans);
  if (p.build_seconds > 0) state.counters["build_seconds"] = p.build_seconds;
}

void BM_raw_ed25519_verify(benchmark::State& state) {
  if (sodium_init() < 0) return state.SkipWithError("sodium_init failed");
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  struct item {
    std::array<unsigned char, 32> digest;
    std::array<unsigned char, crypto_sign_BYTES> sig;
  };
  std::vector<item> items(256);
  for (auto& it : items) {
    randombytes_buf(it.digest.data(), it.digest.size());
    crypto_sign_detached(it.sig.data(), nullptr, it.digest.data(), it.digest.size(), sk);
  }
  std::size_t i = 0;
  for (auto _ : state) {
    const item& it = items[i++ & 255];
    if (crypto_sign_verify_detached(it.sig.data(), it.digest.data(), it.digest.size(), pk) != 0) {
      state.SkipWithError("signature did not verify");
      return;
    }
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

[[maybe_unused]] const bool registered = [] {
  // One iteration of a verify pass over 100k spans already exceeds the default minimum time, so
  // each variant runs one pass (a few seconds).
  benchmark::RegisterBenchmark("BM_verify_sqlite", BM_verify_sqlite)
      ->ArgName("threads")
      ->Arg(1)
      ->Arg(2)
      ->Repetitions(3)  // this machine is shared: ratios use the mean of three runs of each side
      ->ReportAggregatesOnly(true)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("BM_raw_ed25519_verify", BM_raw_ed25519_verify)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true)
      ->UseRealTime()
      ->MinTime(1.0)
      ->Unit(benchmark::kMicrosecond);
  // Both cores verifying at once: the physical two-core verify rate of this machine.
  benchmark::RegisterBenchmark("BM_raw_ed25519_verify_2cores", BM_raw_ed25519_verify)
      ->Threads(2)
      ->Repetitions(3)
      ->ReportAggregatesOnly(true)
      ->UseRealTime()
      ->MinTime(1.0)
      ->Unit(benchmark::kMicrosecond);
  return true;
}();

}  // namespace
