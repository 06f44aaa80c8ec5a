// Ledger behaviour, run against every backend (conformance.hpp).
#include <algorithm>
#include <set>
#include <thread>

#include "backends/conformance.hpp"
#include "support/catch.hpp"

using namespace std::chrono_literals;
using logline::errc;
using logline::universal_span;

namespace {
template <class F>
typename F::backend::database& db_of(F& f) {
  return f.database();
}
template <class F>
conformance::full_ledger<typename F::backend> make_ledger(
    F& f, std::string user = "u1", std::optional<std::string> tenant = "t1") {
  return {
      f.database(),
      {.identity = {std::move(user), std::move(tenant)}, .signing_key = conformance::test_key()}};
}
template <class L>
std::size_t count_visible(L& ledger) {
  logline::timeline_query q;
  q.limit = 1000;
  return ledger.timeline(q).value().spans.size();
}
}  // namespace

TEMPLATE_TEST_CASE("append stores a span with the fields the ledger owns filled in",
                   "[backend][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  const auto before = logline::timestamp::now();
  auto first = ledger.append(conformance::make_span()).value();
  auto second = ledger.append(conformance::make_span()).value();

  CHECK(first.id.version() == 7);
  CHECK(second.id > first.id);  // UUIDv7: time-ordered
  CHECK(first.seq == 0);
  CHECK(first.at >= before);
  CHECK(first.owner_id == "u1");
  CHECK(first.tenant_id == "t1");
  CHECK(first.chain_position == 0);
  CHECK_FALSE(first.prev_hash.has_value());
  CHECK(second.chain_position == 1);
  REQUIRE(second.prev_hash.has_value());
  CHECK(*second.prev_hash == *first.curr_hash);
  CHECK(first.public_key == conformance::test_key().public_key());
  CHECK(logline::span_hash(first) == *first.curr_hash);
  CHECK(logline::ed25519::verify(*first.signature, *first.curr_hash, *first.public_key));

  auto stored = ledger.get(first.id).value();
  CHECK(logline::span_to_json_text(stored) == logline::span_to_json_text(first));
}

TEMPLATE_TEST_CASE("fields the ledger owns are refused on append and nothing is written",
                   "[backend][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  std::vector<std::pair<std::string, universal_span>> bad;
  auto s = conformance::make_span();
  s.at = logline::timestamp::now();
  bad.emplace_back("at", s);
  s = conformance::make_span();
  s.curr_hash = logline::digest{};
  bad.emplace_back("curr_hash", s);
  s = conformance::make_span();
  s.prev_hash = logline::digest{};
  bad.emplace_back("prev_hash", s);
  s = conformance::make_span();
  s.signature = logline::signature{};
  bad.emplace_back("signature", s);
  s = conformance::make_span();
  s.public_key = logline::public_key{};
  bad.emplace_back("public_key", s);
  s = conformance::make_span();
  s.chain_position = 4;
  bad.emplace_back("chain_position", s);
  for (auto& [field, span] : bad) {
    INFO(field);
    auto r = ledger.append(span);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_span);
    CHECK_THAT(r.error().message(), Catch::Contains("'" + field + "'"));
  }
  CHECK(count_visible(ledger) == 0);

  // A span read back and appended again as its next version: the error names the call that
  // strips the seal, and that call works.
  auto stored = ledger.append(conformance::make_span()).value();
  auto again = ledger.append_version(stored);
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message(), Catch::Contains("logline::unsealed(span)"));
  auto next = ledger.append_version(logline::unsealed(stored));
  REQUIRE(next);
  CHECK(next->seq == 1);
}

TEMPLATE_TEST_CASE("values that cannot be stored identically on every backend are refused",
                   "[backend][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  auto s = conformance::make_span();
  s.who = std::string("bad \xc3\x28 utf8");
  auto r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_span);
  CHECK_THAT(r.error().message(), Catch::Contains("who") && Catch::Contains("UTF-8"));

  s = conformance::make_span();
  s.name = std::string("nul\0inside", 10);
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("name") && Catch::Contains("U+0000"));

  s = conformance::make_span();
  s.metadata = logline::json{{"x", std::numeric_limits<double>::infinity()}};
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("metadata"));

  s = conformance::make_span();
  s.metadata = logline::json{{"big", std::int64_t{9007199254740993}}};
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("metadata"));

  s = conformance::make_span();
  s.seq = -1;
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("seq"));

  s = conformance::make_span();
  s.duration_ms = std::int64_t{1} << 60;
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("duration_ms"));

  CHECK(count_visible(ledger) == 0);
}

