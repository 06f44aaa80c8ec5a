// The value vocabulary: uuid, timestamp, hex, keys, result.
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include <logline/logline.hpp>

#include "support/catch.hpp"

TEST_CASE("uuids parse either case and print lowercase", "[core][types]") {
  auto u = logline::uuid::parse("0190ABCD-ef01-7abc-8def-0123456789AB").value();
  CHECK(u.to_string() == "0190abcd-ef01-7abc-8def-0123456789ab");
  CHECK(u.version() == 7);
  for (const char* bad :
       {"", "0190abcd-ef01-7abc-8def-0123456789a", "0190abcd-ef01-7abc-8def-0123456789abc",
        "0190abcdef01-7abc-8def-0123456789ab-", "0190abcd-ef01-7abc-8def-0123456789ag",
        "{0190abcd-ef01-7abc-8def-0123456789ab}"}) {
    INFO(bad);
    auto r = logline::uuid::parse(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error() == logline::errc::invalid_span);
  }
}

TEST_CASE("generated ids are UUIDv7: version 7, variant 10, time-ordered, unique",
          "[core][types]") {
  const auto before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  std::set<logline::uuid> seen;
  logline::uuid last{};
  for (int i = 0; i < 20000; ++i) {
    auto u = logline::uuid::v7();
    REQUIRE(u.version() == 7);
    REQUIRE((u.bytes[8] & 0xc0) == 0x80);
    REQUIRE(last < u);  // strictly increasing within a process
    last = u;
    seen.insert(u);
  }
  CHECK(seen.size() == 20000);
  std::int64_t ms = 0;
  for (int i = 0; i < 6; ++i) ms = (ms << 8) | last.bytes[i];
  CHECK(ms >= before_ms);
  CHECK(ms < before_ms + 60000);
}

TEST_CASE("timestamps print and parse YYYY-MM-DDTHH:MM:SS.mmmZ exactly", "[core][types]") {
  CHECK(logline::timestamp{0}.to_string() == "1970-01-01T00:00:00.000Z");
  CHECK(logline::timestamp{1735689600000}.to_string() == "2025-01-01T00:00:00.000Z");
  CHECK(logline::timestamp{951782400123}.to_string() == "2000-02-29T00:00:00.123Z");
  CHECK(logline::timestamp{-1}.to_string() == "1969-12-31T23:59:59.999Z");
  CHECK(logline::timestamp{logline::timestamp::min_ms}.to_string() == "0000-01-01T00:00:00.000Z");
  CHECK(logline::timestamp{logline::timestamp::max_ms}.to_string() == "9999-12-31T23:59:59.999Z");
  // Agrees with the C library on random instants, and round-trips.
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> dist(-2000000000000, 4000000000000);
  for (int i = 0; i < 5000; ++i) {
    const std::int64_t ms = dist(rng);
    const logline::timestamp t{ms};
    const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    const auto text = t.to_string();
    REQUIRE(text.substr(0, 19) == buf);
    REQUIRE(logline::timestamp::parse(text).value() == t);
  }
  for (const char* bad :
       {"2025-01-01T00:00:00Z", "2025-01-01 00:00:00.000Z", "2025-02-29T00:00:00.000Z",
        "2025-13-01T00:00:00.000Z", "2025-01-01T24:00:00.000Z", "2025-01-01T00:00:00.000+01:00",
        "2025-01-01T00:00:60.000Z"}) {
    INFO(bad);
    CHECK_FALSE(logline::timestamp::parse(bad));
  }
  CHECK(logline::timestamp::parse("2024-02-29T23:59:59.999Z"));
}

TEST_CASE("hex columns are exactly 2N lowercase hex digits", "[core][types]") {
  const std::string h(64, 'a');
  CHECK(logline::digest::parse(h).value().to_string() == h);
  CHECK_FALSE(logline::digest::parse(std::string(64, 'A')));  // one spelling per value
  CHECK_FALSE(logline::digest::parse(std::string(63, 'a')));
  CHECK_FALSE(logline::digest::parse(std::string(62, 'a') + "zz"));
  CHECK_FALSE(logline::signature::parse(h));
}

