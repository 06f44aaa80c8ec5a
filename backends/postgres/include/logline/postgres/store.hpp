#pragma once
// The PostgreSQL store of one span type: DDL derived from the schema and the policies (tables,
// indexes, append-only triggers, row-level security, the notify trigger), recorded migrations,
// and the operations the ledger needs.
//
// Tenancy is enforced twice: by row-level security (FORCE ROW LEVEL SECURITY; the identity is set
// per transaction with set_config('app.user_id', $1, true)), which holds for every client of the
// database, and by the same conditions in the library's own queries.
#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/detail/row_scan.hpp"
#include "logline/detail/stored_row.hpp"
#include "logline/json.hpp"
#include "logline/policy/tenant_isolated.hpp"
#include "logline/postgres/database.hpp"
#include "logline/postgres/ddl.hpp"
#include "logline/postgres/detail/advisory_lock.hpp"
#include "logline/postgres/detail/row_codec.hpp"
#include "logline/schema.hpp"

namespace logline::postgres {

template <class Span>
class store {
  using schema_t = schema<Span>;

 public:
  store(database& db, table_options options) : db_(&db), options_(options) { build_sql(); }

  const table_options& options() const noexcept { return options_; }
  database& db() const noexcept { return *db_; }

  // The DDL and its pieces (ddl.hpp).
  using ddl_t = table_ddl<Span>;
  static std::string ddl(const table_options& o) { return ddl_t::ddl(o); }

  // Creates the schema if it is not recorded yet (in one transaction, under an advisory lock so
  // that concurrent openers wait), records it in logline_migrations, and refuses a table made
  // for another span schema or policy set. A recorded migration is not run again.
  result<void> migrate() {
    LOGLINE_TRY(owner, db_->acquire_owner());
    connection& conn = *owner;
    const std::string sql = ddl(options_);
    const std::string fingerprint = blake3_hex(sql);
    const std::string name(schema_t::table_name);
    auto fail = [&](error_info e) -> result<void> {
      if (!conn.broken()) (void)conn.exec("ROLLBACK");
      return e;
    };
    LOGLINE_TRY_VOID(conn.exec("BEGIN", "migrating"));
    if (auto r = conn.query_once("SELECT pg_catalog.pg_advisory_xact_lock(7306080117256126464)", {},
                                 "migrating");
        !r)
      return fail(r.error());
    auto exists = conn.query_once("SELECT pg_catalog.to_regclass('logline_migrations') IS NOT NULL",
                                  {}, "migrating");
    if (!exists) return fail(exists.error());
    if (exists->text(0, 0) == "t") {
      auto rec = conn.query_once("SELECT ddl_blake3, ddl FROM logline_migrations WHERE name = $1",
                                 params().add(name), "reading logline_migrations");
      if (!rec) return fail(rec.error());
      if (rec->rows() == 1) {
        if (rec->text(0, 0) != fingerprint)
          return fail(schema_mismatch(name, rec->text(0, 1), sql));
        // Guards removed outside logline are put back (this needs the owner).
        auto intact = conn.query_once(ddl_t::guards_check_sql(options_), {},
                                      "checking the append-only guards");
        if (!intact) return fail(intact.error());
        if (intact->text(0, 0) != "t") {
          for (const auto& stmt : ddl_t::guard_statements(options_))
            if (auto r = conn.exec(stmt, "restoring the guards of '" + name + "'"); !r)
              return fail(with_context(
                  r.error(), "the append-only triggers or row-level security of '" + name +
                                 "' were switched off; open the ledger with open_options.owner to "
                                 "restore them: "));
        }
        return conn.exec("COMMIT", "migrating");
      }
    }
    const std::string record =
        "CREATE TABLE IF NOT EXISTS logline_migrations (\n  name text PRIMARY KEY,\n  ddl_blake3 "
        "text NOT NULL,\n  ddl text NOT NULL,\n"
        "  applied_at timestamptz NOT NULL DEFAULT now(),\n  applied_by text NOT NULL DEFAULT "
        "current_user\n);\nGRANT SELECT ON logline_migrations TO " +
        std::string(application_role) + ";\n";
    auto hint = [&](error_info e) {
      if (!(e == errc::permission_denied)) return e;
      return with_context(
          e, "migrating table '" + name +
                 "' (open the database with open_options.owner, the role that owns the tables): ");
    };
    if (auto r = conn.exec(sql, "creating table '" + name + "'"); !r) return fail(hint(r.error()));
    if (auto r = conn.exec(record, "creating logline_migrations"); !r) return fail(hint(r.error()));
    auto ins = conn.query_once(
        "INSERT INTO logline_migrations (name, ddl_blake3, ddl) VALUES ($1, $2, $3)",
        params().add(name).add(std::string_view(fingerprint)).add(std::string_view(sql)),
        "recording the migration");
    if (!ins) return fail(ins.error());
    return conn.exec("COMMIT", "migrating");
  }