TEMPLATE_TEST_CASE(
    "versions: the next seq is required, append_version takes it, conflicts are clear",
    "[sqlite][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  auto v0 = ledger.append(conformance::make_span()).value();

  auto again = v0;
  again.at = {};
  again.curr_hash.reset();
  again.prev_hash.reset();
  again.signature.reset();
  again.public_key.reset();
  again.chain_position.reset();
  auto r = ledger.append(again);  // seq 0 exists
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::version_conflict);
  CHECK_THAT(r.error().message(), Catch::Contains("next version is 1"));

  again.seq = 2;  // skipping a version
  r = ledger.append(again);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::version_conflict);

  again.seq = 1;
  again.status = "running";
  auto v1 = ledger.append(again).value();
  CHECK(v1.seq == 1);

  again.seq = 0;  // ignored by append_version
  again.status = "complete";
  auto v2 = ledger.append_version(again).value();
  CHECK(v2.seq == 2);

  CHECK(ledger.get(v0.id).value().seq == 2);
  CHECK(ledger.get(v0.id).value().status == "complete");
  CHECK(ledger.get(v0.id, 1).value().status == "running");
  auto history = ledger.history(v0.id).value();
  REQUIRE(history.size() == 3);
  CHECK(history[0].seq == 0);
  CHECK(history[2].seq == 2);

  auto missing = ledger.get(logline::uuid::v7());
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::not_found);

  auto unknown = conformance::make_span();
  unknown.id = logline::uuid::v7();
  unknown.seq = 3;  // a new id starts at 0
  r = ledger.append(unknown);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::version_conflict);
}

TEMPLATE_TEST_CASE("a batch is one transaction: all or nothing", "[backend][ledger]",
                   LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  std::vector<universal_span> batch(10, conformance::make_span());
  batch[7].who = "\xff";
  auto r = ledger.append_batch(batch);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_span);
  CHECK_THAT(r.error().message(), Catch::Contains("span #7"));
  CHECK(count_visible(ledger) == 0);

  // A conflict found inside the transaction rolls back the spans placed before it.
  auto existing = ledger.append(conformance::make_span()).value();
  std::vector<universal_span> conflicting(5, conformance::make_span());
  conflicting[3].id = existing.id;  // seq 0 exists already
  r = ledger.append_batch(conflicting);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::version_conflict);
  CHECK_THAT(r.error().message(), Catch::Contains("span #3"));
  CHECK(count_visible(ledger) == 1);

  // Versions of one entity inside one batch.
  std::vector<universal_span> versions(3, conformance::make_span());
  versions[0].id = versions[1].id = versions[2].id = existing.id;
  versions[0].seq = 1;
  versions[1].seq = 2;
  versions[2].seq = 3;
  auto stored = ledger.append_batch(versions).value();
  CHECK(stored.back().seq == 3);
  CHECK(stored.back().chain_position == 3);

  // A big batch (signed in parallel) is stored in order and verifies.
  std::vector<universal_span> big(500, conformance::make_span());
  auto many = ledger.append_batch(big).value();
  for (std::size_t i = 1; i < many.size(); ++i) {
    REQUIRE(*many[i].chain_position == *many[i - 1].chain_position + 1);
    REQUIRE(*many[i].prev_hash == *many[i - 1].curr_hash);
  }
  CHECK(ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("reads and writes follow the tenancy rules", "[backend][ledger][tenancy]",
                   LOGLINE_BACKENDS) {
  TestType f;
  const logline::identity ids[] = {{"u1", "t1"}, {"u2", "t1"}, {"u3", "t2"}, {"u4", std::nullopt}};
  // Every owner writes one span of each visibility.
  std::vector<universal_span> written;
  for (const auto& who : ids) {
    auto ledger = make_ledger(f, who.user_id, who.tenant_id);
    for (auto v : {logline::visibility::private_, logline::visibility::tenant,
                   logline::visibility::public_}) {
      auto s = conformance::make_span();
      s.visibility = v;
      written.push_back(ledger.append(s).value());
    }
  }
  // Every reader sees exactly what may_read allows, through get, timeline and the feed.
  for (const auto& reader : ids) {
    auto ledger = make_ledger(f, reader.user_id, reader.tenant_id);
    std::set<logline::uuid> expected;
    for (const auto& s : written) {
      INFO(reader.user_id << " reads " << s.owner_id.value_or("?") << "/"
                          << to_string(s.visibility));
      const bool allowed = logline::may_read(reader, s);
      if (allowed) expected.insert(s.id);
      auto got = ledger.get(s.id);
      CHECK(got.has_value() == allowed);
      if (!got) CHECK(got.error() == errc::not_found);
    }
    logline::timeline_query q;
    q.limit = 1000;
    std::set<logline::uuid> seen;
    for (const auto& s : ledger.timeline(q).value().spans) seen.insert(s.id);
    CHECK(seen == expected);
    std::set<logline::uuid> fed;
    for (const auto& c : ledger.changes({}, 1000).value()) fed.insert(c.span.id);
    CHECK(fed == expected);
  }
  // Spot checks of the rule itself.
  CHECK(logline::may_read(ids[1], written[1]));        // same tenant, tenant visibility
  CHECK_FALSE(logline::may_read(ids[1], written[0]));  // same tenant, private
  CHECK_FALSE(logline::may_read(ids[2], written[1]));  // other tenant, tenant visibility
  CHECK(logline::may_read(ids[2], written[2]));        // public

  // Writes: only as oneself, only into one's own tenant (or none).
  auto ledger = make_ledger(f, "u1", "t1");
  auto s = conformance::make_span();
  s.owner_id = "u2";
  auto r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::permission_denied);
  s = conformance::make_span();
  s.tenant_id = "t2";
  r = ledger.append(s);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::permission_denied);
  auto nobody = make_ledger(f, "u5", std::nullopt);
  s = conformance::make_span();
  s.tenant_id = "t1";
  CHECK_FALSE(nobody.append(s));
  CHECK(nobody.append(conformance::make_span()).value().tenant_id == std::nullopt);
}

