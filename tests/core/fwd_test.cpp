// <logline/fwd.hpp> declares what the full headers define: a header that names the types with
// fwd.hpp alone compiles, and its declarations are the definitions' (the aliases and defaults
// are the same types).
#include <logline/fwd.hpp>

#include <type_traits>

namespace fwd_test {

// What a user's header can say with fwd.hpp alone.
struct note;
using notes = logline::audited_ledger<note, logline::sqlite::backend>;
logline::result<int> count_notes(notes& ledger);
std::size_t verify_all(logline::ledger<logline::universal_span, logline::postgres::backend,
                                       logline::append_only, logline::globally_hash_chained>& l);

}  // namespace fwd_test

#include "backends/conformance.hpp"
#include "support/catch.hpp"

TEST_CASE("fwd.hpp: its declarations are the definitions", "[core][fwd]") {
  using S = logline::universal_span;
  STATIC_REQUIRE(
      std::is_same_v<
          logline::audited_ledger<S, logline::sqlite::backend>,
          logline::ledger<S, logline::sqlite::backend, logline::append_only, logline::hash_chained,
                          logline::signed_by<>, logline::tenant_isolated>>);
  STATIC_REQUIRE(std::is_same_v<logline::signed_by<>, logline::signed_by<logline::ed25519>>);
  STATIC_REQUIRE(logline::hash_chained::scope == logline::chain_scope::per_tenant);
  STATIC_REQUIRE(logline::globally_hash_chained::scope == logline::chain_scope::global);
  STATIC_REQUIRE(std::is_same_v<logline::error_info, logline::error>);
  // The ledger declared in fwd.hpp is the one that runs.
  auto db = logline::sqlite::database::open(":memory:").value();
  logline::audited_ledger<S, logline::sqlite::backend> ledger{
      *db,
      {.identity = {"alice", "acme"},
       .signing_key = logline::ed25519::key::from_seed_hex(
                          "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                          .value()}};
  S s;
  s.entity_type = "note";
  s.who = "alice";
  s.this_ = "hello";
  REQUIRE(ledger.append(s));
  CHECK(ledger.verify().value().ok());
}
