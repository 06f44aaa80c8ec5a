// A user-defined span type with its own typed columns, used end to end, and a minimal span type
// without policies (a conformance source: compiled once per backend).
#include <boost/hana/define_struct.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"

namespace billing {
struct payment {
  static constexpr std::string_view span_name = "payment";
  BOOST_HANA_DEFINE_STRUCT(
      payment, (logline::uuid, id), (std::int32_t, seq), (logline::timestamp, at),
      (std::optional<std::string>, owner_id), (std::optional<std::string>, tenant_id),
      (logline::visibility, visibility), (std::string, payer), (std::int64_t, amount_cents),
      (double, fx_rate), (bool, refunded), (std::optional<logline::json>, details),
      (std::optional<logline::uuid>, invoice), (std::optional<logline::digest>, prev_hash),
      (std::optional<logline::digest>, curr_hash), (std::optional<std::int64_t>, chain_position),
      (std::optional<logline::signature>, signature),
      (std::optional<logline::public_key>, public_key));
};

// A span with a trace id, for a policy of the user's own.
struct traced_note {
  static constexpr std::string_view span_name = "traced_note";
  BOOST_HANA_DEFINE_STRUCT(traced_note, (logline::uuid, id), (std::int32_t, seq),
                           (std::optional<std::string>, trace_id), (std::string, text));
};

// A policy defined outside the library: every span carries a non-empty trace_id. It adds a
// NOT NULL column to the table, states what it needs of the span type, and checks each append.
struct trace_required : logline::policy_base {
  static constexpr void shape(logline::table_options& t) { t.require("trace_id"); }
  template <class Span>
  static constexpr bool fits() {
    static_assert(
        requires(const Span& s) {
          { s.trace_id } -> std::same_as<const std::optional<std::string>&>;
        },
        "trace_required: the span needs a member std::optional<std::string> trace_id");
    return true;
  }
  template <class Span>
  static logline::result<void> check_append(const Span& s, const logline::identity&) {
    if (s.trace_id->empty())
      return logline::make_error(logline::errc::invalid_span, "trace_id must not be empty");
    return {};
  }
};

// No hash, no chain, no tenancy: the smallest span a ledger accepts.
struct note {
  static constexpr std::string_view span_name = "note";
  BOOST_HANA_DEFINE_STRUCT(note, (logline::uuid, id), (std::int32_t, seq), (std::string, text));
};
}  // namespace billing

TEMPLATE_TEST_CASE("a user-defined span type with its own typed columns works end to end",
                   "[backend][schema]", LOGLINE_BACKENDS) {
  using payments = logline::audited_ledger<billing::payment, typename TestType::backend>;
  TestType f;
  payments ledger{f.database(),
                  {.identity = {"bob", "acme"}, .signing_key = conformance::test_key()}};
  billing::payment p{};
  p.payer = "bob";
  p.amount_cents = 1250;
  p.fx_rate = 1.0825;
  p.details = logline::json{{"card", "visa"}, {"3ds", true}};
  p.invoice = logline::uuid::v7();
  auto stored = ledger.append(p).value();
  CHECK(stored.tenant_id == "acme");
  CHECK(stored.chain_position == 0);
  auto again = ledger.get(stored.id).value();
  CHECK(again.amount_cents == 1250);
  CHECK(again.fx_rate == 1.0825);
  CHECK(again.refunded == false);
  CHECK(again.details == p.details);
  CHECK(again.invoice == p.invoice);
  CHECK(logline::canonical_span(again) == logline::canonical_span(stored));

  // The canonical form is derived from the type: its own columns, sorted, typed.
  const auto canonical = logline::canonical_span(stored);
  CHECK_THAT(canonical, Catch::StartsWith("{\"amount_cents\":1250,\"at\":\""));
  CHECK_THAT(canonical, Catch::Contains("\"fx_rate\":1.0825,"));
  CHECK_THAT(canonical, Catch::Contains("\"refunded\":false,"));
  CHECK_THAT(canonical, !Catch::Contains("curr_hash") && !Catch::Contains("\"signature\""));

  // JSON in: unknown keys and wrong types are refused.
  auto bad = logline::span_from_json_text<billing::payment>(R"({"payer":"x","amount_cents":"12"})");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message(), Catch::Contains("amount_cents"));
  auto unknown = logline::span_from_json_text<billing::payment>(R"({"payer":"x","amount":12})");
  REQUIRE_FALSE(unknown);
  CHECK_THAT(unknown.error().message(), Catch::Contains("unknown field 'amount'"));

  // The DDL is derived from the type.
  const auto ddl = payments::store_type::ddl(payments::table());
  for (const auto& column : TestType::payment_columns()) CHECK_THAT(ddl, Catch::Contains(column));
  CHECK_THAT(ddl, Catch::Contains("CREATE TABLE IF NOT EXISTS \"payment\""));

  std::vector<billing::payment> batch(20, p);
  ledger.append_batch(batch).value();
  CHECK(ledger.verify().value().ok());

  using notes = logline::ledger<billing::note, typename TestType::backend>;
  notes plain{f.database(), {}};
  auto n = plain.append({.id = {}, .seq = 0, .text = "hello"}).value();
  CHECK(plain.get(n.id).value().text == "hello");
  auto report = plain.verify().value();
  CHECK(report.ok());
  CHECK(report.spans_checked == 1);
}

