#pragma once
// The SQLite store of one span type: DDL derived from the schema and the policies, prepared
// statements, and the operations the ledger needs. Tenancy is applied here in SQL (SQLite has no
// row-level security); the rules are those of logline::may_read / may_write.
#include <sqlite3.h>

#include <functional>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/detail/row_scan.hpp"
#include "logline/detail/stored_row.hpp"
#include "logline/schema.hpp"
#include "logline/sqlite/database.hpp"
#include "logline/sqlite/scan_cursor.hpp"

namespace logline::sqlite {

namespace detail {

inline std::string column_type(column_kind k) {
  switch (k) {
    case column_kind::integer:
    case column_kind::boolean:
      return "INTEGER";
    case column_kind::real:
      return "REAL";
    default:
      return "TEXT";
  }
}

}  // namespace detail

template <class Span>
class store {
  using schema_t = schema<Span>;

 public:
  store(database& db, table_options options) : db_(&db), options_(options) {}

  const table_options& options() const noexcept { return options_; }
  database& db() const noexcept { return *db_; }

  // The DDL for this span type and policy set (what sql/sqlite/ checks in for the universal span).
  static std::string ddl(const table_options& o) {
    const auto& cols = schema_t::columns();
    const std::string t = detail::quote(schema_t::table_name);
    const std::string tn(schema_t::table_name);
    std::string s = "CREATE TABLE IF NOT EXISTS " + t + " (\n";
    for (const auto& c : cols) {
      const std::string q = detail::quote(c.name);
      s += "  " + q + " " + detail::column_type(c.kind);
      if (!c.nullable || required_column(o, c.name)) s += " NOT NULL";
      switch (c.kind) {
        case column_kind::visibility:
          if (!c.nullable) s += " DEFAULT 'private'";
          s += " CHECK (" + q + " IN ('private', 'tenant', 'public'))";
          break;
        case column_kind::boolean:
          if (!c.nullable) s += " DEFAULT 0";
          s += " CHECK (" + q + " IN (0, 1))";
          break;
        case column_kind::uuid:
          s += " CHECK (length(" + q + ") = 36)";
          break;
        case column_kind::timestamp:
          s += " CHECK (length(" + q + ") = 24)";
          break;
        case column_kind::hex:
          s += " CHECK (length(" + q + ") = " + std::to_string(c.hex_length) + ")";
          break;
        case column_kind::json:
        case column_kind::uuid_list:
          s += " CHECK (" + q + " IS NULL OR json_valid(" + q + "))";
          break;
        default:
          break;
      }
      if (c.name == "seq" || c.name == "chain_position" || c.name == "duration_ms")
        s += " CHECK (" + q + " >= 0)";
      s += ",\n";
    }
    s += "  PRIMARY KEY (\"id\", \"seq\")\n) STRICT;\n";
    auto has = [&](std::string_view n) { return schema_t::has_column(n); };
    auto index = [&](std::string_view suffix, std::string_view body, bool unique = false) {
      s += std::string("CREATE ") + (unique ? "UNIQUE " : "") + "INDEX IF NOT EXISTS " +
           detail::quote(tn + "_" + std::string(suffix)) + " ON " + t + " " + std::string(body) +
           ";\n";
    };
    if (has("at")) index("at", "(\"at\" DESC)");
    if (has("entity_type") && has("at")) index("entity_type_at", "(\"entity_type\", \"at\" DESC)");
    if (has("owner_id") && has("tenant_id")) index("owner_tenant", "(\"owner_id\", \"tenant_id\")");
    // A tenant's spans of one type in a time range: the runtime's quota count, tenant timelines.
    if (has("tenant_id") && has("entity_type") && has("at"))
      index("tenant_type_at", "(\"tenant_id\", \"entity_type\", \"at\" DESC)");
    if (has("trace_id")) index("trace", "(\"trace_id\")");
    if (has("parent_id")) index("parent", "(\"parent_id\")");
    // One scheduled request per (parent, owner, metadata.request_key): docs/runtime.md, "Requests".
    if (has("parent_id") && has("entity_type") && has("status") && has("owner_id") &&
        has("tenant_id") && has("metadata") &&
        schema_t::columns()[schema_t::index_of("metadata")].kind == column_kind::json)
      index("one_scheduled_request",
            "(\"parent_id\", coalesce(\"owner_id\", ''), coalesce(\"tenant_id\", x''), "
            "coalesce(json_extract(\"metadata\", '$.request_key'), '')) "
            "WHERE \"entity_type\" = 'request' AND \"status\" = 'scheduled'",
            true);
    else if (has("parent_id") && has("entity_type") && has("status"))
      index("one_scheduled_request",
            "(\"parent_id\") WHERE \"entity_type\" = 'request' AND \"status\" = 'scheduled'", true);
    if (o.chained) {
      if (o.scope == chain_scope::per_tenant && has("tenant_id"))
        index("chain", "(coalesce(\"tenant_id\", x''), \"chain_position\")", true);
      else
        index("chain", "(\"chain_position\")", true);
    }
    for (const auto& stmt : guard_statements(o)) s += stmt + "\n";
    return s;
  }