  // Why this database's application connections must not serve requests, or nothing: a role
  // that owns the table (or is a member of its owner), is a superuser or has BYPASSRLS is not
  // held by row-level security, so every tenant's spans would be one bug away (DESIGN §5).
  result<std::optional<std::string>> application_role_problem() {
    LOGLINE_TRY(conn, db_->acquire());
    LOGLINE_TRY(
        role_row,
        conn->query_once(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls, "
            "pg_catalog.pg_has_role(r.oid, c.relowner, 'MEMBER') "
            "FROM pg_catalog.pg_roles r, pg_catalog.pg_class c WHERE r.rolname = current_user AND "
            "c.oid = pg_catalog.to_regclass($1)",
            params().add(std::string_view(table_)), "checking the application role"));
    if (role_row.rows() != 1)
      return std::optional<std::string>("table " + table_ +
                                        " is not visible to the application role");
    const std::string role(role_row.text(0, 0));
    auto yes = [&](int col) { return role_row.text(0, col) == "t"; };
    std::string why;
    if (yes(1))
      why = "is a superuser";
    else if (yes(2))
      why = "has BYPASSRLS";
    else if (yes(3))
      why = "owns table " + table_ + " (or is a member of its owner)";
    if (why.empty()) return std::optional<std::string>();
    return std::optional<std::string>(
        "the application role '" + role + "' " + why +
        ", so row-level security does not hold for it; connect the application with a role that is "
        "a member of " +
        std::string(application_role) +
        " and give the owner's connection separately (docs/security.md)");
  }

  // ---- writing ---------------------------------------------------------------------------
  // A write transaction. Statements are sent in as few round trips as possible: BEGIN and the
  // identity go with the first query; inserts are buffered and sent with COMMIT (one INSERT, a
  // multi-row INSERT under row-level security, else COPY).
  class transaction {
   public:
    transaction(store& s, connection& c, const identity* who, bool optimistic)
        : s_(s), c_(c), optimistic_(optimistic) {
      if (ddl_t::row_security(s_.options_) && who) {
        identity_.add(std::string_view(who->user_id))
            .add(std::string_view(who->tenant_id.value_or("")));
        has_identity_ = true;
      }
    }

    result<std::optional<entity_state>> entity(const uuid& id) {
      params p;
      p.add(std::string_view(id.to_string()));
      LOGLINE_TRY(latest_row, run(s_.entity_sql_, p, "reading the latest version"));
      if (latest_row.rows() != 1 || latest_row.is_null(0, 0)) return std::optional<entity_state>();
      entity_state e;
      e.latest_seq = static_cast<std::int32_t>(latest_row.integer(0, 0));
      auto text = [&](int col) -> std::optional<std::string> {
        if (latest_row.is_null(0, col)) return std::nullopt;
        return std::string(latest_row.text(0, col));
      };
      e.owner_id = text(1);
      e.tenant_id = text(2);
      if (auto v = parse_visibility(text(3).value_or(""))) e.visibility = *v;
      return std::optional<entity_state>(std::move(e));
    }

    // Locks the chain a span belongs to (pg_advisory_xact_lock, held to the end of the
    // transaction) and returns its head.
    result<std::optional<chain_head>> head(const std::optional<std::string>& tenant) {
      const bool per_tenant = ddl_t::per_tenant_chain(s_.options_);
      const std::optional<std::string> key = per_tenant ? tenant : std::nullopt;
      params p;
      p.add(detail::chain_lock_key(schema_t::table_name, key));
      if (per_tenant)
        p.add(tenant);
      else
        p.add_null();
      // This process wrote the chain's last span: take that head without a round trip, and send
      // the lock with the inserts. Under the lock, the unique chain index refuses our position
      // if anyone appended meanwhile, and the transaction is run again without the guess.
      if (optimistic_) {
        if (auto cached = s_.cached_head(key)) {
          params lock;
          lock.add(p.value(0));
          guessed_locks_.push_back(std::move(lock));
          return std::optional<chain_head>(*cached);
        }
      }
      LOGLINE_TRY(head_row, run(s_.lock_chain_sql_, p, "locking the chain"));
      if (head_row.rows() == 0) return std::optional<chain_head>();
      chain_head h;
      h.position = head_row.integer(0, 0);
      if (head_row.is_null(0, 1))
        return make_error(errc::integrity_violation, "the chain head has no curr_hash");
      auto d = digest::parse(head_row.text(0, 1));
      if (!d)
        return make_error(errc::integrity_violation,
                          "the chain head's curr_hash is corrupt: " + d.error().message());
      h.hash = *d;
      return std::optional<chain_head>(h);
    }

