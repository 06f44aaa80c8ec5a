#pragma once
// The PostgreSQL DDL of one span type and policy set: the table, its indexes, the append-only
// guards, row-level security and the notify trigger, generated from the schema (what
// sql/postgres/ checks in for the universal span), and the check that a live table has its
// guards. store.hpp runs it as a recorded migration.
#include <string>
#include <string_view>
#include <vector>

#include "logline/backend.hpp"
#include "logline/policy/tenant_isolated.hpp"
#include "logline/schema.hpp"

namespace logline::postgres {

// The group role that application logins are members of (GRANTs and policies name it).
inline constexpr std::string_view application_role = "logline_app";
// The notification channel of the change feed (DESIGN §6).
inline constexpr std::string_view feed_channel = "timeline_updates";

namespace detail {

inline std::string quote(std::string_view name) { return "\"" + std::string(name) + "\""; }

inline std::string column_type(column_kind k, bool int32) {
  switch (k) {
    case column_kind::integer:
      return int32 ? "integer" : "bigint";
    case column_kind::boolean:
      return "boolean";
    case column_kind::real:
      return "double precision";
    case column_kind::uuid:
      return "uuid";
    case column_kind::timestamp:
      return "timestamptz";
    case column_kind::json:
      return "jsonb";
    case column_kind::uuid_list:
      return "uuid[]";
    default:
      return "text";
  }
}

}  // namespace detail

template <class Span>
struct table_ddl {
  using schema_t = schema<Span>;

  static bool row_security(const table_options& o) {
    return o.tenancy && has_tenancy_columns<Span>;
  }
  static bool per_tenant_chain(const table_options& o) {
    return o.scope == chain_scope::per_tenant && schema_t::has_column("tenant_id");
  }

