#pragma once
// What the benchmarks share: realistic spans, where cached databases live, row counts.
#include <sqlite3.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

#include <logline/logline.hpp>
#include <logline/sqlite.hpp>

namespace logline_bench {

// The policy sets the benchmarks compare.
using ledger_none =
    logline::ledger<logline::universal_span, logline::sqlite::backend, logline::append_only>;
using ledger_chain =
    logline::ledger<logline::universal_span, logline::sqlite::backend, logline::append_only,
                    logline::hash_chained, logline::tenant_isolated>;
using ledger_chain_sign =
    logline::audited_ledger<logline::universal_span, logline::sqlite::backend>;

// entity_type, who, this, did, status, trace_id, owner/tenant, visibility and a 5-key metadata
// object: about 450 bytes canonical with no policy, 530 chained, 610 chained and signed.
class span_generator {
 public:
  explicit span_generator(std::uint64_t seed) : x_(seed | 1) {}

  logline::universal_span make(const std::string& owner, const std::string& tenant) {
    static const char* const types[] = {"payment", "invoice", "order", "request", "note"};
    static const char* const verbs[] = {"charged", "refunded", "created", "approved", "shipped"};
    static const char* const statuses[] = {"completed", "pending", "failed", "active"};
    static const char* const regions[] = {"eu-west-1", "us-east-1", "ap-south-1"};
    const std::uint64_t r = next();
    logline::universal_span s;
    s.entity_type = types[r % 5];
    s.who = "svc-billing";
    s.did = verbs[(r >> 8) % 5];
    s.this_ = "ORD-" + digits(8) + " for CUS-" + digits(6) + ", " +
              std::to_string(1 + (r >> 16) % 9) + " items";
    s.owner_id = owner;
    s.tenant_id = tenant;
    s.visibility = (r >> 24) % 10 < 7   ? logline::visibility::tenant
                   : (r >> 24) % 10 < 8 ? logline::visibility::public_
                                        : logline::visibility::private_;
    s.status = statuses[(r >> 32) % 4];
    s.trace_id = hex(16);
    s.metadata = logline::json{{"amount", static_cast<double>((r >> 20) % 100000) / 100.0},
                               {"currency", (r >> 40) % 2 ? "EUR" : "USD"},
                               {"customer_id", "cus_" + hex(5)},
                               {"items", static_cast<int>(1 + (r >> 44) % 9)},
                               {"region", regions[(r >> 48) % 3]}};
    return s;
  }

 private:
  std::uint64_t next() {  // xorshift64*
    x_ ^= x_ >> 12;
    x_ ^= x_ << 25;
    x_ ^= x_ >> 27;
    return x_ * 2685821657736338717ull;
  }
  std::string hex(int bytes) {
    static constexpr char d[] = "0123456789abcdef";
    std::string out;
    for (int i = 0; i < bytes; ++i) {
      const auto b = next() >> 56;
      out += d[b >> 4];
      out += d[b & 15];
    }
    return out;
  }
  std::string digits(int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += static_cast<char>('0' + next() % 10);
    return out;
  }
  std::uint64_t x_;
};

// build/bench (next to build/bin), or $LOGLINE_BENCH_DIR.
inline std::filesystem::path bench_dir() {
  if (const char* d = std::getenv("LOGLINE_BENCH_DIR"); d && *d) return d;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) return exe.parent_path().parent_path() / "bench";  // build/bin/x -> build/bench
  return std::filesystem::current_path();
}

// Rows of universal_registry in a database file, or -1 if it cannot be read.
inline std::int64_t count_rows(const std::string& path) {
  sqlite3* db = nullptr;
  std::int64_t n = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, "SELECT count(*) FROM universal_registry", -1, &st, nullptr) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close_v2(db);
  return n;
}

}  // namespace logline_bench