TEST_CASE("Ed25519 keys come from a seed, a file or the environment, and reproduce RFC 8032",
          "[core][crypto]") {
  // RFC 8032 §7.1, test 1: empty message.
  auto key = logline::ed25519::key::from_seed_hex(
                 "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60\n")
                 .value();
  CHECK(key.public_key().to_string() ==
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const auto sig = key.sign(std::span<const std::uint8_t>());
  CHECK(sig.to_string() ==
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701c"
        "f9b46bd25bf5f0595bbe24655141438e7a100b");
  CHECK(logline::ed25519::verify(sig, std::span<const std::uint8_t>(), key.public_key()));
  CHECK(key.seed_hex() == "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");

  const auto path = std::filesystem::temp_directory_path() /
                    ("logline-key-" + std::to_string(std::random_device{}()));
  std::ofstream(path) << key.seed_hex() << "\n";
  CHECK(logline::ed25519::key::from_file(path.string()).value().public_key() == key.public_key());
  std::ofstream(path) << "not a key\n";
  auto bad = logline::ed25519::key::from_file(path.string());
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == logline::errc::invalid_key);
  CHECK_THAT(bad.error().message(), Catch::Contains(path.string()));
  std::filesystem::remove(path);
  CHECK(logline::ed25519::key::from_file(path.string()).error() == logline::errc::invalid_key);

  ::setenv("LOGLINE_TEST_SEED", key.seed_hex().c_str(), 1);
  CHECK(logline::ed25519::key::from_env("LOGLINE_TEST_SEED").value().public_key() ==
        key.public_key());
  ::unsetenv("LOGLINE_TEST_SEED");
  auto missing = logline::ed25519::key::from_env("LOGLINE_TEST_SEED");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message(), Catch::Contains("LOGLINE_TEST_SEED"));

  auto other = logline::ed25519::key::generate();
  CHECK(other.public_key() != key.public_key());
  CHECK_FALSE(logline::ed25519::verify(sig, std::span<const std::uint8_t>(), other.public_key()));
}

TEST_CASE("result converts from error codes and throws logline::error from value()",
          "[core][types]") {
  auto fail = []() -> logline::result<int> { return logline::errc::not_found; };
  auto r = fail();
  CHECK_FALSE(r);
  CHECK(r.error() == logline::errc::not_found);
  static_assert(std::is_same_v<std::remove_cvref_t<decltype(r.error())>, logline::error>,
                "one error type");
  CHECK_THROWS_AS(r.value(), logline::error);              // the value type catches it
  CHECK_THROWS_AS(r.value(), logline::bad_result_access);  // and it is a std::exception
  try {
    (void)r.value();
  } catch (const std::exception& e) {
    CHECK_THAT(e.what(), Catch::Contains("not found"));
  }
  auto with_message = []() -> logline::result<int> {
    return logline::make_error(logline::errc::invalid_span, "field 'x': bad");
  };
  CHECK(with_message().error().message() == "field 'x': bad");
  auto ok = []() -> logline::result<int> { return 7; };
  CHECK(ok().value() == 7);
  std::error_code ec = logline::errc::version_conflict;
  CHECK(ec.category().name() == std::string("logline"));
  CHECK(ec.message() == "version conflict");
}

namespace {
struct assertion_fired {
  std::string message;
};
[[noreturn]] void throwing_handler(const char*, const char*, int, const char* message) {
  throw assertion_fired{message};
}
}  // namespace

TEST_CASE("LOGLINE_ASSERT stays on and goes through a replaceable handler", "[core][types]") {
  auto previous = logline::set_assert_handler(&throwing_handler);
  bool caught = false;
  try {
    const int position = 3;
    LOGLINE_ASSERT(position == 4, "chain position must follow the head");
  } catch (const assertion_fired& e) {
    caught = true;
    CHECK(e.message == "chain position must follow the head");
  }
  logline::set_assert_handler(previous);
  CHECK(caught);
}

TEST_CASE("feed cursors compare as tuples of numbers, not as text", "[core]") {
  using logline::feed_cursor_before;
  CHECK(feed_cursor_before("", "0"));
  CHECK_FALSE(feed_cursor_before("", ""));
  CHECK_FALSE(feed_cursor_before("5", ""));
  CHECK(feed_cursor_before("999", "1000"));  // as text "1000" < "999"
  CHECK_FALSE(feed_cursor_before("1000", "999"));
  CHECK(feed_cursor_before("999.7", "1000.2"));
  CHECK(feed_cursor_before("1000.2", "1000.10"));
  CHECK_FALSE(feed_cursor_before("1000.10", "1000.10"));
  CHECK(feed_cursor_before("1000", "1000.1"));  // a prefix comes first
  CHECK(feed_cursor_before("007", "10"));       // leading zeros do not count
}
