// Errors as values (logline/error.hpp): every errc has one name and one sentence; result<T>'s
// std::expected-style members; LOGLINE_TRY. (The HTTP answer of every kind: http/http_test.cpp.)
#include <set>
#include <string>
#include <string_view>

#include <logline/error.hpp>
#include <logline/sqlite/database.hpp>

#include "support/catch.hpp"

using logline::errc;
using logline::error_info;
using logline::result;

namespace {

result<int> parse_digit(char c) {
  if (c < '0' || c > '9')
    return logline::make_error(errc::invalid_argument, std::string("not a digit: ") + c);
  return c - '0';
}

// Two digits through LOGLINE_TRY: the first failure returns at once.
result<int> two_digits(char a, char b) {
  LOGLINE_TRY(tens, parse_digit(a));
  LOGLINE_TRY(ones, parse_digit(b));
  return tens * 10 + ones;
}

}  // namespace

TEST_CASE("errc: one name and one sentence per kind", "[core][error]") {
  std::set<std::string_view> names;
  for (const auto& entry : logline::errc_table) {
    INFO(entry.name);
    CHECK(logline::name(entry.code) == entry.name);
    CHECK(logline::make_error_code(entry.code).message() == entry.text);
    CHECK(names.insert(entry.name).second);  // distinct
    CHECK(entry.name.find(' ') == std::string_view::npos);
  }
  CHECK(names.size() == static_cast<std::size_t>(errc::policy_violation));
  CHECK(logline::name(errc::limit_exceeded) == "limit_exceeded");
  CHECK(logline::name(static_cast<errc>(0)) == "unknown");
  CHECK(logline::name(static_cast<errc>(999)) == "unknown");
  CHECK(logline::make_error_code(static_cast<errc>(999)).message() == "unknown logline error");
}

TEST_CASE("result: value_or, and_then, transform, or_else", "[core][error]") {
  const result<int> seven = 7;
  const result<int> failed = logline::make_error(errc::not_found, "no seven");
  CHECK(seven.value_or(0) == 7);
  CHECK(failed.value_or(0) == 0);
  CHECK(result<std::string>("kept").value_or("fallback") == "kept");

  auto half = [](int v) -> result<int> {
    if (v % 2) return logline::make_error(errc::invalid_argument, "odd");
    return v / 2;
  };
  CHECK(result<int>(8).and_then(half).value() == 4);
  auto odd = seven.and_then(half);
  REQUIRE_FALSE(odd);
  CHECK(odd.error() == errc::invalid_argument);
  auto passed = failed.and_then(half);  // the function is not called
  REQUIRE_FALSE(passed);
  CHECK(passed.error().message() == "no seven");

  auto text = seven.transform([](int v) { return std::to_string(v) + "!"; });
  static_assert(std::is_same_v<decltype(text), result<std::string>>);
  CHECK(text.value() == "7!");
  CHECK_FALSE(failed.transform([](int v) { return v + 1; }));
  int seen = 0;
  auto nothing = seven.transform([&](int v) { seen = v; });
  static_assert(std::is_same_v<decltype(nothing), result<void>>);
  CHECK(nothing.has_value());
  CHECK(seen == 7);

  CHECK(failed.or_else([](const error_info&) -> result<int> { return 0; }).value() == 0);
  auto replaced = failed.or_else(
      [](const error_info& e) -> result<int> { return logline::with_context(e, "looking: "); });
  REQUIRE_FALSE(replaced);
  CHECK(replaced.error().message() == "looking: no seven");
  CHECK(seven.or_else([](const error_info&) -> result<int> { return 0; }).value() == 7);

  // By value from an rvalue: the value moves out.
  CHECK(result<std::string>("moved").transform([](std::string s) { return s.size(); }).value() ==
        5);

  // result<void>.
  const result<void> ok;
  const result<void> bad = logline::make_error(errc::busy, "locked");
  CHECK(ok.and_then([] { return result<int>(1); }).value() == 1);
  CHECK(bad.and_then([] { return result<int>(1); }).error() == errc::busy);
  CHECK(ok.transform([] { return 2; }).value() == 2);
  CHECK_FALSE(bad.transform([] { return 2; }));
  CHECK(bad.or_else([](const error_info&) { return result<void>(); }).has_value());
  CHECK(ok.or_else([](const error_info&) { return result<void>(errc::busy); }).has_value());
}

TEST_CASE("LOGLINE_TRY declares the value or returns the error", "[core][error]") {
  CHECK(two_digits('4', '2').value() == 42);
  auto bad = two_digits('4', 'x');
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message() == "not a digit: x");
  CHECK(two_digits('y', 'x').error().message() == "not a digit: y");
}

TEST_CASE("an error carries the storage engine's own code", "[core][error][sqlite]") {
  auto db = logline::sqlite::database::open(":memory:").value();
  REQUIRE(db->exec("CREATE TABLE t (x TEXT PRIMARY KEY)"));
  REQUIRE(db->exec("INSERT INTO t VALUES ('a')"));
  auto twice = db->exec("INSERT INTO t VALUES ('a')");
  REQUIRE_FALSE(twice);
  CHECK(twice.error() == logline::errc::storage_error);
  REQUIRE(twice.error().native());
  CHECK(twice.error().native()->category().name() == std::string("sqlite"));
  CHECK(twice.error().native()->value() == SQLITE_CONSTRAINT_PRIMARYKEY);
  CHECK((twice.error().native()->value() & 0xff) == SQLITE_CONSTRAINT);
  // with_context keeps it.
  CHECK(logline::with_context(twice.error(), "inserting: ").native() == twice.error().native());
  // Errors logline makes itself have none.
  CHECK_FALSE(logline::make_error(logline::errc::not_found, "x").native());
}
