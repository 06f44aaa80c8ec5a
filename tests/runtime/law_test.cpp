// The Constitution's law grammar (logline/runtime/law.hpp): parsing, every class of syntax error
// with its line:column, the limits, evaluation (precedence, null and type mismatches, first true
// branch, defaults, errors), composition across laws, the decision record and its idempotency key.
#include <string>
#include <string_view>
#include <vector>

#include <logline/runtime/law.hpp>

#include "support/catch.hpp"

using logline::errc;
using logline::json;
namespace laws = logline::runtime::laws;

namespace {

const char* const example = R"(law payment_limit:1.2:
  scope: payments
  clock: Europe/Paris
  if ok: amount <= 1000 and status == "open"
    then: accept, tag(key="tier", val="small")
  if doubt: amount > 1000 and not verified
    then: hold(hours=24), notify(role="finance")
  if not: amount > 50000 or country == "XX"
    then: terminate(reason="over the hard limit"), append_ledger
)";

// Branches under a fixed header; the first branch is on line 4.
std::string with_header(std::string_view branches) {
  return "law t:1:\nscope: s\nclock: UTC\n" + std::string(branches);
}

laws::law parse_ok(std::string_view text) {
  auto l = laws::parse(text);
  INFO("text: " << text);
  INFO("error: " << (l ? std::string() : l.error().message()));
  REQUIRE(l);
  return *l;
}

std::string parse_error(std::string_view text, errc code = errc::invalid_argument) {
  auto l = laws::parse(text);
  INFO("text: " << text);
  REQUIRE_FALSE(l);
  CHECK(l.error() == code);
  return l.error().message();
}

// The triage of `if ok: <condition> then: accept` (doubt when the condition is not true).
laws::triage ok_if(std::string_view condition, const json& vars) {
  return laws::evaluate(parse_ok(with_header("if ok: " + std::string(condition) + " then: accept")),
                        vars)
      .triage;
}

}  // namespace

TEST_CASE("the example law parses into its header, branches and actions", "[runtime][law]") {
  const laws::law l = parse_ok(example);
  CHECK(l.id == "payment_limit");
  CHECK(l.version == "1.2");
  CHECK(l.scope == "payments");
  CHECK(l.clock == "Europe/Paris");
  CHECK(l.hash == logline::blake3_hex(example));
  REQUIRE(l.branches[0]);
  REQUIRE(l.branches[1]);
  REQUIRE(l.branches[2]);
  CHECK(l.branches[0]->actions == std::vector{laws::accept(), laws::tag("tier", "small")});
  CHECK(l.branches[1]->actions == std::vector{laws::hold(24), laws::notify("finance")});
  CHECK(l.branches[2]->actions ==
        std::vector{laws::terminate("over the hard limit"), laws::append_ledger()});
  CHECK(l.branches[1]->line == 6);
}

TEST_CASE("laws take comments, dotted names, versions, zones, escapes and any branch order",
          "[runtime][law]") {
  const laws::law l = parse_ok(
      "# a comment line\n"
      "law billing.refunds:2.10.3:   # trailing comment\n"
      "scope: billing.refunds clock: Etc/GMT+3\n"
      "if not: metadata.amount > -1.5 then: terminate(reason=\"tab\\there \\\"q\\\" "
      "\\u00e9\\ud83d\\ude00\")\n"
      "if ok: (a) then: accept()\n");
  CHECK(l.id == "billing.refunds");
  CHECK(l.version == "2.10.3");
  CHECK(l.scope == "billing.refunds");
  CHECK(l.clock == "Etc/GMT+3");
  CHECK_FALSE(l.branches[1]);
  REQUIRE(l.branches[2]);
  CHECK(l.branches[2]->actions[0].reason == "tab\there \"q\" \xC3\xA9\xF0\x9F\x98\x80");
  CHECK(laws::evaluate(l, {{"metadata", {{"amount", 0}}}, {"a", true}}).branch == laws::triage::ok);
  CHECK(laws::evaluate(l, {{"metadata", {{"amount", 0}}}}).branch == laws::triage::not_);
}