  // The chain head: an index seek on the chain index (tests/backends check the query plan).
  static std::string head_sql(const table_options& o) {
    const bool per_tenant = o.scope == chain_scope::per_tenant && schema_t::has_column("tenant_id");
    return "SELECT \"chain_position\", \"curr_hash\" FROM " + detail::quote(schema_t::table_name) +
           (per_tenant ? " WHERE coalesce(\"tenant_id\", x'') = ?1" : "") +
           " ORDER BY \"chain_position\" DESC LIMIT 1";
  }
  // The latest version of an entity and, with tenancy columns, its owner pair and visibility:
  // one seek on the primary key (tests/backends check the query plan).
  static std::string entity_sql() {
    const bool owners = schema_t::has_column("owner_id") && schema_t::has_column("tenant_id") &&
                        schema_t::has_column("visibility");
    return "SELECT \"seq\"" +
           std::string(owners ? ", \"owner_id\", \"tenant_id\", \"visibility\"" : "") + " FROM " +
           detail::quote(schema_t::table_name) + " WHERE \"id\" = ?1 ORDER BY \"seq\" DESC LIMIT 1";
  }

  // The append_only triggers. (The version rule -- a version follows the previous one and keeps
  // its entity's owner pair -- is the library's, checked inside the write transaction: SQLite
  // has no roles, whoever writes the file is the operator, and a BEFORE INSERT trigger, even one
  // whose WHEN is false, cost 40 % of insert throughput. docs/decisions.md, 47.)
  static std::vector<std::string> guard_statements(const table_options& o) {
    std::vector<std::string> out;
    if (!o.append_only) return out;
    const std::string t = detail::quote(schema_t::table_name);
    const std::string tn(schema_t::table_name);
    for (const char* op : {"UPDATE", "DELETE"}) {
      const std::string lower = op[0] == 'U' ? "update" : "delete";
      out.push_back("CREATE TRIGGER IF NOT EXISTS " + detail::quote(tn + "_no_" + lower) +
                    " BEFORE " + op + " ON " + t +
                    " BEGIN SELECT RAISE(ABORT, 'logline: spans are append-only; " + op +
                    " refused'); END;");
    }
    return out;
  }

  // Creates the table if missing and records the DDL it was made with; refuses to run against a
  // table made for another schema or policy set.
  // Statements that record a table made from ddl(o) as logline's (what migrate does after
  // creating it), so that a database created from a DDL script opens, also read-only.
  static std::string record_sql(const table_options& o) {
    const std::string sql = ddl(o);
    std::string quoted = "'";
    for (char c : sql) quoted += c == '\'' ? std::string("''") : std::string(1, c);
    quoted += "'";
    return std::string(schema_table_sql) +
           ";\nINSERT INTO logline_schema (table_name, ddl_blake3, ddl) VALUES ('" +
           std::string(schema_t::table_name) + "', '" + blake3_hex(sql) + "', " + quoted + ");\n";
  }