TEMPLATE_TEST_CASE("the timeline filters and pages with a stable cursor",
                   "[backend][ledger][timeline]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  std::vector<universal_span> batch;
  for (int i = 0; i < 25; ++i) {
    auto s = conformance::make_span(i % 3 == 0 ? "task" : "note");
    s.status = i % 2 ? "complete" : "error";
    s.trace_id = "trace-" + std::to_string(i % 5);
    s.visibility = i % 4 == 0 ? logline::visibility::public_ : logline::visibility::private_;
    batch.push_back(s);
  }
  auto stored = ledger.append_batch(batch).value();

  // Pages of 10: 10, 10, 5, then no cursor; no duplicates, no loss, newest first.
  std::vector<universal_span> all;
  logline::timeline_query q;
  q.limit = 10;
  std::vector<std::size_t> sizes;
  for (;;) {
    auto page = ledger.timeline(q).value();
    sizes.push_back(page.spans.size());
    all.insert(all.end(), page.spans.begin(), page.spans.end());
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
    // New spans appended between pages do not disturb the pages still to come.
    ledger.append(conformance::make_span("late")).value();
  }
  CHECK(sizes == std::vector<std::size_t>{10, 10, 5});
  std::set<logline::uuid> ids;
  for (const auto& s : all) ids.insert(s.id);
  CHECK(ids.size() == 25);
  for (const auto& s : stored) CHECK(ids.count(s.id) == 1);
  for (std::size_t i = 1; i < all.size(); ++i) CHECK(all[i - 1].at >= all[i].at);

  auto count = [&](logline::timeline_query filter) {
    filter.limit = 1000;
    return ledger.timeline(filter).value().spans.size();
  };
  logline::timeline_query by;
  by.entity_type = "task";
  CHECK(count(by) == 9);
  by = {};
  by.status = "complete";
  CHECK(count(by) == 12);
  by = {};
  by.trace_id = "trace-0";
  CHECK(count(by) == 5);
  by = {};
  by.visibility = logline::visibility::public_;
  CHECK(count(by) == 7);
  by = {};
  by.entity_type = "task";
  by.status = "error";
  CHECK(count(by) == 5);
  by = {};
  by.owner_id = "nobody";
  CHECK(count(by) == 0);
  by = {};
  by.tenant_id = "t1";
  CHECK(count(by) == 25 + 2);
  by = {};
  by.since = logline::timestamp{stored.front().at.unix_ms};
  CHECK(count(by) >= 25);
  by = {};
  by.until = logline::timestamp{stored.front().at.unix_ms};
  CHECK(count(by) == 0);

  // Parent filter.
  auto child = conformance::make_span("child");
  child.parent_id = stored[3].id;
  ledger.append(child).value();
  by = {};
  by.parent_id = stored[3].id;
  CHECK(count(by) == 1);

  logline::timeline_query bad;
  bad.cursor = "not-a-cursor";
  CHECK(ledger.timeline(bad).error() == errc::invalid_argument);
  bad = {};
  bad.limit = 0;
  CHECK(ledger.timeline(bad).error() == errc::invalid_argument);
  bad.limit = 1001;
  CHECK(ledger.timeline(bad).error() == errc::invalid_argument);
}

TEMPLATE_TEST_CASE("the change feed resumes from a cursor without loss or duplicates",
                   "[backend][ledger][feed]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  for (int i = 0; i < 5; ++i) ledger.append(conformance::make_span()).value();
  auto first = ledger.changes({}, 3).value();
  REQUIRE(first.size() == 3);
  auto rest = ledger.changes(first.back().cursor).value();
  REQUIRE(rest.size() == 2);
  CHECK(rest.front().cursor != first.back().cursor);
  auto all = ledger.changes().value();
  REQUIRE(all.size() == 5);
  for (std::size_t i = 0; i < 3; ++i) CHECK(all[i].span.id == first[i].span.id);
  for (std::size_t i = 0; i < 2; ++i) CHECK(all[3 + i].span.id == rest[i].span.id);
  CHECK(ledger.changes("not a cursor").error() == errc::invalid_argument);

  // A subscriber waiting in another thread wakes on the next commit and resumes where it was.
  const auto seen = logline::ledger_plumbing::commits(ledger);
  std::string cursor = rest.back().cursor;
  std::vector<logline::uuid> received;
  std::thread subscriber([&] {
    auto reader = make_ledger(f);
    const auto deadline =
        std::chrono::steady_clock::now() + 30s;  // a broken feed fails, it does not hang
    while (received.size() < 3 && std::chrono::steady_clock::now() < deadline) {
      logline::ledger_plumbing::wait_for_commit(reader, seen, 200ms);
      for (auto& c : reader.changes(cursor).value()) {
        received.push_back(c.span.id);
        cursor = c.cursor;
      }
    }
  });
  std::vector<logline::uuid> appended;
  for (int i = 0; i < 3; ++i)
    appended.push_back(ledger.append(conformance::make_span()).value().id);
  subscriber.join();
  CHECK(received == appended);
  CHECK(ledger.changes(cursor).value().empty());
}

