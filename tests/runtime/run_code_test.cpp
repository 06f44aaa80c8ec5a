// run_code's quota day, which needs no backend (run_code_conformance.cpp runs the kernel on each
// backend).
#include <logline/runtime/run_code.hpp>

#include "support/catch.hpp"

namespace runtime = logline::runtime;

TEST_CASE("run_code: the quota day runs from midnight to midnight in the tenant's time zone",
          "[runtime][run_code]") {
  auto at = [](const char* text) { return logline::timestamp::parse(text).value(); };
  const auto* utc = runtime::find_time_zone("UTC").value();
  const auto* paris = runtime::find_time_zone("Europe/Paris").value();
  auto d = runtime::day_of(at("2026-06-10T23:30:00.000Z"), utc);
  CHECK(d.start == at("2026-06-10T00:00:00.000Z"));
  CHECK(d.end == at("2026-06-11T00:00:00.000Z"));
  // 23:30 UTC is already the next day in Paris (UTC+2 in summer).
  d = runtime::day_of(at("2026-06-10T23:30:00.000Z"), paris);
  CHECK(d.start == at("2026-06-10T22:00:00.000Z"));
  CHECK(d.end == at("2026-06-11T22:00:00.000Z"));
  // Spring forward: a 23-hour day; fall back: a 25-hour day.
  d = runtime::day_of(at("2026-03-29T12:00:00.000Z"), paris);
  CHECK(d.start == at("2026-03-28T23:00:00.000Z"));
  CHECK(d.end == at("2026-03-29T22:00:00.000Z"));
  d = runtime::day_of(at("2026-10-25T12:00:00.000Z"), paris);
  CHECK(d.start == at("2026-10-24T22:00:00.000Z"));
  CHECK(d.end == at("2026-10-25T23:00:00.000Z"));
}