TEST_CASE("each syntax error names its line and column", "[runtime][law]") {
  CHECK(parse_error("") ==
        "law:1:1: expected `law NAME:VERSION:` at the start, got the end of the text");
  CHECK(parse_error("law if:1:") == "law:1:5: expected the law's name after `law`, got `if`");
  CHECK(parse_error("law a:b:") ==
        "law:1:7: expected a version such as 1.2 after `law NAME:`, got `b`");
  CHECK(parse_error("law a:1:\nclock: UTC") == "law:2:1: expected `scope:`, got `clock`");
  CHECK(parse_error("law a:1:\nscope: s\nclock:\nif ok: x then: accept") ==
        "law:4:1: expected a time-zone name such as Europe/Paris or UTC after `clock:`, got `if`");
  CHECK(parse_error(with_header("")) ==
        "law:4:1: expected `if ok:`, `if doubt:` or `if not:`, got the end of the text");
  CHECK(parse_error(with_header("if maybe: x then: accept")) ==
        "law:4:4: expected `ok`, `doubt` or `not` after `if`, got `maybe`");
  CHECK(parse_error(with_header("if ok: x then: accept\n  if ok: y then: accept")) ==
        "law:5:3: a second `if ok:` (the first is at line 4)");
  CHECK(parse_error(with_header("if ok: x then accept")) ==
        "law:4:15: expected `:` after `then`, got `accept`");
  CHECK(parse_error(with_header("if ok: x == 1 == 2 then: accept")) ==
        "law:4:15: expected `and`, `or` or `then:` after the condition, got `==`");
  CHECK(parse_error(with_header("if ok: (x then: accept")) ==
        "law:4:11: expected `)` for the `(` at 4:8, got `then`");
  CHECK(parse_error(with_header("if ok: x == then: accept")) ==
        "law:4:13: expected a value (a name, a string, a number, true, false, null or `(`), got "
        "`then`");
  CHECK(parse_error(with_header("if ok: x then: accept tag")) ==
        "law:4:23: expected `,`, `if` or the end of the text, got `tag`");
}