TEMPLATE_TEST_CASE("a feed page resumes past the entries its reader cannot see",
                   "[backend][ledger][feed]", LOGLINE_BACKENDS) {
  TestType f;
  auto alice = make_ledger(f, "u1", "t1");
  auto carol = make_ledger(f, "u3", "t2");
  auto write_private = [&](int n) {
    for (int i = 0; i < n; ++i) {
      auto s = conformance::make_span();
      s.visibility = logline::visibility::private_;
      alice.append(s).value();
    }
  };
  write_private(5);
  // Nothing of it is carol's: the page is empty, and it resumes after all of it.
  auto empty = carol.feed().value();
  CHECK(empty.changes.empty());
  const auto everything = alice.changes({}, 1000).value();
  REQUIRE(everything.size() == 5);
  CHECK(empty.next == everything.back().cursor);

  auto mine = conformance::make_span();
  mine.visibility = logline::visibility::tenant;
  const auto own = carol.append(mine).value();
  write_private(5);
  auto page = carol.feed(empty.next).value();
  REQUIRE(page.changes.size() == 1);
  CHECK(page.changes.front().span.id == own.id);
  CHECK(logline::feed_cursor_before(page.changes.front().cursor, page.next));
  CHECK(page.next == alice.changes(everything.back().cursor, 1000).value().back().cursor);
  // From there: nothing again, and the cursor stays.
  auto none = carol.feed(page.next).value();
  CHECK(none.changes.empty());
  CHECK(none.next == page.next);
  // Whatever carol may see later is still delivered.
  mine = conformance::make_span();
  mine.visibility = logline::visibility::tenant;
  const auto later = carol.append(mine).value();
  auto after = carol.feed(none.next).value();
  REQUIRE(after.changes.size() == 1);
  CHECK(after.changes.front().span.id == later.id);

  // A full page has not reached the end: it resumes right after its last entry.
  auto one = carol.feed({}, 1).value();
  REQUIRE(one.changes.size() == 1);
  CHECK(one.next == one.changes.front().cursor);
  // A session reads the same way; a malformed cursor is refused.
  auto session = alice.as({"u3", "t2"});
  CHECK(session.feed(empty.next).value().next == after.next);
  CHECK(carol.feed("not a cursor").error() == errc::invalid_argument);
}

TEMPLATE_TEST_CASE("each tenant has its own chain; a global chain spans them all",
                   "[backend][ledger][chain]", LOGLINE_BACKENDS) {
  TestType f;
  auto t1 = make_ledger(f, "u1", "t1");
  auto t2 = make_ledger(f, "u2", "t2");
  auto none = make_ledger(f, "u3", std::nullopt);
  for (int i = 0; i < 3; ++i) {
    CHECK(t1.append(conformance::make_span()).value().chain_position == i);
    CHECK(t2.append(conformance::make_span()).value().chain_position == i);
    CHECK(none.append(conformance::make_span()).value().chain_position == i);
  }
  auto report = t1.verify().value();
  CHECK(report.ok());
  CHECK(report.chains == 3);
  CHECK(report.spans_checked == 9);

  TestType g;
  using global_ledger =
      logline::ledger<universal_span, typename TestType::backend, logline::append_only,
                      logline::globally_hash_chained, logline::signed_by<logline::ed25519>,
                      logline::tenant_isolated>;
  global_ledger a{g.database(), {.identity = {"u1", "t1"}, .signing_key = conformance::test_key()}};
  global_ledger b{g.database(), {.identity = {"u2", "t2"}, .signing_key = conformance::test_key()}};
  CHECK(a.append(conformance::make_span()).value().chain_position == 0);
  auto second = b.append(conformance::make_span()).value();
  CHECK(second.chain_position == 1);
  CHECK(second.prev_hash.has_value());
  auto global_report = a.verify().value();
  CHECK(global_report.ok());
  CHECK(global_report.chains == 1);
}

