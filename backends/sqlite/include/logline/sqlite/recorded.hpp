#pragma once
// A logline table read from what its database records, without its span type: the DDL in
// logline_schema names every column, its kind (as far as the canonical form needs: integer,
// boolean, real, JSON, or a string) and the policies (the seal's NOT NULL columns, the chain
// index). From that, a program that does not know the span type -- logline-cli -- verifies,
// exports and checkpoints any logline ledger exactly as a ledger of its type would.
//
// What the file records is what is checked: someone who can rewrite the file can also rewrite
// its recorded DDL (e.g. claim the table is unsigned). A verification is only as strong as its
// anchor outside the file: trusted keys (which then require signed rows) or a checkpoint.
#include <sqlite3.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/detail/row_scan.hpp"
#include "logline/detail/stored_row.hpp"
#include "logline/sqlite/database.hpp"
#include "logline/sqlite/scan_cursor.hpp"
#include "logline/verify.hpp"

namespace logline::sqlite {

struct recorded_table {
  std::string name;
  logline::detail::stored_layout layout;
  verify_profile profile;
  chain_scope scope = chain_scope::global;  // per_tenant: chained by tenant_id
};

namespace detail {

// One column line of logline's DDL: `  "name" TYPE [NOT NULL] [DEFAULT ...] [CHECK (...)],`.
struct column_line {
  std::string name;
  column_kind kind = column_kind::text;
  bool not_null = false;
};

// Whether a name read from a file is one logline could have written (a C++ member name; table
// names are lowercase): anything else is refused before it goes near SQL text.
inline bool plain_name(std::string_view s) {
  if (s.empty() || s.size() > 63 || (s[0] >= '0' && s[0] <= '9')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
      return false;
  return true;
}

inline result<column_line> parse_column(std::string_view line) {
  auto bad = [&] {
    return make_error(errc::integrity_violation,
                      "the recorded DDL has a column line logline does not write: " +
                          std::string(line.substr(0, 120)));
  };
  while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
  if (line.empty() || line.front() != '"') return bad();
  const auto close = line.find('"', 1);
  if (close == std::string_view::npos) return bad();
  column_line c;
  c.name = std::string(line.substr(1, close - 1));
  if (!plain_name(c.name)) return bad();
  std::string_view rest = line.substr(close + 1);
  auto has = [&](std::string_view what) { return rest.find(what) != std::string_view::npos; };
  if (rest.rfind(" INTEGER", 0) == 0)
    c.kind = has("IN (0, 1)") ? column_kind::boolean : column_kind::integer;
  else if (rest.rfind(" REAL", 0) == 0)
    c.kind = column_kind::real;
  else if (rest.rfind(" TEXT", 0) == 0)
    c.kind = has("json_valid(") ? column_kind::json : column_kind::text;
  else
    return bad();
  c.not_null = has(" NOT NULL");
  return c;
}

}  // namespace detail

// The logline tables this database records (logline_schema), by name; empty if it records none.
inline result<std::vector<std::string>> recorded_tables(database& db) {
  std::vector<std::string> out;
  LOGLINE_TRY(
      exists,
      db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'logline_schema'"));
  const int rc = sqlite3_step(exists.get());
  if (rc == SQLITE_DONE) return out;
  if (rc != SQLITE_ROW) return db.last_error(rc, "reading sqlite_master");
  LOGLINE_TRY(names, db.prepare("SELECT table_name FROM logline_schema ORDER BY table_name"));
  for (int r; (r = sqlite3_step(names.get())) != SQLITE_DONE;) {
    if (r != SQLITE_ROW) return db.last_error(r, "reading logline_schema");
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(names.get(), 0)));
  }
  return out;
}

// The table `name` as its recorded DDL describes it; the live table must have exactly the
// recorded columns, in order.
inline result<recorded_table> read_recorded(database& db, std::string_view name) {
  if (!detail::plain_name(name))
    return make_error(errc::integrity_violation,
                      "'" + std::string(name.substr(0, 64)) +
                          "' is not a table name logline writes ([A-Za-z_][A-Za-z0-9_]*)");
  LOGLINE_TRY(sel, db.prepare("SELECT ddl_blake3, ddl FROM logline_schema WHERE table_name = ?1"));
  sqlite3_bind_text(sel.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(sel.get());
  if (rc == SQLITE_DONE)
    return make_error(errc::not_found,
                      "the database records no logline table '" + std::string(name) + "'");
  if (rc != SQLITE_ROW) return db.last_error(rc, "reading logline_schema");
  const std::string fingerprint = reinterpret_cast<const char*>(sqlite3_column_text(sel.get(), 0));
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(sel.get(), 1));
  const std::string ddl = text ? text : "";
  if (blake3_hex(ddl) != fingerprint)
    return make_error(errc::integrity_violation, "the recorded DDL of '" + std::string(name) +
                                                     "' does not match its recorded fingerprint");

  recorded_table t;
  t.name = std::string(name);
  std::vector<std::pair<std::string, column_kind>> columns;
  std::vector<detail::column_line> lines;
  const std::string header = "CREATE TABLE IF NOT EXISTS " + detail::quote(name) + " (";
  const std::string chain_index =
      "CREATE UNIQUE INDEX IF NOT EXISTS " + detail::quote(std::string(name) + "_chain") + " ON ";
  bool in_table = false, table_seen = false, chain_indexed = false;
  std::string_view rest = ddl;
  while (!rest.empty()) {
    const auto end = rest.find('\n');
    const std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!in_table && line == header) {
      in_table = table_seen = true;
      continue;
    }
    if (in_table) {
      if (line.rfind("  PRIMARY KEY", 0) == 0) {
        in_table = false;
        continue;
      }
      LOGLINE_TRY(column, detail::parse_column(line));
      columns.emplace_back(column.name, column.kind);
      lines.push_back(std::move(column));
      continue;
    }
    if (line.rfind(chain_index, 0) == 0) {
      chain_indexed = true;
      if (line.find("coalesce(\"tenant_id\"") != std::string_view::npos)
        t.scope = chain_scope::per_tenant;
    }
  }
  if (!table_seen || lines.empty())
    return make_error(errc::integrity_violation,
                      "the recorded DDL of '" + std::string(name) + "' has no CREATE TABLE");
  auto not_null = [&](std::string_view column) {
    for (const auto& l : lines)
      if (l.name == column) return l.not_null;
    return false;
  };
  t.layout = logline::detail::stored_layout::of(std::move(columns));
  if (t.layout.id == t.layout.names.size() || t.layout.seq == t.layout.names.size())
    return make_error(errc::integrity_violation,
                      "the recorded table '" + std::string(name) + "' has no id or seq column");
  t.profile.hashed = not_null("curr_hash");
  t.profile.signed_ = not_null("signature") && not_null("public_key");
  t.profile.chained = chain_indexed && not_null("chain_position");