  result<void> migrate() {
    {
      std::lock_guard lock(db_->mutex());
      LOGLINE_TRY_VOID(create_table());
    }
    return prepare_statements();
  }

 private:
  static constexpr const char* schema_table_sql =
      "CREATE TABLE IF NOT EXISTS logline_schema (table_name TEXT PRIMARY KEY, ddl_blake3 TEXT NOT "
      "NULL, ddl TEXT NOT NULL) STRICT";

  result<void> create_table() {
    const std::string sql = ddl(options_);
    const std::string fingerprint = blake3_hex(sql);
    LOGLINE_TRY_VOID(db_->exec("BEGIN IMMEDIATE"));
    auto fail = [&](error_info e) -> result<void> {
      (void)db_->exec("ROLLBACK");
      return e;
    };
    if (auto r = db_->exec(schema_table_sql); !r) return fail(r.error());
    auto sel = db_->prepare("SELECT ddl_blake3, ddl FROM logline_schema WHERE table_name = ?1");
    if (!sel) return fail(sel.error());
    sqlite3_bind_text(sel->get(), 1, schema_t::table_name.data(),
                      static_cast<int>(schema_t::table_name.size()), SQLITE_STATIC);
    const int rc = sqlite3_step(sel->get());
    if (rc == SQLITE_ROW) {
      const std::string existing =
          reinterpret_cast<const char*>(sqlite3_column_text(sel->get(), 0));
      if (existing != fingerprint) {
        const auto* recorded = reinterpret_cast<const char*>(sqlite3_column_text(sel->get(), 1));
        return fail(schema_mismatch(schema_t::table_name, recorded ? recorded : "", sql));
      }
      // Guards dropped outside logline (the triggers) are put back; CREATE ... IF NOT EXISTS
      // leaves intact ones alone. Indexes are not rebuilt here: a forked chain would make that
      // fail, and verify reports forks.
      if (!db_->options().read_only)
        for (const auto& stmt : guard_statements(options_))
          if (auto r = db_->exec(stmt); !r) return fail(r.error());
      return db_->exec("COMMIT");
    }
    if (rc != SQLITE_DONE) return fail(db_->last_error(rc, "reading logline_schema"));
    if (auto r = db_->exec(sql); !r) return fail(r.error());
    auto ins = db_->prepare(
        "INSERT INTO logline_schema (table_name, ddl_blake3, ddl) VALUES (?1, ?2, ?3)");
    if (!ins) return fail(ins.error());
    sqlite3_bind_text(ins->get(), 1, schema_t::table_name.data(),
                      static_cast<int>(schema_t::table_name.size()), SQLITE_STATIC);
    sqlite3_bind_text(ins->get(), 2, fingerprint.c_str(), -1, SQLITE_STATIC);
    sqlite3_bind_text(ins->get(), 3, sql.c_str(), -1, SQLITE_STATIC);
    if (int r = sqlite3_step(ins->get()); r != SQLITE_DONE)
      return fail(db_->last_error(r, "recording the schema"));
    if (auto r = db_->exec("COMMIT"); !r) return fail(r.error());
    return {};
  }

 public:
  // ---- writing ---------------------------------------------------------------------------
  // A write transaction (BEGIN IMMEDIATE: appends from every connection are serialized).
  class transaction {
   public:
    explicit transaction(store& s) : s_(s) {}