    result<void> insert(const Span& span) {
      detail::row_encoder enc(pending_);
      for (const auto& c : schema_t::columns()) {
        enc.kind(c.kind);
        c.bind(span, enc);
      }
      pending_ids_.push_back(span.id);
      pending_seqs_.push_back(span.seq);
      if constexpr (has_chain_columns<Span>) {
        if (s_.options_.chained && span.chain_position && span.curr_hash) {
          std::optional<std::string> key;
          if constexpr (requires { span.tenant_id; })
            if (ddl_t::per_tenant_chain(s_.options_)) key = span.tenant_id;
          written_heads_[key] = chain_head{*span.chain_position, *span.curr_hash};
        }
      }
      return {};
    }
    bool guessed() const noexcept { return !guessed_locks_.empty(); }
    const std::map<std::optional<std::string>, chain_head>& written_heads() const noexcept {
      return written_heads_;
    }

    // Sends what is buffered and commits.
    result<void> commit() {
      std::vector<connection::step> steps;
      add_prelude(steps);
      static const std::string lock_sql = "SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)";
      for (const auto& lock : guessed_locks_) steps.push_back({&lock_sql, &lock});
      const std::size_t n = pending_ids_.size();
      const std::size_t width = schema_t::size;
      std::vector<params> chunks;
      if (n > 1 && !ddl_t::row_security(s_.options_)) {
        // COPY cannot run in a pipeline: send the prelude first.
        if (!steps.empty()) LOGLINE_TRY_VOID(send(steps, "beginning the transaction"));
        steps.clear();
        std::string data;
        data.reserve(n * width * 24);
        for (std::size_t row = 0; row < n; ++row) {
          for (std::size_t i = 0; i < width; ++i) {
            if (i) data += '\t';
            const std::size_t k = row * width + i;
            if (pending_.is_null(k))
              data += "\\N";
            else
              detail::append_copy_value(data, pending_.value(k));
          }
          data += '\n';
        }
        std::string context;
        if (auto r = c_.copy_in(s_.copy_sql_, data, "inserting the batch", &context); !r)
          return locate(r.error(), context);
      } else if (n == 1) {
        steps.push_back({&s_.insert_sql_, &pending_});
      } else if (n > 1) {
        // Row-level security forbids COPY FROM: multi-row INSERTs of up to chunk_rows rows.
        for (std::size_t at = 0; at < n; at += chunk_rows) {
          const std::size_t rows = std::min(chunk_rows, n - at);
          params p;
          for (std::size_t k = at * width; k < (at + rows) * width; ++k) {
            if (pending_.is_null(k))
              p.add_null();
            else
              p.add(std::string_view(pending_.value(k)));
          }
          chunks.push_back(std::move(p));
        }
        chunk_sql_.clear();
        chunk_sql_.reserve(chunks.size());
        for (std::size_t i = 0; i < chunks.size(); ++i)
          chunk_sql_.push_back(s_.multi_insert_sql(std::min(chunk_rows, n - i * chunk_rows)));
        for (std::size_t i = 0; i < chunks.size(); ++i)
          steps.push_back({&chunk_sql_[i], &chunks[i]});
      }
      static const std::string commit_sql = "COMMIT";
      static const params none;
      if (began_ || !steps.empty()) steps.push_back({&commit_sql, &none});
      if (steps.empty()) return {};
      auto r = c_.pipeline(steps, "committing");
      if (!r)
        return r.error() == errc::version_conflict && n == 1 && !guessed() ? conflict(0, r.error())
                                                                           : std::move(r).error();
      return {};
    }

    void abort() {
      if (began_ && !c_.broken()) (void)c_.exec("ROLLBACK");
    }

   private:
    static constexpr std::size_t chunk_rows = 500;