  // The DDL for this span type and policy set (what sql/postgres/ checks in for the universal
  // span). Every statement is idempotent: running the script twice changes nothing.
  static std::string ddl(const table_options& o) {
    const auto& cols = schema_t::columns();
    const std::string tn(schema_t::table_name);
    const std::string t = detail::quote(tn);
    const std::string app(application_role);
    auto has = [&](std::string_view n) { return schema_t::has_column(n); };
    auto kind_of = [&](std::string_view n) { return cols[schema_t::index_of(n)].kind; };
    std::string s;
    s += "-- logline: table " + tn + " (generated from the span type; do not edit)\n";
    s += "DO $$ BEGIN\n  IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '" + app +
         "') THEN CREATE ROLE " + app + " NOLOGIN; END IF;\nEND $$;\n";
    s += "CREATE TABLE IF NOT EXISTS " + t + " (\n";
    for (const auto& c : cols) {
      const std::string q = detail::quote(c.name);
      s += "  " + q + " " + detail::column_type(c.kind, c.int32);
      if (!c.nullable || required_column(o, c.name)) s += " NOT NULL";
      switch (c.kind) {
        case column_kind::visibility:
          if (!c.nullable) s += " DEFAULT 'private'";
          s += " CHECK (" + q + " IN ('private', 'tenant', 'public'))";
          break;
        case column_kind::boolean:
          if (!c.nullable) s += " DEFAULT false";
          break;
        case column_kind::hex:
          s += " CHECK (length(" + q + ") = " + std::to_string(c.hex_length) + ")";
          break;
        default:
          break;
      }
      if (c.name == "seq" || c.name == "chain_position" || c.name == "duration_ms")
        s += " CHECK (" + q + " >= 0)";
      s += ",\n";
    }
    // Feed position (DESIGN §6): the inserting transaction and an insertion counter.
    s += "  \"logline_xid\" xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),\n";
    s += "  \"logline_feed\" bigint GENERATED ALWAYS AS IDENTITY,\n";
    s += "  PRIMARY KEY (\"id\", \"seq\")\n);\n";
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
    if (has("related_to") && kind_of("related_to") == column_kind::uuid_list)
      index("related_to", "USING gin (\"related_to\")");
    if (has("metadata") && kind_of("metadata") == column_kind::json)
      index("metadata", "USING gin (\"metadata\")");
    // One scheduled request per (parent, owner, metadata.request_key): docs/runtime.md, "Requests".
    if (has("parent_id") && has("entity_type") && has("status") && has("owner_id") &&
        has("tenant_id") && has("metadata") && kind_of("metadata") == column_kind::json)
      index("one_scheduled_request",
            "(\"parent_id\", \"owner_id\", \"tenant_id\", (\"metadata\" ->> 'request_key')) NULLS "
            "NOT DISTINCT "
            "WHERE \"entity_type\" = 'request' AND \"status\" = 'scheduled'",
            true);
    else if (has("parent_id") && has("entity_type") && has("status"))
      index("one_scheduled_request",
            "(\"parent_id\") WHERE \"entity_type\" = 'request' AND \"status\" = 'scheduled'", true);
    if (o.chained) {
      if (per_tenant_chain(o))
        index("chain", "(\"tenant_id\", \"chain_position\") NULLS NOT DISTINCT", true);
      else
        index("chain", "(\"chain_position\")", true);
    }
    index("feed", "(\"logline_xid\", \"logline_feed\")");

    for (const auto& stmt : guard_statements(o)) s += stmt + "\n";

    // Change feed: the table and the feed cursor only. NOTIFY ignores row-level security and any
    // login may LISTEN, so a payload must say nothing of the span (no id, owner or tenant);
    // subscribers re-read under their own identity.
    s += "CREATE OR REPLACE FUNCTION " + detail::quote(tn + "_notify") +
         "() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  PERFORM pg_catalog.pg_notify('" +
         std::string(feed_channel) + "', pg_catalog.json_build_object('table', TG_TABLE_NAME";
    s += ", 'cursor', NEW.\"logline_xid\"::text || '.' || NEW.\"logline_feed\")::text);\n  RETURN "
         "NULL;\nEND $$;\n";
    s += "CREATE OR REPLACE TRIGGER " + detail::quote(tn + "_notify") + " AFTER INSERT ON " + t +
         " FOR EACH ROW EXECUTE FUNCTION " + detail::quote(tn + "_notify") + "();\n";

    // Writers cannot see every row under RLS, but must find the chain head and the latest
    // version: two functions that run as the owner and reveal only that.
    if (o.chained) {
      s +=
          "CREATE OR REPLACE FUNCTION " + detail::quote(tn + "_lock_chain") +
          "(lock_key bigint, chain_tenant text)\n  RETURNS TABLE (head_position bigint, head_hash "
          "text)\n"
          "  LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$\nBEGIN\n"
          "  PERFORM pg_catalog.pg_advisory_xact_lock(lock_key);\n";
      const std::string pick =
          "  RETURN QUERY SELECT r.\"chain_position\", r.\"curr_hash\" FROM " + t + " r";
      const std::string order = " ORDER BY r.\"chain_position\" DESC LIMIT 1;\n";
      if (per_tenant_chain(o)) {
        s += "  IF chain_tenant IS NULL THEN\n  " + pick + " WHERE r.\"tenant_id\" IS NULL" +
             order + "  ELSE\n  " + pick + " WHERE r.\"tenant_id\" = chain_tenant" + order +
             "  END IF;\n";
      } else {
        s += pick + order;
      }
      s += "END $$;\n";
    }
    const bool owners = has("owner_id") && has("tenant_id") && has("visibility");
    s += "CREATE OR REPLACE FUNCTION " + detail::quote(tn + "_entity") +
         "(span_id uuid)\n  RETURNS TABLE (latest_seq integer, owner text, tenant text, vis text)\n"
         "  LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$ SELECT "
         "\"seq\", " +
         std::string(owners ? "\"owner_id\", \"tenant_id\", \"visibility\""
                            : "NULL::text, NULL::text, NULL::text") +
         " FROM " + t + " WHERE \"id\" = span_id ORDER BY \"seq\" DESC LIMIT 1 $$;\n";
    // Functions are not for everyone (PostgreSQL grants EXECUTE to PUBLIC by default): the two
    // that reveal a chain head or an entity's owner to a writer are the application role's.
    std::vector<std::string> functions = {tn + "_notify()", tn + "_entity(uuid)",
                                          tn + "_version_rule()"};
    if (o.append_only) functions.push_back(tn + "_refuse_change()");
    if (o.chained) functions.push_back(tn + "_lock_chain(bigint, text)");
    for (const auto& f : functions) {
      const auto paren = f.find('(');
      s += "REVOKE ALL ON FUNCTION " + detail::quote(f.substr(0, paren)) + f.substr(paren) +
           " FROM PUBLIC;\n";
    }
    s += "GRANT EXECUTE ON FUNCTION " + detail::quote(tn + "_entity") + "(uuid) TO " + app + ";\n";
    if (o.chained)
      s += "GRANT EXECUTE ON FUNCTION " + detail::quote(tn + "_lock_chain") + "(bigint, text) TO " +
           app + ";\n";

    if (row_security(o)) {
      const std::string user = "NULLIF(current_setting('app.user_id', true), '')";
      const std::string tenant = "NULLIF(current_setting('app.tenant_id', true), '')";
      auto policy = [&](std::string_view suffix, std::string_view body) {
        const std::string name = detail::quote(tn + "_" + std::string(suffix));
        s += "DROP POLICY IF EXISTS " + name + " ON " + t + ";\n";
        s += "CREATE POLICY " + name + " ON " + t + " " + std::string(body) + ";\n";
      };
      // DESIGN §5: the rules of logline::may_read / may_write (the owner is the pair).
      const std::string owns =
          "(\"owner_id\" = " + user + " AND \"tenant_id\" IS NOT DISTINCT FROM " + tenant + ")";
      policy("read", "FOR SELECT USING (" + owns +
                         " OR \"visibility\" = 'public' OR (\"tenant_id\" = " + tenant +
                         " AND \"visibility\" = 'tenant'))");
      policy("write", "FOR INSERT WITH CHECK " + owns);
      // The owner (who runs this) reads everything: verification and export are its tasks; and
      // writes with the operator's rights (spans owned by others, imports).
      policy("owner_read", "FOR SELECT TO CURRENT_USER USING (true)");
      policy("owner_write", "FOR INSERT TO CURRENT_USER WITH CHECK (true)");
    }
    // The application role reads, and inserts the span columns only: the feed position
    // (logline_xid, logline_feed) is always the database's own, never a client's.
    std::string span_columns;
    for (const auto& c : cols)
      span_columns += (span_columns.empty() ? "" : ", ") + detail::quote(c.name);
    s += "REVOKE ALL ON " + t + " FROM " + app + ";\n";
    s += "GRANT SELECT ON " + t + " TO " + app + ";\n";
    s += "GRANT INSERT (" + span_columns + ") ON " + t + " TO " + app + ";\n";
    return s;
  }