TEMPLATE_TEST_CASE("concurrent appenders on several connections form one gapless chain",
                   "[backend][ledger][chain]", LOGLINE_BACKENDS) {
  TestType f;
  constexpr int writers = 4, per_writer = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      auto conn = f.connect();  // its own connection, as another process would have
      conformance::full_ledger<typename TestType::backend> ledger{
          *conn, {.identity = {"u1", "t1"}, .signing_key = conformance::test_key()}};
      for (int i = 0; i < per_writer; ++i) {
        auto s = conformance::make_span();
        s.name = "w" + std::to_string(w);
        if (i % 10 == 9) {
          std::vector<universal_span> batch(5, s);
          if (!ledger.append_batch(batch)) ++failures;
        } else if (!ledger.append(s)) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  auto ledger = make_ledger(f);
  auto report = ledger.verify().value();
  CHECK(report.ok());
  CHECK(report.spans_checked == writers * (per_writer - per_writer / 10 + per_writer / 10 * 5));
  CHECK(report.chains == 1);
}

TEMPLATE_TEST_CASE("the database itself refuses UPDATE and DELETE",
                   "[backend][ledger][append_only]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  auto s = ledger.append(conformance::make_span()).value();
  auto upd = f.exec_raw("UPDATE universal_registry SET name = 'changed' WHERE id = '" +
                        s.id.to_string() + "'");
  REQUIRE_FALSE(upd);
  CHECK_THAT(upd.error().message(), Catch::Contains("append-only"));
  auto del = f.exec_raw("DELETE FROM universal_registry");
  REQUIRE_FALSE(del);
  CHECK_THAT(del.error().message(), Catch::Contains("append-only"));
  CHECK(ledger.get(s.id).value().name == std::nullopt);
  CHECK(ledger.verify().value().ok());
}

namespace {
// A tampering scenario: a chain of 10 spans, the raw SQL of the attack, and the spans (by
// position) that verify must name, with their reasons.
template <class F>
struct tamper_fixture {
  F f;
  std::vector<universal_span> spans;
  tamper_fixture() {
    auto ledger = make_ledger(f);
    std::vector<universal_span> batch;
    for (int i = 0; i < 10; ++i) {
      auto s = conformance::make_span();
      s.name = "span " + std::to_string(i);
      s.metadata = logline::json{{"amount", i * 100}};
      batch.push_back(s);
    }
    spans = ledger.append_batch(batch).value();
  }
  // Raw SQL as the table owner, with the append-only triggers dropped first (opening a ledger
  // puts them back).
  logline::result<void> tamper(const std::string& sql) {
    LOGLINE_TRY_VOID(f.drop_append_only_guards("universal_registry"));
    return f.exec_raw(sql);
  }
  std::string id(int i) const {
    return "'" + spans[static_cast<std::size_t>(i)].id.to_string() + "'";
  }
  std::vector<std::pair<std::int64_t, logline::problem>> findings(logline::verify_options o = {}) {
    auto ledger = make_ledger(f);
    auto report = ledger.verify(o).value();
    std::vector<std::pair<std::int64_t, logline::problem>> out;
    for (const auto& fd : report.findings) {
      const auto it =
          std::find_if(spans.begin(), spans.end(), [&](const auto& s) { return s.id == fd.id; });
      out.emplace_back(it == spans.end() ? -1 : it - spans.begin(), fd.kind);
    }
    CHECK(report.problems == out.size());
    return out;
  }
};
using P = logline::problem;
using found = std::vector<std::pair<std::int64_t, logline::problem>>;
}  // namespace

TEMPLATE_TEST_CASE("verify names exactly the span whose payload was edited", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  REQUIRE(t.findings().empty());
  REQUIRE(t.tamper("UPDATE universal_registry SET metadata = '{\"amount\":401}' WHERE id = " +
                   t.id(4)));
  CHECK(t.findings() == found{{4, P::hash_mismatch}});
  // Reading it is refused too.
  auto ledger = make_ledger(t.f);
  auto r = ledger.get(t.spans[4].id);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::integrity_violation);
}

TEMPLATE_TEST_CASE("verify names the span after a deleted one as a gap", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  REQUIRE(t.tamper("DELETE FROM universal_registry WHERE id = " + t.id(6)));
  CHECK(t.findings() == found{{7, P::gap}});
}

TEMPLATE_TEST_CASE("verify names both spans when two are swapped in the chain", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  // Reordering history: the two rows exchange their places in the chain.
  REQUIRE(t.tamper("UPDATE universal_registry SET chain_position = 1000000 WHERE id = " + t.id(2)));
  REQUIRE(t.tamper("UPDATE universal_registry SET chain_position = 2 WHERE id = " + t.id(5)));
  REQUIRE(t.tamper("UPDATE universal_registry SET chain_position = 5 WHERE id = " + t.id(2)));
  CHECK(t.findings() == found{{5, P::hash_mismatch}, {2, P::hash_mismatch}});
}

TEMPLATE_TEST_CASE("verify names the span whose signature was replaced", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  // A well-formed signature of the same key over another span.
  REQUIRE(
      t.tamper("UPDATE universal_registry SET signature = (SELECT signature FROM "
               "universal_registry WHERE id = " +
               t.id(1) + ") WHERE id = " + t.id(8)));
  CHECK(t.findings() == found{{8, P::bad_signature}});
}