    void add_prelude(std::vector<connection::step>& steps) {
      static const std::string begin_sql = "BEGIN";
      static const std::string identity_sql =
          "SELECT pg_catalog.set_config('app.user_id', $1, true), "
          "pg_catalog.set_config('app.tenant_id', $2, true)";
      static const params none;
      if (began_) return;
      began_ = true;
      steps.push_back({&begin_sql, &none});
      if (has_identity_) steps.push_back({&identity_sql, &identity_});
    }
    result<void> send(std::vector<connection::step>& steps, std::string_view what) {
      LOGLINE_TRY_VOID(c_.pipeline(steps, what));
      return {};
    }
    result<pg_result> run(const std::string& sql, const params& p, std::string_view what) {
      std::vector<connection::step> steps;
      add_prelude(steps);
      steps.push_back({&sql, &p});
      LOGLINE_TRY(results, c_.pipeline(steps, what));
      return std::move(results.back());
    }
    // A unique violation of a single insert, said without the engine's words: the primary key
    // (the version exists: a concurrent writer) or another unique index (a scheduled request's
    // key).
    error_info conflict(std::size_t i, const error_info& e) const {
      const std::string span =
          "span " + pending_ids_[i].to_string() + " version " + std::to_string(pending_seqs_[i]);
      if (e.message().find("_pkey") != std::string::npos)
        return make_error(errc::version_conflict, span + " already exists");
      error_info out = make_error(errc::version_conflict,
                                  span + " takes a unique key that is taken (" + e.message() + ")");
      return out.mark_from_storage();
    }
    // COPY names the failing line in its context ("COPY t, line 3: ..."): name the span.
    error_info locate(const error_info& e, const std::string& context) const {
      const auto at = context.find(", line ");
      if (at == std::string::npos) return e;
      const std::size_t line = std::strtoull(context.c_str() + at + 7, nullptr, 10);
      if (line == 0 || line > pending_ids_.size()) return e;
      return with_context(e, "span #" + std::to_string(line - 1) + " of the batch (" +
                                 pending_ids_[line - 1].to_string() + " version " +
                                 std::to_string(pending_seqs_[line - 1]) + "): ");
    }

    store& s_;
    connection& c_;
    bool optimistic_;
    params identity_;
    bool has_identity_ = false;
    bool began_ = false;
    // The locks of guessed heads, taken with the inserts. A guess needs no check of its own:
    // under the lock, the unique chain index refuses the guessed position if anyone appended
    // since this process did (and the transaction runs again, without guessing).
    std::vector<params> guessed_locks_;
    std::map<std::optional<std::string>, chain_head> written_heads_;
    params pending_;  // schema_t::size values per buffered row
    std::vector<std::string> chunk_sql_;
    std::vector<uuid> pending_ids_;
    std::vector<std::int32_t> pending_seqs_;
  };

  // Runs fn(transaction&) -> result<R> inside one transaction as `who`: all or nothing. When a
  // chain head guessed from this process's last append turns out to have moved, nothing was
  // written and fn runs once more in a fresh transaction, without guessing. A writer with the
  // operator's rights (`privileged`, decided by the ledger) writes on the owner's connection when
  // there is one: its write policy takes spans owned by anyone, the application role's only the
  // caller's own.
  template <class F>
  auto write(const identity* who, bool privileged, F&& fn)
      -> decltype(fn(std::declval<transaction&>())) {
    LOGLINE_TRY(conn, privileged ? db_->acquire_owner() : db_->acquire());
    for (int attempt = 0;; ++attempt) {
      transaction tx(*this, *conn, who, attempt == 0);
      auto out = fn(tx);
      if (!out) {
        tx.abort();
        return out;
      }
      if (auto r = tx.commit(); !r) {
        tx.abort();
        forget_heads(tx.written_heads(), tx.guessed());
        if (tx.guessed() && attempt == 0 && !conn->broken()) continue;
        return std::move(r).error();
      }
      remember_heads(tx.written_heads());
      db_->notify_commit();
      return out;
    }
  }

  // ---- reading ---------------------------------------------------------------------------
  result<std::optional<Span>> latest(const uuid& id, const identity* who) {
    params p;
    p.add(std::string_view(id.to_string()));
    return one(select_ + " WHERE \"id\" = $1" + visible(who, 2) + " ORDER BY \"seq\" DESC LIMIT 1",
               p, who);
  }
  result<std::optional<Span>> version(const uuid& id, std::int32_t seq, const identity* who) {
    params p;
    p.add(std::string_view(id.to_string())).add(std::int64_t{seq});
    return one(select_ + " WHERE \"id\" = $1 AND \"seq\" = $2" + visible(who, 3), p, who);
  }
  result<std::vector<Span>> history(const uuid& id, const identity* who) {
    params p;
    p.add(std::string_view(id.to_string()));
    add_identity(p, who);
    LOGLINE_TRY(
        versions,
        read(select_ + " WHERE \"id\" = $1" + visible(who, 2) + " ORDER BY \"seq\"", p, who));
    return collect(versions, 0);
  }

