#pragma once
// Where a stored row sits in its chain, for the SQLite scans (a store's, and a recorded table's
// in recorded.hpp): the ORDER BY that walks rows chain by chain, and the row's chain and
// position read raw, so that an undecodable row still takes its place.
#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "logline/backend.hpp"
#include "logline/sqlite/database.hpp"

namespace logline::sqlite::detail {

// chained: by (chain, position), per tenant (a null tenant is its own chain) or globally; else
// in commit order.
inline std::string scan_order(bool chained, bool per_tenant) {
  if (!chained) return " ORDER BY rowid";
  return per_tenant ? " ORDER BY coalesce(\"tenant_id\", x''), \"chain_position\""
                    : " ORDER BY \"chain_position\"";
}

// tenant_column / position_column: result columns of tenant_id and chain_position, or -1.
inline void read_place(sqlite3_stmt* s, int tenant_column, int position_column, std::string& chain,
                       std::optional<std::int64_t>& position) {
  if (tenant_column >= 0) {
    column_reader t(s, tenant_column);
    chain =
        tenant_chain_name(t.is_null() ? std::nullopt : std::optional<std::string_view>(t.text()));
  } else {
    chain = global_chain_name;
  }
  if (position_column >= 0 && sqlite3_column_type(s, position_column) == SQLITE_INTEGER)
    position = sqlite3_column_int64(s, position_column);
}

}  // namespace logline::sqlite::detail