TEMPLATE_TEST_CASE("verify names a span re-signed by an unknown key and a fork",
                   "[backend][tamper]", LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  auto other = logline::ed25519::key::generate();
  logline::verify_options trusting_other;
  trusting_other.trusted_keys = {other.public_key()};
  CHECK(t.findings(trusting_other).size() == 10);  // every span: unknown key
  logline::verify_options trusting_test;
  trusting_test.trusted_keys = {conformance::test_key().public_key()};
  CHECK(t.findings(trusting_test).empty());

  // A fork: a second span claiming position 3 (the unique index dropped first).
  REQUIRE(t.tamper("DROP INDEX universal_registry_chain"));
  REQUIRE(t.tamper(
      "INSERT INTO universal_registry SELECT CAST('00000000-0000-4000-8000-000000000099' AS " +
      TestType::uuid_type() +
      "), seq, entity_type, who, did, \"this\", at, "
      "parent_id, related_to, owner_id, tenant_id, visibility, status, name, description, code, "
      "language, runtime, trace_id, "
      "is_deleted, input, output, error, metadata, content, duration_ms, prev_hash, curr_hash, "
      "signature, public_key, "
      "chain_position FROM universal_registry WHERE id = " +
      t.id(3)));
  auto f = t.findings();
  REQUIRE(f.size() == 2);  // the copy fails its hash (id changed) and holds position 3 twice
  std::set<P> kinds{f[0].second, f[1].second};
  CHECK(kinds == std::set<P>{P::hash_mismatch, P::fork});
  for (const auto& [index, kind] : f)
    if (kind == P::hash_mismatch) CHECK(index == -1);  // the forged copy, not the original
}

TEMPLATE_TEST_CASE(
    "a tenant named null has a chain of its own, apart from the spans without a tenant",
    "[backend][tamper]", LOGLINE_BACKENDS) {
  TestType f;
  auto none = make_ledger(f, "u1", std::nullopt);
  auto named = make_ledger(f, "u2", "null");
  none.append_batch(std::vector<universal_span>(3, conformance::make_span())).value();
  named.append_batch(std::vector<universal_span>(2, conformance::make_span())).value();
  none.append(conformance::make_span()).value();
  auto report = none.verify().value();
  CHECK(report.findings.empty());
  CHECK(report.chains == 2);
  REQUIRE(report.heads.size() == 2);
  std::set<std::pair<std::string, std::int64_t>> heads;
  for (const auto& h : report.heads) heads.emplace(h.chain, h.position);
  CHECK(heads ==
        std::set<std::pair<std::string, std::int64_t>>{{"no tenant", 3}, {"tenant:null", 1}});
}

TEMPLATE_TEST_CASE("verify against a checkpoint names a truncated chain at its recorded head",
                   "[backend][tamper]", LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  auto ledger = make_ledger(t.f);
  auto report = ledger.verify().value();
  REQUIRE(report.heads.size() == 1);
  const auto head = report.heads[0];
  CHECK(head.chain == "tenant:t1");
  CHECK(head.position == 9);
  CHECK(head.id == t.spans[9].id);
  CHECK(head.seq == 0);
  CHECK(head.curr_hash == *t.spans[9].curr_hash);
  logline::verify_options against;
  against.expected_heads = report.heads;

  // The chain grows past its recorded head: still fine.
  auto later =
      ledger.append_batch(std::vector<universal_span>(3, conformance::make_span())).value();
  CHECK(t.findings(against).empty());
  CHECK(ledger.verify().value().heads.at(0).position == 12);

  // The last five spans removed: the chain alone still verifies, the checkpoint does not.
  REQUIRE(t.tamper("DELETE FROM universal_registry WHERE chain_position >= 8"));
  CHECK(t.findings().empty());
  CHECK(t.findings(against) == found{{9, P::truncated}});
  auto cut = make_ledger(t.f).verify(against).value();
  REQUIRE(cut.findings.size() == 1);
  CHECK(cut.findings[0].position == 9);
  CHECK(cut.findings[0].chain == "tenant:t1");
  CHECK_THAT(cut.findings[0].detail, Catch::Contains("the chain ends at position 7"));
  CHECK(cut.heads.at(0).position == 7);
}

TEMPLATE_TEST_CASE("verify against a checkpoint names the span that replaced a recorded head",
                   "[backend][tamper]", LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  logline::verify_options against;
  against.expected_heads = make_ledger(t.f).verify().value().heads;
  // Someone with the key removes the last span and appends another in its place: a valid chain.
  // (Appends go through a new connection: one that wrote the chain would guess its old head.)
  REQUIRE(t.tamper("DELETE FROM universal_registry WHERE id = " + t.id(9)));
  auto connection = t.f.connect();
  conformance::full_ledger<typename TestType::backend> insider{
      *connection, {.identity = {"u1", "t1"}, .signing_key = conformance::test_key()}};
  auto forged = insider.append(conformance::make_span()).value();
  REQUIRE(forged.chain_position == 9);
  CHECK(t.findings().empty());
  auto report = make_ledger(t.f).verify(against).value();
  REQUIRE(report.findings.size() == 1);
  CHECK(report.findings[0].kind == P::head_mismatch);
  CHECK(report.findings[0].id == forged.id);
  CHECK(report.findings[0].position == 9);
  CHECK_THAT(report.findings[0].detail, Catch::Contains(t.spans[9].id.to_string()));
  // The recorded position left empty while the chain goes on past it: a gap, and the head named.
  insider.append_batch(std::vector<universal_span>(2, conformance::make_span())).value();
  REQUIRE(t.tamper("DELETE FROM universal_registry WHERE id = '" + forged.id.to_string() + "'"));
  CHECK(t.findings(against) == found{{-1, P::gap}, {9, P::head_mismatch}});
}