  // The WHERE clause of a timeline query's filters and time range; their values go into `p`.
  static result<std::string> filter_sql(const timeline_query& q, params& p) {
    LOGLINE_TRY(filters,
                timeline_filters(q, [](std::string_view c) { return schema_t::has_column(c); }));
    std::string where = " WHERE true";
    auto next = [&] { return "$" + std::to_string(p.size()); };
    for (const auto& f : filters) {  // untyped parameters take the column's type (uuid, text)
      p.add(f.value);
      where += " AND " + detail::quote(f.column) + " = " + next();
    }
    if (q.since) {
      p.add(std::string_view(pg_time(*q.since)));
      where += " AND \"at\" >= " + next() + "::timestamptz";
    }
    if (q.until) {
      p.add(std::string_view(pg_time(*q.until)));
      where += " AND \"at\" < " + next() + "::timestamptz";
    }
    return where;
  }

  // How many spans match q's filters (its cursor and limit aside), counting up to `cap`.
  result<std::int64_t> count(const timeline_query& q, const identity* who, std::int64_t cap) {
    params p;
    LOGLINE_TRY(where, filter_sql(q, p));
    const std::string vis = visible(who, static_cast<int>(p.size()) + 1);
    add_identity(p, who);
    p.add(cap);
    LOGLINE_TRY(counted,
                read("SELECT count(*) FROM (SELECT 1 FROM " + detail::quote(schema_t::table_name) +
                         where + vis + " LIMIT $" + std::to_string(p.size()) + ") AS capped",
                     p, who));
    return std::stoll(std::string(counted.text(0, 0)));
  }

  result<timeline_page<Span>> timeline(const timeline_query& q, const identity* who) {
    params p;
    LOGLINE_TRY(where, filter_sql(q, p));
    auto next = [&] { return "$" + std::to_string(p.size()); };
    if (!q.cursor.empty()) {
      LOGLINE_TRY(key, timeline_key::parse(q.cursor));
      p.add(std::string_view(pg_time(key.at)));
      const std::string a = next();
      p.add(std::string_view(key.id.to_string()));
      const std::string b = next();
      p.add(std::int64_t{key.seq});
      where += " AND (\"at\", \"id\", \"seq\") < (" + a + "::timestamptz, " + b + "::uuid, " +
               next() + "::integer)";
    }
    const std::string vis = visible(who, static_cast<int>(p.size()) + 1);
    add_identity(p, who);
    p.add(static_cast<std::int64_t>(q.limit) + 1);
    LOGLINE_TRY(selected,
                read(select_ + where + vis +
                         " ORDER BY \"at\" DESC, \"id\" DESC, \"seq\" DESC LIMIT " + next(),
                     p, who));
    LOGLINE_TRY(rows, collect(selected, 0));
    return make_timeline_page(std::move(rows), q.limit);
  }

  // An exclusive lock on `key` until the returned handle is dropped: a transaction-level advisory
  // lock on a pooled connection of its own, so other processes wait for it too (lock_timeout
  // bounds the wait: errc::busy).
  result<std::shared_ptr<void>> hold(std::string_view key) {
    LOGLINE_TRY(conn, db_->acquire());
    auto held = std::make_shared<lease>(std::move(conn));
    LOGLINE_TRY_VOID((*held)->exec("BEGIN", "locking"));
    params p;
    p.add(detail::advisory_key(std::string("logline-hold:") + std::string(key)));
    LOGLINE_TRY_VOID(
        (*held)->query_once("SELECT pg_catalog.pg_advisory_xact_lock($1::bigint)", p, "locking"));
    return std::shared_ptr<void>(std::move(held));  // dropping it rolls back: the lock goes
  }