TEMPLATE_TEST_CASE("a policy of the user's own shapes the table and checks every append",
                   "[backend][schema][policy]", LOGLINE_BACKENDS) {
  using traced = logline::ledger<billing::traced_note, typename TestType::backend,
                                 logline::append_only, billing::trace_required>;
  static_assert(traced::table().append_only && traced::table().requires_column("trace_id"));
  const auto ddl = traced::store_type::ddl(traced::table());
  CHECK_THAT(ddl, Catch::Contains("\"trace_id\" TEXT NOT NULL", Catch::CaseSensitive::No));

  TestType f;
  traced ledger{f.database(), {}};
  auto missing = ledger.append({.id = {}, .seq = 0, .trace_id = std::nullopt, .text = "a"});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == logline::errc::invalid_span);
  CHECK_THAT(missing.error().message(), Catch::Contains("field 'trace_id' is required"));
  auto empty = ledger.append({.id = {}, .seq = 0, .trace_id = "", .text = "a"});
  REQUIRE_FALSE(empty);
  CHECK_THAT(empty.error().message(), Catch::Contains("trace_id must not be empty"));
  // In a batch, one refused span refuses the batch and names it.
  std::vector<billing::traced_note> batch{{.id = {}, .seq = 0, .trace_id = "t-1", .text = "a"},
                                          {.id = {}, .seq = 0, .trace_id = "", .text = "b"}};
  auto refused = ledger.append_batch(batch);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message(),
             Catch::Contains("span #1 of the batch: trace_id must not be empty"));
  std::size_t stored = 0;
  REQUIRE(ledger.export_all([&](const billing::traced_note&) -> logline::result<void> {
    ++stored;
    return {};
  }));
  CHECK(stored == 0);

  auto ok = ledger.append({.id = {}, .seq = 0, .trace_id = "t-2", .text = "a"});
  REQUIRE(ok);
  CHECK(ledger.get(ok->id).value().trace_id == "t-2");
  CHECK(ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("a table made for another policy set is refused", "[backend][schema]",
                   LOGLINE_BACKENDS) {
  TestType f;
  conformance::full_ledger<typename TestType::backend> full{
      f.database(), {.identity = {"u", "t"}, .signing_key = conformance::test_key()}};
  using unsigned_ledger =
      logline::ledger<logline::universal_span, typename TestType::backend, logline::append_only>;
  auto other = unsigned_ledger::open(f.database(), {});
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message(), Catch::Contains("another span schema or policy set"));
  // It quotes a line that differs and says what to do.
  CHECK_THAT(other.error().message(),
             Catch::Contains("the table has `\"") &&
                 Catch::Contains("where this program's span type and policies make `"));
  CHECK_THAT(other.error().message(), Catch::Contains("Changing a span type"));
  // Opening again with the same policies is fine (migration is idempotent).
  auto same = conformance::full_ledger<typename TestType::backend>::open(
      f.database(), {.identity = {"u", "t"}, .signing_key = conformance::test_key()});
  CHECK(same.has_value());
}