TEMPLATE_TEST_CASE("verify against a checkpoint names a chain that is gone", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  auto other = make_ledger(t.f, "u2", "t2");
  auto t2 = other.append_batch(std::vector<universal_span>(2, conformance::make_span())).value();
  auto report = other.verify().value();
  REQUIRE(report.heads.size() == 2);
  CHECK(report.chains == 2);
  logline::verify_options against;
  against.expected_heads = report.heads;
  REQUIRE(t.tamper("DELETE FROM universal_registry WHERE tenant_id = 't2'"));
  auto gone = make_ledger(t.f).verify(against).value();
  REQUIRE(gone.findings.size() == 1);
  CHECK(gone.findings[0].kind == P::truncated);
  CHECK(gone.findings[0].id == t2[1].id);
  CHECK(gone.findings[0].chain == "tenant:t2");
  CHECK_THAT(gone.findings[0].detail, Catch::Contains("no span of this chain is left"));
  // Expected heads naming one chain twice are refused.
  against.expected_heads.push_back(against.expected_heads[0]);
  auto twice = make_ledger(t.f).verify(against);
  REQUIRE_FALSE(twice);
  CHECK(twice.error() == errc::invalid_argument);
}

TEMPLATE_TEST_CASE("append-only guards dropped outside logline are put back when a ledger opens",
                   "[backend][tamper]", LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  REQUIRE(t.f.drop_append_only_guards("universal_registry"));
  REQUIRE(t.f.exec_raw("UPDATE universal_registry SET name = name WHERE id = " +
                       t.id(0)));  // unguarded now
  auto ledger = make_ledger(t.f);
  auto upd = t.f.exec_raw("UPDATE universal_registry SET name = 'x' WHERE id = " + t.id(0));
  REQUIRE_FALSE(upd);
  CHECK_THAT(upd.error().message(), Catch::Contains("append-only"));
}

TEMPLATE_TEST_CASE("an undecodable row keeps its place in the chain", "[backend][tamper]",
                   LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  // A value that does not parse only changes the hash: the row is still read and hashed.
  REQUIRE(t.tamper("UPDATE universal_registry SET " + TestType::undecodable_at() +
                   " WHERE id = " + t.id(4)));
  CHECK(t.findings() == found{{4, P::hash_mismatch}});
  // A column verification itself needs (curr_hash) that cannot be read: reported as such, and
  // the next span is not reported as a gap or a broken link.
  REQUIRE(t.tamper("UPDATE universal_registry SET curr_hash = '" + std::string(64, 'z') +
                   "' WHERE id = " + t.id(6)));
  CHECK(t.findings() == found{{4, P::hash_mismatch}, {6, P::unreadable}});
  auto ledger = make_ledger(t.f);
  CHECK(ledger.get(t.spans[4].id).error() == errc::integrity_violation);
}

TEMPLATE_TEST_CASE("a signed ledger opens without a key to read and verify, but cannot append",
                   "[sqlite][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  make_ledger(f).append(conformance::make_span()).value();
  conformance::full_ledger<typename TestType::backend> reader{f.database(),
                                                              {.identity = {"u1", "t1"}}};
  CHECK(reader.verify().value().ok());
  logline::timeline_query q;
  CHECK(reader.timeline(q).value().spans.size() == 1);
  auto r = reader.append(conformance::make_span());
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_key);
}

TEMPLATE_TEST_CASE("a batch can mix new spans, exact versions and next versions",
                   "[sqlite][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f);
  auto a = ledger.append(conformance::make_span()).value();
  std::vector<universal_span> batch(4, conformance::make_span());
  batch[0].id = a.id;  // next version: 1
  batch[1].id = a.id;  // next version: 2
  batch[2].id = a.id;
  batch[2].seq = 3;  // exact: 3
  auto stored = ledger.append_batch(batch, {true, true, false, false}).value();
  CHECK(stored[0].seq == 1);
  CHECK(stored[1].seq == 2);
  CHECK(stored[2].seq == 3);
  CHECK(stored[3].seq == 0);
  batch = {conformance::make_span()};
  batch[0].id = a.id;
  batch[0].seq = 3;
  auto conflict = ledger.append_batch(batch, {false});
  REQUIRE_FALSE(conflict);
  CHECK(conflict.error() == errc::version_conflict);
  CHECK(ledger.append_batch(batch, {true, false}).error() == errc::invalid_argument);
}

TEMPLATE_TEST_CASE("verify checks every span on several threads and streams its findings",
                   "[backend][tamper]", LOGLINE_BACKENDS) {
  tamper_fixture<TestType> t;
  REQUIRE(t.tamper("UPDATE universal_registry SET name = 'x' WHERE chain_position IN (1, 3, 9)"));
  logline::verify_options o;
  o.threads = 3;
  o.batch_rows = 2;  // many batches: state carries across them
  std::vector<std::string> streamed;
  std::uint64_t last_progress = 0;
  o.on_finding = [&](const logline::finding& fd) { streamed.push_back(fd.id.to_string()); };
  o.on_progress = [&](std::uint64_t n) { last_progress = n; };
  CHECK(t.findings(o) ==
        found{{1, P::hash_mismatch}, {3, P::hash_mismatch}, {9, P::hash_mismatch}});
  CHECK(streamed.size() == 3);
  CHECK(last_progress == 10);
}