  // The change feed. Cursor "<xid>.<n>": the inserting transaction's id and the row's insertion
  // counter. Rows are delivered in (xid, n) order and only below the horizon xmin of the current
  // snapshot: every transaction with a smaller xid has ended, so no row can later appear behind
  // the cursor (a transaction that took its xid earlier but commits later holds the horizon back
  // until it ends). See docs/postgres.md.
  result<std::vector<change<Span>>> changes(std::string_view cursor, std::size_t limit,
                                            const identity* who) {
    std::string xid = "0", n = "0";
    if (!cursor.empty()) {
      const auto dot = cursor.find('.');
      auto digits = [](std::string_view s) {
        return !s.empty() && s.size() <= 19 &&
               s.find_first_not_of("0123456789") == std::string_view::npos;
      };
      if (dot == std::string_view::npos || !digits(cursor.substr(0, dot)) ||
          !digits(cursor.substr(dot + 1)))
        return make_error(errc::invalid_argument,
                          "malformed feed cursor '" + std::string(cursor.substr(0, 40)) + "'");
      xid = cursor.substr(0, dot);
      n = cursor.substr(dot + 1);
    }
    params p;
    p.add(std::string_view(xid)).add(std::string_view(n));
    const std::string vis = visible(who, 3);
    add_identity(p, who);
    p.add(static_cast<std::int64_t>(limit));
    const std::string lim = "$" + std::to_string(p.size());
    // (The text column gets its own name: ORDER BY "logline_xid" would otherwise sort by the
    // output column, as text, and "1000" < "999" broke the feed when xids gained a digit.)
    LOGLINE_TRY(selected,
                read("SELECT \"logline_xid\"::text AS \"logline_cursor_xid\", \"logline_feed\", " +
                         select_list_ + " FROM " + table_ +
                         " WHERE (\"logline_xid\", \"logline_feed\") > ($1::xid8, $2::bigint)"
                         " AND \"logline_xid\" < "
                         "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())" +
                         vis + " ORDER BY \"logline_xid\", \"logline_feed\" LIMIT " + lim,
                     p, who));
    std::vector<change<Span>> out;
    out.reserve(static_cast<std::size_t>(selected.rows()));
    for (int row = 0; row < selected.rows(); ++row) {
      change<Span> c;
      c.cursor.assign(selected.text(row, 0));
      c.cursor += '.';
      c.cursor += selected.text(row, 1);
      LOGLINE_TRY_VOID(decode(selected, row, 2, c.span));
      out.push_back(std::move(c));
    }
    return out;
  }

  // The cursor of the feed's last deliverable entry, whoever may see it ("" while there is
  // none): the same horizon as changes(), so a filtered reader that got a short page has seen
  // everything up to a head read before it.
  result<std::string> feed_head() {
    params p;
    LOGLINE_TRY(
        newest,
        read("SELECT \"logline_xid\"::text AS \"logline_cursor_xid\", \"logline_feed\" FROM " +
                 table_ +
                 " WHERE \"logline_xid\" < "
                 "pg_catalog.pg_snapshot_xmin(pg_catalog.pg_current_snapshot())"
                 " ORDER BY \"logline_xid\" DESC, \"logline_feed\" DESC LIMIT 1",
             p, nullptr));
    if (newest.rows() == 0) return std::string();
    return std::string(newest.text(0, 0)) + "." + std::string(newest.text(0, 1));
  }

  // ---- verification scan -----------------------------------------------------------------
  // Rows read as the owner in one REPEATABLE READ snapshot, through a server-side cursor. The
  // scanners over it are every backend's (logline/detail/row_scan.hpp).
  class row_cursor {
   public:
    result<bool> step(std::size_t want) {
      if (row_ + 1 < batch_.rows()) {
        ++row_;
        return true;
      }
      if (done_) return false;
      LOGLINE_TRY(fetched, conn_->query_once("FETCH FORWARD " +
                                                 std::to_string(std::max<std::size_t>(want, 1000)) +
                                                 " FROM logline_scan",
                                             {}, "scanning"));
      batch_ = std::move(fetched);
      row_ = 0;
      if (batch_.rows() == 0) {
        done_ = true;
        (void)conn_->exec("COMMIT");
        return false;
      }
      return true;
    }
    std::int64_t row_number() const { return batch_.integer(row_, 0); }
    void place(std::string& chain, std::optional<std::int64_t>& position) const {
      if (tenant_column_ >= 0)
        chain = tenant_chain_name(
            batch_.is_null(row_, tenant_column_)
                ? std::nullopt
                : std::optional<std::string_view>(batch_.text(row_, tenant_column_)));
      else
        chain = global_chain_name;
      position.reset();
      if (position_column_ >= 0 && !batch_.is_null(row_, position_column_))
        position = batch_.integer(row_, position_column_);
    }
    result<void> decode(Span& span) const { return store::decode(batch_, row_, 2, span); }
    void read_stored(verify_row& row) const {
      const auto& cols = schema_t::columns();
      detail::cell v(batch_, row_);
      v.canonical_json(true);
      logline::detail::read_stored_row<Span>(
          row, v, [&](std::size_t i) { v.at(2 + static_cast<int>(i), cols[i].kind); });
    }