    result<std::optional<entity_state>> entity(const uuid& id) {
      sqlite3_stmt* st = s_.entity_.get();
      s_.entity_.reset();
      binder b(st);
      value_traits<uuid>::bind(id, b);
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) {
        s_.entity_.reset();
        return std::optional<entity_state>();
      }
      if (rc != SQLITE_ROW) return s_.db_->last_error(rc, "reading the latest version");
      entity_state e;
      e.latest_seq = static_cast<std::int32_t>(sqlite3_column_int64(st, 0));
      if (sqlite3_column_count(st) == 4) {
        auto text = [&](int col) -> std::optional<std::string> {
          if (sqlite3_column_type(st, col) == SQLITE_NULL) return std::nullopt;
          return std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, col)),
                             static_cast<std::size_t>(sqlite3_column_bytes(st, col)));
        };
        e.owner_id = text(1);
        e.tenant_id = text(2);
        auto v = parse_visibility(text(3).value_or(""));
        if (v) e.visibility = *v;
      }
      s_.entity_.reset();
      return std::optional<entity_state>(std::move(e));
    }

    // The head of the chain a span belongs to (tenant = the span's tenant for per-tenant chains).
    result<std::optional<chain_head>> head(const std::optional<std::string>& tenant) {
      sqlite3_stmt* st = s_.head_.get();
      s_.head_.reset();
      if (s_.options_.scope == chain_scope::per_tenant && schema_t::has_column("tenant_id")) {
        if (tenant)
          sqlite3_bind_text64(st, 1, tenant->data(), tenant->size(), SQLITE_TRANSIENT, SQLITE_UTF8);
        else
          sqlite3_bind_zeroblob(st, 1, 0);
      }
      const int rc = sqlite3_step(st);
      if (rc == SQLITE_DONE) {
        s_.head_.reset();
        return std::optional<chain_head>();
      }
      if (rc != SQLITE_ROW) return s_.db_->last_error(rc, "reading the chain head");
      chain_head h;
      h.position = sqlite3_column_int64(st, 0);
      column_reader r(st, 1);
      if (r.is_null())
        return make_error(errc::integrity_violation, "the chain head has no curr_hash");
      auto d = digest::parse(r.text());
      if (!d)
        return make_error(errc::integrity_violation,
                          "the chain head's curr_hash is corrupt: " + d.error().message());
      h.hash = *d;
      s_.head_.reset();
      return std::optional<chain_head>(h);
    }

    result<void> insert(const Span& span) {
      sqlite3_stmt* st = s_.insert_.get();
      s_.insert_.reset();
      binder b(st);
      for (const auto& c : schema_t::columns()) c.bind(span, b);
      if (b.status() != SQLITE_OK)
        return make_error(errc::storage_error,
                          std::string("binding a span: ") + sqlite3_errstr(b.status()))
            .mark_from_storage();
      const int rc = sqlite3_step(st);
      s_.insert_.reset();
      if (rc != SQLITE_DONE) {
        if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
          return make_error(errc::version_conflict, "span " + span.id.to_string() + " version " +
                                                        std::to_string(span.seq) +
                                                        " already exists");
        // The other constraints: the message names the rule, and the engine's text stays in the
        // operator's view (from_storage).
        const std::string engine = sqlite3_errmsg(s_.db_->handle());
        if (rc == SQLITE_CONSTRAINT_UNIQUE)
          return make_error(errc::version_conflict, "span " + span.id.to_string() +
                                                        " takes a unique key that is taken (" +
                                                        engine + ")")
              .mark_from_storage();
        if (rc == SQLITE_CONSTRAINT_TRIGGER)
          return make_error(errc::permission_denied,
                            "span " + span.id.to_string() + " version " + std::to_string(span.seq) +
                                " was refused by the database (" + engine + ")")
              .mark_from_storage();
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
          return make_error(errc::invalid_span, "span " + span.id.to_string() +
                                                    " breaks a constraint of the table (" + engine +
                                                    ")")
              .mark_from_storage();
        return s_.db_->last_error(rc, "inserting a span");
      }
      return {};
    }

   private:
    store& s_;
  };

  // Runs fn(transaction&) -> result<R> inside one write transaction: all or nothing. `who` is
  // the writer's identity (SQLite checks it in the library, before this is called).
  // `privileged`: the writer has the operator's rights (checked by the ledger; SQLite has no
  // roles).
  template <class F>
  auto write(const identity* who, bool privileged, F&& fn)
      -> decltype(fn(std::declval<transaction&>())) {
    (void)who;
    (void)privileged;
    std::lock_guard lock(db_->mutex());
    LOGLINE_TRY_VOID(db_->exec("BEGIN IMMEDIATE"));
    transaction tx(*this);
    auto out = fn(tx);
    if (!out) {
      (void)db_->exec("ROLLBACK");
      return out;
    }
    if (auto r = db_->exec("COMMIT"); !r) {
      (void)db_->exec("ROLLBACK");
      return std::move(r).error();
    }
    db_->notify_commit();
    return out;
  }

  // ---- reading ---------------------------------------------------------------------------
  result<std::optional<Span>> latest(const uuid& id, const identity* who) {
    return one("SELECT " + select_list_ + " FROM " + table_ + " WHERE \"id\" = :id" + visible(who) +
                   " ORDER BY \"seq\" DESC LIMIT 1",
               id, std::nullopt, who);
  }
  result<std::optional<Span>> version(const uuid& id, std::int32_t seq, const identity* who) {
    return one("SELECT " + select_list_ + " FROM " + table_ +
                   " WHERE \"id\" = :id AND \"seq\" = :seq" + visible(who),
               id, seq, who);
  }
  result<std::vector<Span>> history(const uuid& id, const identity* who) {
    auto r = acquire_reader();
    LOGLINE_TRY(st, cached(r, "SELECT " + select_list_ + " FROM " + table_ + " WHERE \"id\" = :id" +
                                  visible(who) + " ORDER BY \"seq\""));
    bind_named(st.get(), ":id", id);
    bind_identity(st.get(), who);
    return collect(*r.conn, st.get());
  }

  // How many spans match q's filters (its cursor and limit aside), counting up to `cap`.
  result<std::int64_t> count(const timeline_query& q, const identity* who, std::int64_t cap) {
    LOGLINE_TRY(filters,
                timeline_filters(q, [](std::string_view c) { return schema_t::has_column(c); }));
    auto rd = acquire_reader();
    LOGLINE_TRY(st, cached(rd, "SELECT count(*) FROM (SELECT 1 FROM " + table_ +
                                   filter_sql(q, filters) + visible(who) + " LIMIT :limit)"));
    sqlite3_stmt* s = st.get();
    bind_filters(s, q, filters);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"), cap);
    bind_identity(s, who);
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return rd.conn->last_error(rc, "counting spans");
    return sqlite3_column_int64(s, 0);
  }

  result<timeline_page<Span>> timeline(const timeline_query& q, const identity* who) {
    LOGLINE_TRY(filters,
                timeline_filters(q, [](std::string_view c) { return schema_t::has_column(c); }));
    std::string where = filter_sql(q, filters);
    std::optional<timeline_key> cursor;
    if (!q.cursor.empty()) {
      LOGLINE_TRY(key, timeline_key::parse(q.cursor));
      cursor = key;
      where += " AND (\"at\", \"id\", \"seq\") < (:c_at, :c_id, :c_seq)";
    }
    auto rd = acquire_reader();
    LOGLINE_TRY(st,
                cached(rd, "SELECT " + select_list_ + " FROM " + table_ + where + visible(who) +
                               " ORDER BY \"at\" DESC, \"id\" DESC, \"seq\" DESC LIMIT :limit"));
    sqlite3_stmt* s = st.get();
    bind_filters(s, q, filters);
    if (cursor) {
      bind_text(s, ":c_at", cursor->at.to_string());
      bind_text(s, ":c_id", cursor->id.to_string());
      sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":c_seq"), cursor->seq);
    }
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"),
                       static_cast<std::int64_t>(q.limit) + 1);
    bind_identity(s, who);
    LOGLINE_TRY(rows, collect(*rd.conn, s));
    return make_timeline_page(std::move(rows), q.limit);
  }

  // An exclusive lock on `key` until the returned handle is dropped. In process: other users of
  // this store wait (SQLite has no lock a process could hold across its transactions).
  result<std::shared_ptr<void>> hold(std::string_view key) {
    std::shared_ptr<std::mutex> m;
    {
      std::lock_guard lock(holds_->mutex);
      auto& slot = holds_->locks[std::string(key)];
      if (!slot) slot = std::make_shared<std::mutex>();
      m = slot;
    }
    m->lock();
    return std::shared_ptr<void>(static_cast<void*>(nullptr), [m](void*) { m->unlock(); });
  }

  // Spans committed after feed position `after`, in commit order (SQLite: rowid order; writers
  // are serialized, so a rowid can never become visible after a larger one).
  result<std::vector<change<Span>>> changes(std::string_view cursor, std::size_t limit,
                                            const identity* who) {
    std::int64_t after = 0;
    if (!cursor.empty()) {
      if (cursor.size() > 18 || cursor.find_first_not_of("0123456789") != std::string_view::npos)
        return make_error(errc::invalid_argument,
                          "malformed feed cursor '" + std::string(cursor.substr(0, 40)) + "'");
      after = std::stoll(std::string(cursor));
    }
    auto rd = acquire_reader();
    LOGLINE_TRY(st, cached(rd, "SELECT rowid, " + select_list_ + " FROM " + table_ +
                                   " WHERE rowid > :after" + visible(who) +
                                   " ORDER BY rowid LIMIT :limit"));
    sqlite3_stmt* s = st.get();
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":after"), after);
    sqlite3_bind_int64(s, sqlite3_bind_parameter_index(s, ":limit"),
                       static_cast<std::int64_t>(limit));
    bind_identity(s, who);
    std::vector<change<Span>> out;
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return rd.conn->last_error(rc, "reading the change feed");
      change<Span> c;
      c.cursor = std::to_string(sqlite3_column_int64(s, 0));
      LOGLINE_TRY_VOID(decode(s, 1, c.span));
      out.push_back(std::move(c));
    }
    return out;
  }

  // The cursor of the feed's last entry, whoever may see it ("" while the feed is empty). A
  // filtered reader that got a short page has seen everything up to a head read before it.
  result<std::string> feed_head() {
    auto rd = acquire_reader();
    LOGLINE_TRY(st, cached(rd, "SELECT max(rowid) FROM " + table_));
    sqlite3_stmt* s = st.get();
    const int rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) return rd.conn->last_error(rc, "reading the feed's head");
    if (sqlite3_column_type(s, 0) == SQLITE_NULL) return std::string();
    return std::to_string(sqlite3_column_int64(s, 0));
  }

  // ---- verification scan -----------------------------------------------------------------
  // Rows in chain order, read on a connection of its own when the database is a file (so
  // appends go on meanwhile), else under the connection's lock. The scanners over it are
  // every backend's (logline/detail/row_scan.hpp).
  class row_cursor : public detail::scan_cursor {
   public:
    result<void> decode(Span& span) { return store::decode(stmt(), 1, span); }
    void read_stored(verify_row& row) {
      scan_cursor::read_stored(row, logline::detail::stored_layout::of<Span>());
    }

   private:
    friend class store;
  };
  using scanner = logline::detail::row_scanner<row_cursor, Span>;
  using verify_scanner = logline::detail::verify_row_scanner<row_cursor>;

  result<verify_scanner> verify_scan() {
    return logline::detail::scan_with<verify_scanner>(open_rows(true));
  }
  result<scanner> scan(bool chain_order = true) {
    return logline::detail::scan_with<scanner>(open_rows(chain_order));
  }

  // chain_order: rows by (chain, position) for verification; else in commit order.
  result<row_cursor> open_rows(bool chain_order) {
    row_cursor sc;
    database* conn = db_;
    if (!db_->is_memory()) {
      LOGLINE_TRY(own, database::open(db_->path(), {.sync = durability::normal,
                                                    .busy_timeout = db_->options().busy_timeout,
                                                    .read_only = true,
                                                    .immutable = db_->options().immutable}));
      conn = own.get();
      sc.hold(std::move(own));
    } else {
      sc.hold(std::unique_lock(db_->mutex()));
    }
    const bool per_tenant =
        options_.scope == chain_scope::per_tenant && schema_t::has_column("tenant_id");
    LOGLINE_TRY(st, conn->prepare("SELECT rowid, " + select_list_ + " FROM " + table_ +
                                  detail::scan_order(options_.chained && chain_order, per_tenant)));
    auto column = [](std::string_view name) -> std::optional<std::size_t> {
      if (!schema_t::has_column(name)) return std::nullopt;
      return schema_t::index_of(name);
    };
    sc.start(std::move(st), per_tenant ? column("tenant_id") : std::nullopt,
             column("chain_position"));
    return sc;
  }

  // Decodes the columns of the current row starting at `first`.
  static result<void> decode(sqlite3_stmt* s, int first, Span& span) {
    column_reader r(s, first);
    int i = first;
    for (const auto& c : schema_t::columns()) {
      r.at(i++);
      if (r.is_null()) {
        if (!c.nullable)
          return make_error(errc::integrity_violation,
                            "column '" + std::string(c.name) + "' is null");
        c.set_null(span);
        continue;
      }
      if (auto res = c.read(span, r); !res)
        return make_error(errc::integrity_violation,
                          "column '" + std::string(c.name) + "': " + res.error().message());
    }
    return {};
  }

 private:
  result<void> prepare_statements() {
    const auto& cols = schema_t::columns();
    table_ = detail::quote(schema_t::table_name);
    select_list_.clear();
    std::string params;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      if (i) {
        select_list_ += ", ";
        params += ", ";
      }
      select_list_ += detail::quote(cols[i].name);
      params += '?';
      params += std::to_string(i + 1);
    }
    std::lock_guard lock(db_->mutex());
    LOGLINE_TRY(insert_stmt, db_->prepare("INSERT INTO " + table_ + " (" + select_list_ +
                                          ") VALUES (" + params + ")"));
    insert_ = std::move(insert_stmt);
    LOGLINE_TRY(entity_stmt, db_->prepare(entity_sql()));
    entity_ = std::move(entity_stmt);
    if (options_.chained) {
      LOGLINE_TRY(head_stmt, db_->prepare(head_sql(options_)));
      head_ = std::move(head_stmt);
    }
    // Read-only connections for reads (file databases only: an in-memory one is private to its
    // connection).
    if (!db_->is_memory() && db_->options().read_readers > 0) {
      for (unsigned i = 0; i < db_->options().read_readers; ++i) {
        auto o = db_->options();
        o.read_only = true;
        LOGLINE_TRY(conn, database::open(db_->path(), o));
        auto slot = std::make_unique<read_slot>();
        slot->conn = std::move(conn);
        readers_.push_back(std::move(slot));
      }
    }
    return {};
  }

  // A prepared statement for this SQL text, kept for the store's lifetime (the caller holds the
  // connection's lock). It comes back reset, with its bindings cleared.
  class statement_ref {
   public:
    explicit statement_ref(sqlite3_stmt* s) noexcept : s_(s) {}
    statement_ref(statement_ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    statement_ref& operator=(statement_ref&&) = delete;
    ~statement_ref() {
      if (!s_) return;
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
    sqlite3_stmt* get() const noexcept { return s_; }

   private:
    sqlite3_stmt* s_;
  };
  // A connection to read on, locked for the caller, with its statement cache: one of the store's
  // read-only connections (file databases: WAL readers run in parallel, and see every commit
  // made before their statement starts), or the main connection.
  struct reader {
    std::unique_lock<std::mutex> lock;
    database* conn;
    std::unordered_map<std::string, statement>* cache;
  };
  reader acquire_reader() {
    if (readers_.empty()) return {std::unique_lock(db_->mutex()), db_, &cache_};
    const std::size_t start = next_reader_->fetch_add(1, std::memory_order_relaxed);
    for (std::size_t k = 0; k < readers_.size(); ++k) {
      auto& slot = *readers_[(start + k) % readers_.size()];
      std::unique_lock lock(slot.mutex, std::try_to_lock);
      if (lock.owns_lock()) return {std::move(lock), slot.conn.get(), &slot.cache};
    }
    auto& slot = *readers_[start % readers_.size()];
    return {std::unique_lock(slot.mutex), slot.conn.get(), &slot.cache};
  }
  result<statement_ref> cached(reader& r, const std::string& sql) {
    auto& cache = *r.cache;
    auto it = cache.find(sql);
    if (it == cache.end()) {
      if (cache.size() >= 64)
        cache.clear();  // timeline filter combinations are bounded, but stay small
      LOGLINE_TRY(st, r.conn->prepare(sql));
      it = cache.emplace(sql, std::move(st)).first;
    }
    return statement_ref(it->second.get());
  }

  // The read rule of logline::may_read (an unbound :who_tenant is NULL: a tenantless identity).
  std::string visible(const identity* who) const {
    if (!who || !options_.tenancy) return {};
    return " AND ((\"owner_id\" = :who_user AND \"tenant_id\" IS :who_tenant) OR \"visibility\" = "
           "'public' OR "
           "(\"tenant_id\" = :who_tenant AND \"visibility\" = 'tenant'))";
  }
  void bind_identity(sqlite3_stmt* s, const identity* who) const {
    if (!who || !options_.tenancy) return;
    bind_text(s, ":who_user", who->user_id);
    if (who->tenant_id) bind_text(s, ":who_tenant", *who->tenant_id);
  }
  static void bind_text(sqlite3_stmt* s, const std::string& name, const std::string& value) {
    sqlite3_bind_text64(s, sqlite3_bind_parameter_index(s, name.c_str()), value.data(),
                        value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  static void bind_named(sqlite3_stmt* s, const char* name, const uuid& id) {
    bind_text(s, name, id.to_string());
  }

  // The WHERE clause of a timeline query's filters and time range, and its bindings.
  template <class Filters>
  static std::string filter_sql(const timeline_query& q, const Filters& filters) {
    std::string where = " WHERE 1 = 1";
    for (const auto& f : filters)
      where += " AND " + detail::quote(f.column) + " = :" + std::string(f.column);
    if (q.since) where += " AND \"at\" >= :since";
    if (q.until) where += " AND \"at\" < :until";
    return where;
  }
  template <class Filters>
  static void bind_filters(sqlite3_stmt* s, const timeline_query& q, const Filters& filters) {
    for (const auto& f : filters) bind_text(s, ":" + std::string(f.column), f.value);
    if (q.since) bind_text(s, ":since", q.since->to_string());
    if (q.until) bind_text(s, ":until", q.until->to_string());
  }

  result<std::vector<Span>> collect(database& conn, sqlite3_stmt* s) {
    std::vector<Span> out;
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return conn.last_error(rc, "reading spans");
      Span span{};
      LOGLINE_TRY_VOID(decode(s, 0, span));
      out.push_back(std::move(span));
    }
    return out;
  }
  result<std::optional<Span>> one(const std::string& sql, const uuid& id,
                                  std::optional<std::int32_t> seq, const identity* who) {
    auto rd = acquire_reader();
    LOGLINE_TRY(st, cached(rd, sql));
    bind_named(st.get(), ":id", id);
    if (seq) sqlite3_bind_int64(st.get(), sqlite3_bind_parameter_index(st.get(), ":seq"), *seq);
    bind_identity(st.get(), who);
    LOGLINE_TRY(rows, collect(*rd.conn, st.get()));
    if (rows.empty()) return std::optional<Span>();
    return std::optional<Span>(std::move(rows.front()));
  }

  struct read_slot {
    std::unique_ptr<database> conn;
    std::mutex mutex;
    std::unordered_map<std::string, statement> cache;
  };

  database* db_;
  table_options options_;
  std::string table_, select_list_;
  statement insert_, entity_, head_;
  std::unordered_map<std::string, statement> cache_;  // the main connection's (under its mutex)
  std::vector<std::unique_ptr<read_slot>> readers_;
  std::unique_ptr<std::atomic<std::size_t>> next_reader_ =
      std::make_unique<std::atomic<std::size_t>>(0);
  struct hold_state {
    std::mutex mutex;
    std::map<std::string, std::shared_ptr<std::mutex>> locks;
  };
  std::unique_ptr<hold_state> holds_ = std::make_unique<hold_state>();
};

}  // namespace logline::sqlite
