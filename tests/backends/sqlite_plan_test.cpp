// The queries on the append path are index seeks, whatever the ledger's size (SQLite only: the
// query planner is the backend's).
#include "backends/conformance.hpp"
#include "support/catch.hpp"

namespace {
std::string plan(logline::sqlite::database& db, const std::string& sql) {
  auto st = db.prepare("EXPLAIN QUERY PLAN " + sql).value();
  std::string out;
  while (sqlite3_step(st.get()) == SQLITE_ROW) {
    out += reinterpret_cast<const char*>(sqlite3_column_text(st.get(), 3));
    out += "\n";
  }
  return out;
}
}  // namespace

TEST_CASE("the chain head and the latest version are found by index seeks", "[sqlite][plan]") {
  conformance::sqlite_file f;
  using per_tenant = conformance::full_ledger<logline::sqlite::backend>;
  per_tenant ledger{f.database(), {.identity = {"u", "t"}, .signing_key = conformance::test_key()}};
  const auto head = plan(f.database(), per_tenant::store_type::head_sql(per_tenant::table()));
  CHECK_THAT(head, Catch::Contains("USING INDEX universal_registry_chain"));
  CHECK_THAT(head, !Catch::Contains("TEMP B-TREE") && !Catch::Contains("SCAN"));
  // The latest version with its owner: a seek on the primary key, read backwards (no sort).
  const auto latest = plan(f.database(), per_tenant::store_type::entity_sql());
  CHECK_THAT(latest, Catch::Contains("USING INDEX sqlite_autoindex_universal_registry_1 (id=?)"));
  CHECK_THAT(latest, !Catch::Contains("SCAN") && !Catch::Contains("TEMP B-TREE"));

  conformance::sqlite_file g;
  using global = logline::ledger<logline::universal_span, logline::sqlite::backend,
                                 logline::globally_hash_chained>;
  global one_chain{g.database(), {}};
  const auto global_head = plan(g.database(), global::store_type::head_sql(global::table()));
  // A reverse walk of the position index stopped by LIMIT 1: one row read, no sort.
  CHECK_THAT(global_head, Catch::Contains("USING INDEX universal_registry_chain"));
  CHECK_THAT(global_head, !Catch::Contains("TEMP B-TREE"));
}