   private:
    friend class store;
    lease conn_;
    pg_result batch_;
    int row_ = 0;
    bool done_ = false;
    int tenant_column_ = -1, position_column_ = -1;
  };
  using scanner = logline::detail::row_scanner<row_cursor, Span>;
  using verify_scanner = logline::detail::verify_row_scanner<row_cursor>;

  result<verify_scanner> verify_scan() {
    return logline::detail::scan_with<verify_scanner>(open_rows(true));
  }
  result<scanner> scan(bool chain_order = true) {
    return logline::detail::scan_with<scanner>(open_rows(chain_order));
  }

  // chain_order: rows by (chain, position) for verification; else in feed order.
  result<row_cursor> open_rows(bool chain_order) {
    row_cursor sc;
    LOGLINE_TRY(owner, db_->acquire_owner());
    sc.conn_ = std::move(owner);
    std::string order = " ORDER BY \"logline_xid\", \"logline_feed\"";
    if (options_.chained && chain_order)
      order = ddl_t::per_tenant_chain(options_) ? " ORDER BY \"tenant_id\", \"chain_position\""
                                                : " ORDER BY \"chain_position\"";
    LOGLINE_TRY_VOID(sc.conn_->exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "scanning"));
    LOGLINE_TRY_VOID(
        sc.conn_->exec("DECLARE logline_scan NO SCROLL CURSOR FOR SELECT \"logline_feed\", 0, " +
                           select_list_ + " FROM " + table_ + order,
                       "scanning"));
    if (ddl_t::per_tenant_chain(options_))
      sc.tenant_column_ = 2 + static_cast<int>(schema_t::index_of("tenant_id"));
    if (schema_t::has_column("chain_position"))
      sc.position_column_ = 2 + static_cast<int>(schema_t::index_of("chain_position"));
    return sc;
  }

  // Decodes the columns of row `row` starting at result column `first`.
  static result<void> decode(const pg_result& r, int row, int first, Span& span) {
    detail::cell v(r, row);
    int i = first;
    for (const auto& c : schema_t::columns()) {
      v.at(i++, c.kind);
      if (v.is_null()) {
        if (!c.nullable)
          return make_error(errc::integrity_violation,
                            "column '" + std::string(c.name) + "' is null");
        c.set_null(span);
        continue;
      }
      if (auto res = c.read(span, v); !res)
        return make_error(errc::integrity_violation,
                          "column '" + std::string(c.name) + "': " + res.error().message());
    }
    return {};
  }

  // The multi-row INSERT for `rows` rows (kept per row count; the store is shared by threads).
  std::string multi_insert_sql(std::size_t rows) {
    std::lock_guard lock(shared_->mutex);
    auto& cache = shared_->multi_insert;
    auto it = cache.find(rows);
    if (it != cache.end()) return it->second;
    std::string s = insert_head_;
    std::size_t k = 1;
    for (std::size_t r = 0; r < rows; ++r) {
      s += r ? ", (" : " (";
      for (std::size_t i = 0; i < schema_t::size; ++i) {
        if (i) s += ", ";
        s += '$';
        s += std::to_string(k++);
      }
      s += ')';
    }
    if (cache.size() > 8) cache.clear();
    return cache.emplace(rows, std::move(s)).first->second;
  }

 private:
  // Chain heads this process wrote last (per chain key), used as guesses by the next append.
  // A chain whose guess failed is not guessed for the next few appends (it has other writers).
  std::optional<chain_head> cached_head(const std::optional<std::string>& key) {
    std::lock_guard lock(shared_->mutex);
    auto it = shared_->heads.find(key);
    if (it == shared_->heads.end()) return std::nullopt;
    if (it->second.cooldown > 0) {
      --it->second.cooldown;
      return std::nullopt;
    }
    if (it->second.head.position < 0) return std::nullopt;
    return it->second.head;
  }
  void remember_heads(const std::map<std::optional<std::string>, chain_head>& written) {
    std::lock_guard lock(shared_->mutex);
    for (const auto& [key, head] : written) {
      auto& e = shared_->heads[key];
      e.head = head;
    }
  }
  void forget_heads(const std::map<std::optional<std::string>, chain_head>& written, bool missed) {
    std::lock_guard lock(shared_->mutex);
    for (const auto& [key, head] : written) {
      auto& e = shared_->heads[key];
      e.head.position = -1;
      if (missed) e.cooldown = 16;
    }
  }
  struct head_entry {
    chain_head head;
    int cooldown = 0;
  };
  // State the store's users share across threads (behind a pointer: the store is movable).
  struct shared_state {
    std::mutex mutex;
    std::map<std::optional<std::string>, head_entry> heads;
    std::unordered_map<std::size_t, std::string>
        multi_insert;  // multi-row INSERT text by row count
  };
  std::unique_ptr<shared_state> shared_ = std::make_unique<shared_state>();