  // The live table must be the recorded one.
  LOGLINE_TRY(info, db.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid"));
  sqlite3_bind_text(info.get(), 1, name.data(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  std::vector<std::string> live;
  for (int r; (r = sqlite3_step(info.get())) != SQLITE_DONE;) {
    if (r != SQLITE_ROW)
      return db.last_error(r, "reading the columns of '" + std::string(name) + "'");
    live.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(info.get(), 0)));
  }
  if (live != t.layout.names)
    return make_error(
        errc::integrity_violation,
        "table '" + std::string(name) + "' does not have the columns its recorded DDL gives it");
  return t;
}

// Rows of a recorded table: by (chain, position) for verification, else in commit order.
class recorded_cursor : public detail::scan_cursor {
 public:
  void read_stored(verify_row& row) { scan_cursor::read_stored(row, *layout_); }
  // The stored text of column i of the layout (a string kind), or nothing if it is null.
  std::optional<std::string_view> text(std::size_t i) {
    column_reader r(stmt(), 1 + static_cast<int>(i));
    if (r.is_null()) return std::nullopt;
    return r.text();
  }
  // The row in the export form: every non-null column, keys sorted.
  void write_json(std::string& out) {
    column_reader r(stmt(), 0);
    logline::detail::write_stored_object(out, *layout_, layout_->sorted, r,
                                         [&](std::size_t i) { r.at(1 + static_cast<int>(i)); });
  }

  static result<recorded_cursor> open(database& db, const recorded_table& t, bool chain_order) {
    recorded_cursor c;
    c.layout_ = &t.layout;
    std::string columns;
    for (const auto& n : t.layout.names) columns += ", " + detail::quote(n);
    auto column = [&](std::string_view name) -> std::optional<std::size_t> {
      const auto i = t.layout.index_of(name);
      if (i == t.layout.names.size()) return std::nullopt;
      return i;
    };
    const bool per_tenant = t.scope == chain_scope::per_tenant && column("tenant_id");
    LOGLINE_TRY(st, db.prepare("SELECT rowid" + columns + " FROM " + detail::quote(t.name) +
                               detail::scan_order(t.profile.chained && chain_order, per_tenant)));
    c.start(std::move(st), per_tenant ? column("tenant_id") : std::nullopt,
            column("chain_position"));
    return c;
  }

 private:
  const logline::detail::stored_layout* layout_ = nullptr;
};

// Verifies a recorded table as ledger::verify verifies its own: hashes, links, signatures,
// trusted keys, expected heads. Trusted keys on a table that records no signatures are an error
// (nothing could be checked against them).
inline result<verify_report> verify_recorded(database& db, const recorded_table& t,
                                             const verify_options& options) {
  if (!options.trusted_keys.empty() && !t.profile.signed_)
    return make_error(
        errc::invalid_argument,
        "table '" + t.name +
            "' records no signatures (its DDL has no NOT NULL signature and public_key): "
            "trusted keys cannot be checked");
  LOGLINE_TRY(cursor, recorded_cursor::open(db, t, true));
  logline::detail::verify_row_scanner<recorded_cursor> rows(std::move(cursor));
  return verify_rows(rows, t.profile, options);
}

}  // namespace logline::sqlite
