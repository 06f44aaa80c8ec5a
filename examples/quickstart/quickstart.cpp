#include <iostream>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>

// append_only, hash_chained, signed_by<ed25519>, tenant_isolated (or name your own policies:
// logline::ledger<Span, Backend, Policies...>)
using ledger = logline::audited_ledger<logline::universal_span, logline::sqlite::backend>;

int main() {
  auto db = logline::sqlite::database::open("quickstart.db").value();
  auto key = logline::ed25519::key::generate();  // or key::from_file / key::from_env
  auto spans = ledger::open(*db, {.identity = {"alice", "acme"}, .signing_key = key}).value();

  auto stored = spans.append({.entity_type = "note",
                              .who = "alice",
                              .this_ = "hello ledger",
                              .metadata = logline::json{{"mood", "curious"}}});
  if (!stored) return std::cerr << stored.error().message() << "\n", 1;
  std::cout << logline::span_to_json_text(*stored) << "\n";

  auto report = spans.verify().value();  // re-hash, check links and signatures
  std::cout << report.spans_checked << " spans verified, " << report.problems << " problems\n";
  return report.ok() ? 0 : 1;
}
