#pragma once
// A walk over stored rows for the SQLite scans (a store's export and verification scans, and a
// recorded table's in recorded.hpp): the ORDER BY that walks rows chain by chain, stepping, the
// row's number, where it sits in its chain (read raw, so that an undecodable row still takes its
// place), and its stored values as verification reads them. The statement selects rowid, then
// the table's columns in order.
#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "logline/backend.hpp"
#include "logline/detail/stored_row.hpp"
#include "logline/sqlite/database.hpp"

namespace logline::sqlite::detail {

// chained: by (chain, position), per tenant (a null tenant is its own chain) or globally; else
// in commit order.
inline std::string scan_order(bool chained, bool per_tenant) {
  if (!chained) return " ORDER BY rowid";
  return per_tenant ? " ORDER BY coalesce(\"tenant_id\", x''), \"chain_position\""
                    : " ORDER BY \"chain_position\"";
}

class scan_cursor {
 public:
  result<bool> step(std::size_t) {
    const int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_DONE) return false;
    if (rc != SQLITE_ROW)
      return make_error(errc::storage_error, std::string("scanning: ") + sqlite3_errstr(rc))
          .mark_from_storage()
          .with_native(sqlite_error_code(rc));
    return true;
  }
  std::int64_t row_number() const { return sqlite3_column_int64(stmt_.get(), 0); }
  void place(std::string& chain, std::optional<std::int64_t>& position) const {
    sqlite3_stmt* s = stmt_.get();
    if (tenant_column_ >= 0) {
      column_reader t(s, tenant_column_);
      chain =
          tenant_chain_name(t.is_null() ? std::nullopt : std::optional<std::string_view>(t.text()));
    } else {
      chain = global_chain_name;
    }
    if (position_column_ >= 0 && sqlite3_column_type(s, position_column_) == SQLITE_INTEGER)
      position = sqlite3_column_int64(s, position_column_);
  }

 protected:
  // The row's stored values, column i of `layout` at result column 1 + i.
  void read_stored(verify_row& row, const logline::detail::stored_layout& layout) {
    column_reader r(stmt_.get(), 0);
    logline::detail::read_stored_row(
        row, r, [&](std::size_t i) { r.at(1 + static_cast<int>(i)); }, layout);
  }
  // tenant / position: the layout's row positions of tenant_id and chain_position (or none).
  void start(statement stmt, std::optional<std::size_t> tenant,
             std::optional<std::size_t> position) {
    stmt_ = std::move(stmt);
    tenant_column_ = tenant ? 1 + static_cast<int>(*tenant) : -1;
    position_column_ = position ? 1 + static_cast<int>(*position) : -1;
  }
  sqlite3_stmt* stmt() const noexcept { return stmt_.get(); }
  // What the statement runs on, kept until it is finalized: a connection of the scan's own, or
  // the lock of a shared one.
  void hold(std::unique_ptr<database> connection) { own_ = std::move(connection); }
  void hold(std::unique_lock<std::mutex> lock) { lock_ = std::move(lock); }

 private:
  std::unique_ptr<database> own_;      // declared before stmt_: the statement is finalized
  std::unique_lock<std::mutex> lock_;  // first, then the lock or the connection goes
  statement stmt_;
  int tenant_column_ = -1;  // result columns of the chain key, or -1
  int position_column_ = -1;
};

}  // namespace logline::sqlite::detail