  void build_sql() {
    const auto& cols = schema_t::columns();
    table_ = detail::quote(schema_t::table_name);
    std::string names, values;
    for (std::size_t i = 0; i < cols.size(); ++i) {
      const std::string q = detail::quote(cols[i].name);
      if (i) {
        select_list_ += ", ";
        names += ", ";
        values += ", ";
      }
      if (cols[i].kind == column_kind::timestamp)
        select_list_ += "floor(extract(epoch FROM " + q + ") * 1000)::bigint";
      else
        select_list_ += q;
      names += q;
      values += "$" + std::to_string(i + 1);
    }
    select_ = "SELECT " + select_list_ + " FROM " + table_;
    insert_head_ = "INSERT INTO " + table_ + " (" + names + ") VALUES";
    insert_sql_ = insert_head_ + " (" + values + ")";
    copy_sql_ = "COPY " + table_ + " (" + names + ") FROM STDIN";
    entity_sql_ = "SELECT latest_seq, owner, tenant, vis FROM " +
                  detail::quote(std::string(schema_t::table_name) + "_entity") + "($1::uuid)";
    lock_chain_sql_ = "SELECT head_position, head_hash FROM " +
                      detail::quote(std::string(schema_t::table_name) + "_lock_chain") +
                      "($1::bigint, $2::text)";
  }

  static std::string pg_time(const timestamp& t) {
    params p;
    detail::row_encoder enc(p);
    enc.kind(column_kind::timestamp);
    value_traits<timestamp>::bind(t, enc);
    return p.value(0);
  }

  // The tenancy rules in the library's own queries ($first = user, $first+1 = tenant), on top of
  // row-level security.
  std::string visible(const identity* who, int first) const {
    if (!who || !ddl_t::row_security(options_)) return {};
    const std::string u = "$" + std::to_string(first), t = "$" + std::to_string(first + 1);
    return " AND ((\"owner_id\" = " + u + " AND \"tenant_id\" IS NOT DISTINCT FROM " + t +
           "::text) OR \"visibility\" = 'public' OR (\"tenant_id\" = " + t +
           " AND \"visibility\" = 'tenant'))";
  }
  void add_identity(params& p, const identity* who) const {
    if (!who || !ddl_t::row_security(options_)) return;
    p.add(std::string_view(who->user_id)).add(who->tenant_id);
  }

  // A read as `who`: the identity is set in the same implicit transaction (one round trip).
  // A read without an identity on a table with row-level security is an operator's read (every
  // span, whoever owns it): it goes through the owner's connection.
  result<pg_result> read(const std::string& sql, params& p, const identity* who) {
    LOGLINE_TRY(conn,
                !who && ddl_t::row_security(options_) ? db_->acquire_owner() : db_->acquire());
    if (!who || !ddl_t::row_security(options_)) return conn->query(sql, p, "reading spans");
    static const std::string identity_sql =
        "SELECT pg_catalog.set_config('app.user_id', $1, true), "
        "pg_catalog.set_config('app.tenant_id', $2, true)";
    params id;
    id.add(std::string_view(who->user_id)).add(std::string_view(who->tenant_id.value_or("")));
    LOGLINE_TRY(results, conn->pipeline({{&identity_sql, &id}, {&sql, &p}}, "reading spans"));
    return std::move(results.back());
  }
  result<std::optional<Span>> one(const std::string& sql, params& p, const identity* who) {
    add_identity(p, who);
    LOGLINE_TRY(selected, read(sql, p, who));
    if (selected.rows() == 0) return std::optional<Span>();
    Span s{};
    LOGLINE_TRY_VOID(decode(selected, 0, 0, s));
    return std::optional<Span>(std::move(s));
  }
  result<std::vector<Span>> collect(const pg_result& r, int first) {
    std::vector<Span> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int row = 0; row < r.rows(); ++row) {
      Span s{};
      LOGLINE_TRY_VOID(decode(r, row, first, s));
      out.push_back(std::move(s));
    }
    return out;
  }

  database* db_;
  table_options options_;
  std::string table_, select_list_, select_, insert_head_, insert_sql_, copy_sql_, entity_sql_,
      lock_chain_sql_;
};

}  // namespace logline::postgres