TEST_CASE("each lexical error names its line and column", "[runtime][law]") {
  CHECK(parse_error(with_header("if ok: x ! y then: accept")) ==
        "law:4:10: unexpected `!` (write `not` or `!=`)");
  CHECK(parse_error(with_header("if ok: x == \xC3\xA9 then: accept")) ==
        "law:4:13: unexpected character U+00E9");
  // Columns count code points: the é before the error is one column.
  CHECK(parse_error(with_header("if ok: \"\xC3\xA9\" == $ then: accept")) ==
        "law:4:15: unexpected character `$`");
  CHECK(parse_error(with_header("if ok: a. then: accept")) ==
        "law:4:10: expected a name after `.`");
  CHECK(parse_error(with_header("if ok: x == \"abc then: accept\n")) ==
        "law:4:13: the string is not closed on its line");
  CHECK(parse_error(with_header("if ok: x == \"a\\q\" then: accept")) ==
        "law:4:15: unknown escape (use \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
  CHECK(parse_error(with_header("if ok: x == \"\\ud800\" then: accept")) ==
        "law:4:14: a high surrogate without a low one after it");
  CHECK(parse_error(with_header("if ok: x == \"\\u0000\" then: accept")) ==
        "law:4:14: U+0000 is not allowed in a string");
  CHECK(parse_error(with_header("if ok: x == \"a\tb\" then: accept")) ==
        "law:4:15: U+0009 in a string (escape it)");
  CHECK(parse_error(with_header("if ok: x == 99999999999999999999 then: accept")) ==
        "law:4:13: the number `99999999999999999999` is out of range (integers are from -2^63 to "
        "2^63-1)");
  CHECK(parse_error(with_header("if ok: x == \"a\xFF\" then: accept")) ==
        "law:4:15: invalid UTF-8 (invalid byte)");
  CHECK(parse_error(with_header(std::string("if ok: x == \"a\0\" then: accept", 29))) ==
        "law:4:15: a NUL character");
}

TEST_CASE("unknown actions, unknown, missing and repeated arguments and bad values are errors",
          "[runtime][law]") {
  CHECK(parse_error(with_header("if ok: x then: frobnicate")) ==
        "law:4:16: expected an action (accept, hold, terminate, notify, tag, append_ledger), got "
        "`frobnicate`");
  CHECK(parse_error(with_header("if ok: x then: hold")) == "law:4:16: `hold` needs `hours=`");
  CHECK(parse_error(with_header("if ok: x then: tag(key=\"a\")")) ==
        "law:4:16: `tag` needs `val=`");
  CHECK(parse_error(with_header("if ok: x then: hold(minutes=3)")) ==
        "law:4:21: `hold` has no argument `minutes` (it takes hours=)");
  CHECK(parse_error(with_header("if ok: x then: accept(a=1)")) ==
        "law:4:23: `accept` has no argument `a` (it takes no arguments)");
  CHECK(parse_error(with_header("if ok: x then: tag(key=\"a\", key=\"b\")")) ==
        "law:4:29: `tag` has `key=` twice");
  CHECK(parse_error(with_header("if ok: x then: tag(key=\"a\",)")) ==
        "law:4:28: expected an argument name, got `)`");
  CHECK(parse_error(with_header("if ok: x then: tag(key \"a\")")) ==
        "law:4:24: expected `=` after the argument name, got a string");
  CHECK(parse_error(with_header("if ok: x then: hold(hours=0)")) ==
        "law:4:27: expected an integer from 1 to 8784 for `hours`, got `0`");
  CHECK(parse_error(with_header("if ok: x then: hold(hours=1.5)")) ==
        "law:4:27: expected an integer from 1 to 8784 for `hours`, got `1.5`");
  CHECK(parse_error(with_header("if ok: x then: notify(role=ops)")) ==
        "law:4:28: expected a string for `role`, got `ops`");
  CHECK(parse_error(with_header("if ok: x then: notify(role=\"\")")) ==
        "law:4:28: `role` must not be empty");
}

TEST_CASE("the size and nesting limits are errors that say the limit", "[runtime][law]") {
  const std::string big =
      with_header("if ok: x then: accept\n") + std::string(laws::max_text_bytes, '#');
  CHECK(parse_error(big, errc::too_large) ==
        "law:1:1: the text is " + std::to_string(big.size()) + " bytes, over the limit of 65536");

  auto nested = [](std::size_t n, std::string_view open, std::string_view close) {
    std::string c;
    for (std::size_t i = 0; i < n; ++i) c += open;
    c += "x";
    for (std::size_t i = 0; i < n; ++i) c += close;
    return with_header("if ok: " + c + " then: accept");
  };
  parse_ok(nested(32, "(", ")"));
  parse_ok(nested(32, "not ", ""));
  CHECK(parse_error(nested(33, "(", ")"), errc::too_large) ==
        "law:4:40: expression nested deeper than 32 levels (parentheses and `not`)");
  CHECK(parse_error(nested(33, "not ", ""), errc::too_large) ==
        "law:4:136: expression nested deeper than 32 levels (parentheses and `not`)");
  // Deep nesting anywhere in a long text ends at the limit, not in a stack overflow.
  CHECK(parse_error(nested(20000, "(", ")"), errc::too_large)
            .starts_with("law:4:40: expression nested deeper"));

  // A long flat chain is fine: and/or are n-ary, so neither parsing nor evaluation recurses per operand.
  std::string chain = "x0";
  for (int i = 1; i < 5000; ++i) chain += " and x" + std::to_string(i);
  const laws::law l = parse_ok(with_header("if ok: " + chain + " then: accept"));
  json vars = json::object();
  for (int i = 0; i < 5000; ++i) vars["x" + std::to_string(i)] = true;
  CHECK(laws::evaluate(l, vars).triage == laws::triage::ok);
}

TEST_CASE("not binds tighter than and, and tighter than or", "[runtime][law]") {
  const std::string e = "not a and b or c";  // ((not a) and b) or c
  CHECK(ok_if(e, {{"a", false}, {"b", true}, {"c", false}}) == laws::triage::ok);
  CHECK(ok_if(e, {{"a", true}, {"b", true}, {"c", false}}) ==
        laws::triage::doubt);  // not (a and b or c) would be false too
  CHECK(ok_if(e, {{"a", true}, {"b", false}, {"c", true}}) ==
        laws::triage::ok);  // not (a and (b or c)) would be false
  CHECK(ok_if(e, {{"a", false}, {"b", false}, {"c", false}}) ==
        laws::triage::doubt);  // not (a and b) or c would be true
  CHECK(ok_if("a or b and c", {{"a", true}, {"b", false}, {"c", false}}) == laws::triage::ok);
  CHECK(ok_if("(a or b) and c", {{"a", true}, {"b", false}, {"c", false}}) == laws::triage::doubt);
  CHECK(ok_if("not (a == 1)", {{"a", 2}}) == laws::triage::ok);
  CHECK(ok_if("not a == 1", {{"a", 1}}) == laws::triage::doubt);  // not (a == 1)
  CHECK(ok_if("(a > 1) == true", {{"a", 2}}) == laws::triage::ok);
}

TEST_CASE("comparisons: null, mismatched types, numbers and strings", "[runtime][law]") {
  const json vars = {{"n", 5},       {"f", 5.0},
                     {"s", "abc"},   {"t", true},
                     {"z", nullptr}, {"big", 18446744073709551615ull},
                     {"neg", -1},    {"o", {{"k", {{"deep", "yes"}}}}}};
  CHECK(ok_if("missing == null", vars) == laws::triage::ok);
  CHECK(ok_if("z == null and missing == z", vars) == laws::triage::ok);
  CHECK(ok_if("missing != null", vars) == laws::triage::doubt);
  CHECK(ok_if("missing != 0", vars) == laws::triage::ok);  // != is not ==
  CHECK(ok_if("missing == 0", vars) == laws::triage::doubt);
  CHECK(ok_if("missing < 1 or missing >= 1", vars) == laws::triage::doubt);
  CHECK(ok_if("n == \"5\"", vars) == laws::triage::doubt);
  CHECK(ok_if("n != \"5\"", vars) == laws::triage::ok);
  CHECK(ok_if("s < 1 or s > 1 or t > 0 or t == 1", vars) == laws::triage::doubt);
  CHECK(ok_if("n == f and n == 5.0 and n >= 5 and n < 5.5", vars) == laws::triage::ok);
  CHECK(ok_if("big > neg and neg < big and big > 9223372036854775807", vars) == laws::triage::ok);
  CHECK(ok_if("s < \"abd\" and s > \"ab\" and s == \"abc\"", vars) == laws::triage::ok);
  CHECK(ok_if("o.k.deep == \"yes\" and o.k.missing == null and n.x == null and s.length == null",
              vars) == laws::triage::ok);
  CHECK(ok_if("o == o and o.k != o", vars) == laws::triage::ok);
}

TEST_CASE("an unset variable as a condition is false; other non-booleans are evaluation errors",
          "[runtime][law]") {
  CHECK(ok_if("not verified", json::object()) == laws::triage::ok);
  CHECK(ok_if("verified", json::object()) == laws::triage::doubt);

  const laws::law l = parse_ok(
      with_header("if ok: flag then: accept\nif not: amount then: terminate(reason=\"r\")"));
  const laws::decision d = laws::evaluate(l, {{"amount", 3}, {"flag", false}});
  CHECK(d.triage == laws::triage::doubt);
  CHECK_FALSE(d.branch);
  CHECK(d.actions == laws::default_obligations());
  CHECK(d.error == "law:5:9: `amount` is a number, not true or false");

  CHECK(laws::evaluate(l, {{"flag", "yes"}}).error ==
        "law:4:8: `flag` is a string, not true or false");
  // and/or short-circuit: the bad operand after a decided one is never looked at.
  CHECK(laws::evaluate(parse_ok(with_header("if ok: true or 7 then: accept")), json::object())
            .triage == laws::triage::ok);
  CHECK(laws::evaluate(l, json::array()).error == "law: the variables are not a JSON object");
}

TEST_CASE("branches are tried ok, doubt, not; the first true one wins", "[runtime][law]") {
  // Written in reverse order, and every condition true: ok still wins.
  const laws::law l =
      parse_ok(with_header("if not: true then: terminate(reason=\"r\")\nif doubt: true then: "
                           "hold(hours=2)\nif ok: go then: accept"));
  const laws::decision ok = laws::evaluate(l, {{"go", true}});
  CHECK(ok.triage == laws::triage::ok);
  CHECK(ok.branch == laws::triage::ok);
  CHECK(ok.actions == std::vector{laws::accept()});
  CHECK(ok.error.empty());
  const laws::decision doubt = laws::evaluate(l, {{"go", false}});
  CHECK(doubt.branch == laws::triage::doubt);
  CHECK(doubt.actions == std::vector{laws::hold(2)});

  const laws::law example_law = parse_ok(example);
  CHECK(laws::evaluate(example_law, {{"amount", 60000}, {"verified", true}}).branch ==
        laws::triage::not_);
  CHECK(laws::evaluate(example_law, {{"amount", 60000}}).branch ==
        laws::triage::doubt);  // not verified, first
  CHECK(laws::evaluate(example_law, {{"amount", 10}, {"status", "open"}}).branch ==
        laws::triage::ok);
}

TEST_CASE("no true branch gives doubt with the default obligations", "[runtime][law]") {
  const laws::decision d =
      laws::evaluate(parse_ok(example), {{"amount", 10}, {"status", "closed"}});
  CHECK(d.triage == laws::triage::doubt);
  CHECK_FALSE(d.branch);
  CHECK(d.error.empty());
  CHECK(d.actions == std::vector{laws::hold(24), laws::notify("ops"), laws::append_ledger()});
}

TEST_CASE("composition: terminate beats accept beats hold, with every reason", "[runtime][law]") {
  const laws::decision t1{.triage = laws::triage::not_,
                          .actions = {laws::terminate("a"), laws::append_ledger()}};
  const laws::decision t2{.triage = laws::triage::not_,
                          .actions = {laws::terminate("b"), laws::terminate("a")}};
  const laws::decision acc{.triage = laws::triage::ok, .actions = {laws::accept()}};
  const laws::decision held{.triage = laws::triage::doubt, .actions = {laws::hold(5)}};

  const std::vector all{held, acc, t1, t2};
  const laws::decision c = laws::compose(all);
  CHECK(c.triage == laws::triage::not_);
  CHECK_FALSE(c.branch);
  CHECK(c.actions == std::vector{laws::terminate("a; b"), laws::append_ledger()});

  const std::vector no_terminate{held, acc};
  const laws::decision a = laws::compose(no_terminate);
  CHECK(a.triage == laws::triage::doubt);  // the worst triage
  CHECK(a.actions == std::vector{laws::accept()});
}

TEST_CASE("composition: holds take the largest hours", "[runtime][law]") {
  const std::vector holds{laws::decision{.actions = {laws::hold(5)}},
                          laws::decision{.actions = {laws::hold(48)}},
                          laws::decision{.actions = {laws::hold(24)}}};
  CHECK(laws::compose(holds).actions == std::vector{laws::hold(48)});
}

TEST_CASE("composition: notifies and tags are unions, append_ledger comes once and last",
          "[runtime][law]") {
  const std::vector ds{laws::decision{.triage = laws::triage::ok,
                                      .actions = {laws::append_ledger(), laws::tag("tier", "small"),
                                                  laws::notify("finance")}},
                       laws::decision{.triage = laws::triage::ok,
                                      .actions = {laws::notify("ops"), laws::tag("tier", "small"),
                                                  laws::tag("tier", "big"), laws::notify("finance"),
                                                  laws::append_ledger()}}};
  CHECK(laws::compose(ds).actions == std::vector{laws::notify("finance"), laws::notify("ops"),
                                                 laws::tag("tier", "small"),
                                                 laws::tag("tier", "big"), laws::append_ledger()});
}

TEST_CASE("composition: a decision with only notify or tag takes no side", "[runtime][law]") {
  const laws::decision side{.triage = laws::triage::ok,
                            .actions = {laws::notify("audit"), laws::tag("k", "v")}};
  const laws::decision held{.triage = laws::triage::doubt, .actions = {laws::hold(3)}};
  const std::vector with_hold{side, held};
  CHECK(laws::compose(with_hold).actions ==
        std::vector{laws::hold(3), laws::notify("audit"), laws::tag("k", "v")});
  const std::vector alone{side};
  CHECK(laws::compose(alone).actions == std::vector{laws::notify("audit"), laws::tag("k", "v")});
  CHECK(laws::compose(alone).triage == laws::triage::ok);
}

TEST_CASE("composition: errors are kept, and no decisions at all is doubt with the defaults",
          "[runtime][law]") {
  const std::vector ds{laws::decision{.error = "law:4:8: one"},
                       laws::decision{.triage = laws::triage::ok},
                       laws::decision{.error = "law:5:1: two"}};
  CHECK(laws::compose(ds).error == "law:4:8: one; law:5:1: two");
  const laws::decision none = laws::compose({});
  CHECK(none.triage == laws::triage::doubt);
  CHECK(none.actions == laws::default_obligations());
}

TEST_CASE("the decision record carries the law, the outcome and the idempotency key",
          "[runtime][law]") {
  const laws::law l = parse_ok(example);
  const laws::decision d = laws::evaluate(l, {{"amount", 2000}, {"verified", false}});
  const json record =
      laws::decision_record(l, d, laws::subject_key("0190-span", 3), "2025-06-01").value();
  CHECK(record ==
        json{{"law",
              {{"id", "payment_limit"},
               {"version", "1.2"},
               {"hash", logline::blake3_hex(example)},
               {"scope", "payments"},
               {"clock", "Europe/Paris"}}},
             {"subject", "0190-span#3"},
             {"boundary", "2025-06-01"},
             {"triage", "doubt"},
             {"branch", "doubt"},
             {"obligations",
              {{{"action", "hold"}, {"hours", 24}}, {{"action", "notify"}, {"role", "finance"}}}},
             {"error", nullptr},
             {"idempotency_key", laws::idempotency_key(l.hash, "0190-span#3", "2025-06-01", d)}});
  CHECK(laws::decision_record(l, d, "", "2025").error() == errc::invalid_argument);
  CHECK(laws::decision_record(l, d, "s", "\xFF").error().message() ==
        "law decision: the boundary must be non-empty UTF-8 text without NUL");
}

TEST_CASE("the idempotency key is stable and changes with each of its inputs", "[runtime][law]") {
  const laws::law l = parse_ok(example);
  const laws::decision d = laws::evaluate(l, {{"amount", 10}, {"status", "open"}});
  const std::string key = laws::idempotency_key(l.hash, "s#1", "2025-06-01", d);
  CHECK(key.size() == 64);
  CHECK(key.find_first_not_of("0123456789abcdef") == std::string::npos);
  // Re-parsing and re-evaluating the same law for the same subject and boundary: the same key.
  CHECK(laws::idempotency_key(
            parse_ok(example).hash, "s#1", "2025-06-01",
            laws::evaluate(parse_ok(example), {{"amount", 10}, {"status", "open"}})) == key);

  laws::decision other_actions = d;
  other_actions.actions.pop_back();
  laws::decision other_triage = d;
  other_triage.triage = laws::triage::doubt;
  laws::decision other_branch = d;
  other_branch.branch.reset();
  laws::decision other_error = d;
  other_error.error = "x";
  const std::vector<std::string> keys = {
      key,
      laws::idempotency_key(parse_ok(std::string(example) + " ").hash, "s#1", "2025-06-01", d),
      laws::idempotency_key(l.hash, "s#2", "2025-06-01", d),
      laws::idempotency_key(l.hash, "s#1", "2025-06-02", d),
      laws::idempotency_key(l.hash, "s#1", "2025-06-01", other_actions),
      laws::idempotency_key(l.hash, "s#1", "2025-06-01", other_triage),
      laws::idempotency_key(l.hash, "s#1", "2025-06-01", other_branch),
      laws::idempotency_key(l.hash, "s#1", "2025-06-01", other_error),
      // Fields are framed: moving bytes from one to the next changes the key.
      laws::idempotency_key(l.hash, "s#12", "025-06-01", d),
  };
  for (std::size_t i = 0; i < keys.size(); ++i)
    for (std::size_t j = i + 1; j < keys.size(); ++j) {
      INFO(i << " vs " << j);
      CHECK(keys[i] != keys[j]);
    }
}