TEMPLATE_TEST_CASE("views act as other identities on one ledger", "[backend][ledger][tenancy]",
                   LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f, "server", std::nullopt);
  auto alice = ledger.as({"alice", "acme"});
  auto bob = ledger.as({"bob", "acme"});
  auto eve = ledger.as({"eve", "other"});
  auto mine = conformance::make_span();
  auto shared = conformance::make_span();
  shared.visibility = logline::visibility::tenant;
  auto a1 = alice.append(mine).value();
  auto a2 = alice.append(shared).value();
  CHECK(a1.owner_id == "alice");
  CHECK(a1.tenant_id == "acme");
  CHECK(bob.get(a1.id).error() == errc::not_found);  // private to alice
  CHECK(bob.get(a2.id).value().id == a2.id);         // tenant-visible
  CHECK(eve.get(a2.id).error() == errc::not_found);  // another tenant
  CHECK(alice.history(a1.id).value().size() == 1);
  logline::timeline_query q;
  CHECK(bob.timeline(q).value().spans.size() == 1);
  CHECK(eve.changes().value().empty());
  // Writing as someone else is refused for a view as for a ledger.
  auto forged = conformance::make_span();
  forged.owner_id = "alice";
  CHECK(bob.append(forged).error() == errc::permission_denied);
  // A version by its owner, in a batch.
  auto next = a1;
  next.prev_hash.reset();
  next.curr_hash.reset();
  next.signature.reset();
  next.public_key.reset();
  next.chain_position.reset();
  next.at = {};
  next.name = "v1";
  auto v = alice.append_batch({next}, {true}).value();
  CHECK(v.front().seq == 1);
  CHECK(ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("the operator's view is a view like a user's, reading every span",
                   "[backend][ledger][tenancy]", LOGLINE_BACKENDS) {
  TestType f;
  auto ledger = make_ledger(f, "logline", std::nullopt);  // an operator identity
  using view = typename decltype(ledger)::view;
  STATIC_REQUIRE(std::is_same_v<decltype(ledger.as({"alice", "acme"})), view>);
  STATIC_REQUIRE(std::is_same_v<decltype(ledger.on_behalf_of({"alice", "acme"})), view>);
  STATIC_REQUIRE(std::is_same_v<decltype(ledger.as_operator()), view>);
  // The runtime's plumbing is not the ledger's interface.
  STATIC_REQUIRE_FALSE(requires { ledger.store(); });
  STATIC_REQUIRE_FALSE(requires { ledger.hold("key"); });
  STATIC_REQUIRE_FALSE(requires { ledger.commits(); });

  auto alice = ledger.as({"alice", "acme"});
  auto eve = ledger.as({"eve", "other"});
  const auto mine = alice.append(conformance::make_span()).value();
  const auto hers = eve.append(conformance::make_span()).value();
  auto op = ledger.as_operator();
  CHECK(op.unrestricted());
  CHECK_FALSE(alice.unrestricted());
  CHECK(op.identity().user_id == "logline");
  // Its reads see every tenant's private spans; alice's see hers only.
  CHECK(op.get(mine.id).value().id == mine.id);
  CHECK(op.get(hers.id, 0).value().id == hers.id);
  CHECK(op.history(hers.id).value().size() == 1);
  logline::timeline_query q;
  CHECK(op.timeline(q).value().spans.size() == 2);
  CHECK(op.count(q, 10).value() == 2);
  CHECK(op.changes().value().size() == 2);
  CHECK(alice.get(hers.id).error() == errc::not_found);
  CHECK(alice.count(q, 10).value() == 1);
  // It writes as the ledger's own identity.
  const auto own = op.append(conformance::make_span()).value();
  CHECK(own.owner_id == "logline");
  // A user's ledger has an operator's view too; its writes keep the user's rights.
  auto user_ledger = make_ledger(f, "mallory", "acme");
  auto mallory_op = user_ledger.as_operator();
  CHECK_FALSE(mallory_op.privileged());
  auto forged = conformance::make_span();
  forged.owner_id = "alice";
  CHECK(mallory_op.append(forged).error() == errc::permission_denied);
  CHECK(ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("open() says why a ledger cannot be opened; the constructor throws it",
                   "[backend][ledger]", LOGLINE_BACKENDS) {
  TestType f;
  { auto first = make_ledger(f); }
  // The same table, opened for another policy set.
  using other = logline::ledger<universal_span, typename TestType::backend, logline::append_only>;
  auto r = other::open(f.database(), {.identity = {"u1", "t1"}});
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message(), Catch::Contains("another span schema or policy set"));
  CHECK_THROWS_AS(other(f.database(), {.identity = {"u1", "t1"}}), logline::bad_result_access);
  // And one that can be opened is.
  auto ok = conformance::full_ledger<typename TestType::backend>::open(
      f.database(), {.identity = {"u1", "t1"}, .signing_key = conformance::test_key()});
  REQUIRE(ok);
  CHECK(ok->append(conformance::make_span("note", "u1")));
}