  // The guards: statement-level triggers that refuse UPDATE, DELETE and TRUNCATE (statement
  // level, so that they fire even when row-level security leaves no row to change), and row-level
  // security switched on and forced. Idempotent; re-applied when a ledger opens.
  static std::vector<std::string> guard_statements(const table_options& o) {
    std::vector<std::string> out;
    const std::string tn(schema_t::table_name);
    const std::string t = detail::quote(tn);
    if (o.append_only) {
      const std::string fn = detail::quote(tn + "_refuse_change");
      out.push_back("CREATE OR REPLACE FUNCTION " + fn +
                    "() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  RAISE EXCEPTION 'logline: "
                    "spans are append-only; % refused', TG_OP "
                    "USING ERRCODE = 'insufficient_privilege';\nEND $$;");
      for (std::string op : {"UPDATE", "DELETE", "TRUNCATE"}) {
        std::string lower = op;
        for (auto& ch : lower) ch = static_cast<char>(ch - 'A' + 'a');
        const std::string name = detail::quote(tn + "_no_" + lower);
        out.push_back("CREATE OR REPLACE TRIGGER " + name + " BEFORE " + op + " ON " + t +
                      " FOR EACH STATEMENT EXECUTE FUNCTION " + fn + "();");
        out.push_back("ALTER TABLE " + t + " ENABLE TRIGGER " + name + ";");
      }
    }
    // A version follows the previous one and, with tenancy, keeps the owner pair of the
    // entity's first version (DESIGN §5): checked here, in the database, so that no client of
    // it, the application role's hand-written INSERT included, can append to an entity it does
    // not own. It runs as the owner (SECURITY DEFINER) to see versions row-level security hides.
    const bool owners =
        o.tenancy && schema_t::has_column("owner_id") && schema_t::has_column("tenant_id");
    const std::string rule = detail::quote(tn + "_version_rule");
    std::string body = "CREATE OR REPLACE FUNCTION " + rule +
                       "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM "
                       "CURRENT AS $$\nBEGIN\n"
                       "  IF NOT EXISTS (SELECT 1 FROM " +
                       t +
                       " r WHERE r.\"id\" = NEW.\"id\" AND r.\"seq\" = NEW.\"seq\" - 1) THEN\n"
                       "    RAISE EXCEPTION 'logline: version % of % does not follow a stored "
                       "version', NEW.\"seq\", NEW.\"id\" "
                       "USING ERRCODE = 'insufficient_privilege';\n  END IF;\n";
    if (owners)
      body += "  IF NOT EXISTS (SELECT 1 FROM " + t +
              " r WHERE r.\"id\" = NEW.\"id\" AND r.\"seq\" = 0 AND r.\"owner_id\" IS NOT DISTINCT "
              "FROM NEW.\"owner_id\"" +
              " AND r.\"tenant_id\" IS NOT DISTINCT FROM NEW.\"tenant_id\") THEN\n"
              "    RAISE EXCEPTION 'logline: version % of % does not keep the owner of its "
              "entity', NEW.\"seq\", NEW.\"id\" "
              "USING ERRCODE = 'insufficient_privilege';\n  END IF;\n";
    body += "  RETURN NEW;\nEND $$;";
    out.push_back(body);
    out.push_back("CREATE OR REPLACE TRIGGER " + rule + " BEFORE INSERT ON " + t +
                  " FOR EACH ROW WHEN (NEW.\"seq\" > 0) EXECUTE FUNCTION " + rule + "();");
    out.push_back("ALTER TABLE " + t + " ENABLE TRIGGER " + rule + ";");
    if (row_security(o)) {
      out.push_back("ALTER TABLE " + t + " ENABLE ROW LEVEL SECURITY;");
      out.push_back("ALTER TABLE " + t + " FORCE ROW LEVEL SECURITY;");
    }
    return out;
  }
  // SQL that returns true when every guard is in place.
  static std::string guards_check_sql(const table_options& o) {
    const std::string tn(schema_t::table_name);
    std::string s = "SELECT (SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = '" +
                    detail::quote(tn) + "'::regclass AND tgenabled <> 'D' AND tgname = '" + tn +
                    "_version_rule') = 1";
    if (o.append_only)
      s += " AND (SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = '" +
           detail::quote(tn) + "'::regclass AND tgenabled <> 'D' AND tgname IN ('" + tn +
           "_no_update', '" + tn + "_no_delete', '" + tn + "_no_truncate')) = 3";
    if (row_security(o))
      s += " AND (SELECT relrowsecurity AND relforcerowsecurity FROM pg_catalog.pg_class WHERE oid "
           "= '" +
           detail::quote(tn) + "'::regclass)";
    return s;
  }
};

}  // namespace logline::postgres
