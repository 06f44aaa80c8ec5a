// The scheduler and its cron expressions: parsing, local time across Europe/Paris's DST changes,
// missed runs, jobs that never overlap themselves, shutdown. Time is a manual clock: no sleeps
// drive the schedule.
#include <atomic>
#include <cstdio>
#include <thread>

#include <logline/runtime/scheduler.hpp>

#include "support/catch.hpp"

using namespace std::chrono_literals;
using logline::runtime::cron;
using logline::runtime::sys_seconds;

namespace {

// "2026-03-29T01:00" as a day and a time of day.
std::pair<date::days, std::chrono::minutes> split(const std::string& text) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0;
  REQUIRE(std::sscanf(text.c_str(), "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi) == 5);
  const auto day = date::sys_days(date::year(y) / date::month(static_cast<unsigned>(mo)) /
                                  date::day(static_cast<unsigned>(d)));
  return {day.time_since_epoch(), std::chrono::hours(h) + std::chrono::minutes(mi)};
}
sys_seconds utc(const std::string& text) {
  const auto [day, time] = split(text);
  return sys_seconds(day) + time;
}
date::local_seconds local(const std::string& text) {
  const auto [day, time] = split(text);
  return date::local_seconds(day) + time;
}

const date::time_zone* paris() { return logline::runtime::find_time_zone("Europe/Paris").value(); }

std::string message_of(std::string_view expression) {
  auto c = cron::parse(expression);
  REQUIRE_FALSE(c);
  return c.error().message();
}

}  // namespace

TEST_CASE("cron: fields, ranges, steps, lists and names", "[runtime][cron]") {
  auto office = cron::parse("*/15 9-17 * * MON-FRI").value();
  CHECK(office.matches(local("2026-11-23T09:45")));  // a Monday
  CHECK_FALSE(office.matches(local("2026-11-23T09:50")));
  CHECK_FALSE(office.matches(local("2026-11-23T18:00")));
  CHECK_FALSE(office.matches(local("2026-11-21T10:00")));  // a Saturday
  auto named = cron::parse("0 12 * jan,Jul sun").value();
  CHECK(named.matches(local("2026-01-04T12:00")));  // a Sunday in January
  CHECK_FALSE(named.matches(local("2026-02-01T12:00")));
  CHECK(cron::parse("0 12 * * 7").value().matches(local("2026-01-04T12:00")));  // 7 is Sunday too
  auto from_five = cron::parse("5/20 * * * *").value();
  for (int m : {5, 25, 45})
    CHECK(from_five.matches(local("2026-01-01T03:00") + std::chrono::minutes(m)));
  CHECK_FALSE(from_five.matches(local("2026-01-01T03:00")));
  auto stepped_range = cron::parse("0 8-18/5 * * *").value();
  for (int h : {8, 13, 18})
    CHECK(stepped_range.matches(local("2026-01-01T00:00") + std::chrono::hours(h)));
  CHECK_FALSE(stepped_range.matches(local("2026-01-01T09:00")));
  // Both day fields restricted: either matches (Vixie cron). One of them '*': both must.
  auto either = cron::parse("0 0 13 * FRI").value();
  CHECK(either.matches(local("2026-11-13T00:00")));  // Friday the 13th
  CHECK(either.matches(local("2026-11-20T00:00")));  // a Friday
  CHECK(either.matches(local("2026-12-13T00:00")));  // a Sunday, the 13th
  CHECK_FALSE(either.matches(local("2026-11-19T00:00")));
  auto fridays = cron::parse("0 0 * * FRI").value();
  CHECK_FALSE(fridays.matches(local("2026-12-13T00:00")));
  CHECK(cron::parse("  0   0 1,15 * *  ").value().matches(local("2026-02-15T00:00")));
}

TEST_CASE("cron: a malformed expression is a clear error", "[runtime][cron]") {
  CHECK_THAT(message_of("0 0 * *"),
             Catch::Contains("expected 5 fields") && Catch::Contains("found 4"));
  CHECK_THAT(message_of("60 * * * *"), Catch::Contains("minute: 60 is out of range 0-59"));
  CHECK_THAT(message_of("* 24 * * *"), Catch::Contains("hour: 24 is out of range 0-23"));
  CHECK_THAT(message_of("* * 0 * *"), Catch::Contains("day-of-month: 0 is out of range 1-31"));
  CHECK_THAT(message_of("0 0 * * 8"), Catch::Contains("day-of-week: 8 is out of range 0-7"));
  CHECK_THAT(message_of("5-1 * * * *"), Catch::Contains("minute: the range 5-1 runs backwards"));
  CHECK_THAT(message_of("*/0 * * * *"), Catch::Contains("a step must be at least 1"));
  CHECK_THAT(message_of("* * * FOO *"), Catch::Contains("month: unknown name 'FOO'"));
  CHECK_THAT(message_of("1,,2 * * * *"), Catch::Contains("an empty list item"));
  CHECK_THAT(message_of("1x * * * *"), Catch::Contains("'1x' is not a number"));
  CHECK_THAT(message_of("*/x * * * *"), Catch::Contains("the step 'x' is not a number"));
  auto never = cron::parse("0 0 30 2 *").value();
  CHECK_FALSE(never.next_after(utc("2026-01-01T00:00"), paris()));
  CHECK_FALSE(logline::runtime::find_time_zone("Europe/Atlantis"));
  CHECK_FALSE(logline::runtime::schedule::cron("0 0 * * *", "Mars/Olympus"));
}

TEST_CASE("cron: 0 0 * * * fires once per local day in Paris, across both DST changes",
          "[runtime][cron]") {
  auto midnight = cron::parse("0 0 * * *").value();
  // Spring forward on 2026-03-29 (a 23-hour day), fall back on 2026-10-25 (25 hours).
  std::vector<sys_seconds> got;
  for (sys_seconds t = utc("2026-03-27T12:00"); got.size() < 4;)
    got.push_back(t = midnight.next_after(t, paris()).value());
  CHECK(got == std::vector<sys_seconds>{utc("2026-03-27T23:00"), utc("2026-03-28T23:00"),
                                        utc("2026-03-29T22:00"), utc("2026-03-30T22:00")});
  got.clear();
  for (sys_seconds t = utc("2026-10-23T12:00"); got.size() < 4;)
    got.push_back(t = midnight.next_after(t, paris()).value());
  CHECK(got == std::vector<sys_seconds>{utc("2026-10-23T22:00"), utc("2026-10-24T22:00"),
                                        utc("2026-10-25T23:00"), utc("2026-10-26T23:00")});
}

TEST_CASE("cron: 30 2 * * * on the DST days: after the gap once, the repeated hour once",
          "[runtime][cron]") {
  auto half_past_two = cron::parse("30 2 * * *").value();
  // 2026-03-29: 02:30 does not exist in Paris (02:00 CET -> 03:00 CEST): it fires at 03:00 CEST.
  const auto spring = half_past_two.next_after(utc("2026-03-28T12:00"), paris()).value();
  CHECK(spring == utc("2026-03-29T01:00"));
  CHECK(half_past_two.next_after(spring, paris()).value() ==
        utc("2026-03-30T00:30"));  // 02:30 CEST
  // 2026-10-25: 02:30 happens twice (CEST, then CET): it fires at the first only.
  const auto fall = half_past_two.next_after(utc("2026-10-24T12:00"), paris()).value();
  CHECK(fall == utc("2026-10-25T00:30"));
  CHECK(half_past_two.next_after(fall, paris()).value() ==
        utc("2026-10-26T01:30"));  // 02:30 CET, the next day
  // Every minute of the missing hour collapses into one run at the end of the gap.
  auto quarter = cron::parse("*/15 2 * * *").value();
  const auto first = quarter.next_after(utc("2026-03-28T23:00"), paris()).value();
  CHECK(first == utc("2026-03-29T01:00"));
  CHECK(quarter.next_after(first, paris()).value() == utc("2026-03-30T00:00"));
  // UTC has no such days.
  auto in_utc = logline::runtime::find_time_zone("UTC").value();
  CHECK(half_past_two.next_after(utc("2026-03-28T12:00"), in_utc).value() ==
        utc("2026-03-29T02:30"));
}

TEST_CASE("scheduler: fixed-rate jobs run when due, and a long gap runs once",
          "[runtime][scheduler]") {
  logline::runtime::manual_clock clock(utc("2026-01-01T00:00"));
  logline::runtime::memory_state st;
  logline::runtime::scheduler s(clock, st, {.inline_runs = true});
  std::vector<logline::runtime::run> runs;
  REQUIRE(s.add("observer", logline::runtime::schedule::every(10s),
                [&](const logline::runtime::run& r) { runs.push_back(r); }));
  CHECK_FALSE(s.add("observer", logline::runtime::schedule::every(5s),
                    [](const logline::runtime::run&) {}));  // one name, one job
  CHECK(s.tick() == 1);                                     // due at once
  CHECK(s.tick() == 0);
  clock.advance(5s);
  CHECK(s.tick() == 0);
  clock.advance(5s);
  CHECK(s.tick() == 1);
  REQUIRE(runs.size() == 2);
  CHECK(runs[1].due == utc("2026-01-01T00:00") + 10s);
  CHECK(runs[1].missed == 0);
  // Down for 95 s: one run, for the latest boundary, with the 8 before it counted as missed.
  clock.advance(95s);
  CHECK(s.tick() == 1);
  CHECK(s.tick() == 0);
  REQUIRE(runs.size() == 3);
  CHECK(runs[2].due == utc("2026-01-01T00:00") + 100s);
  CHECK(runs[2].missed == 8);
  CHECK(s.jobs().front().next == utc("2026-01-01T00:00") + 110s);
}

TEST_CASE(
    "scheduler: a Paris midnight job across spring-forward, and a run missed while down is made up "
    "once",
    "[runtime][scheduler]") {
  logline::runtime::manual_clock clock(utc("2026-03-27T12:00"));
  logline::runtime::memory_state st;
  std::vector<logline::runtime::run> runs;
  auto record = [&](const logline::runtime::run& r) { runs.push_back(r); };
  const auto midnight = logline::runtime::schedule::cron("0 0 * * *", "Europe/Paris").value();
  {
    logline::runtime::scheduler s(clock, st, {.inline_runs = true});
    REQUIRE(s.add("ruler", midnight, record));
    for (int hour = 0; hour < 4 * 24; ++hour) {
      s.tick();
      clock.advance(1h);
    }
  }
  // Midnight of the 28th, 29th, 30th and 31st, local time, once each.
  REQUIRE(runs.size() == 4);
  for (const auto& r : runs) {
    const auto local_time = paris()->to_local(r.due);
    CHECK(local_time - date::floor<date::days>(local_time) == 0s);
    CHECK(r.missed == 0);
  }
  CHECK(runs[2].due == utc("2026-03-29T22:00"));
  // The process is down from the 31st 12:00 UTC until the 3rd of April 10:00: three midnights
  // pass. A new scheduler with the same state runs the job once, for the latest one.
  runs.clear();
  clock.set(utc("2026-04-03T10:00"));
  logline::runtime::scheduler again(clock, st, {.inline_runs = true});
  REQUIRE(again.add("ruler", midnight, record));
  CHECK(again.tick() == 1);
  CHECK(again.tick() == 0);
  REQUIRE(runs.size() == 1);
  CHECK(runs[0].due == utc("2026-04-02T22:00"));
  CHECK(runs[0].missed == 2);
  CHECK(again.jobs().front().next == utc("2026-04-03T22:00"));
}

TEST_CASE("scheduler: a job still running when due again is not started twice",
          "[runtime][scheduler]") {
  logline::runtime::manual_clock clock(utc("2026-01-01T00:00"));
  logline::runtime::memory_state st;
  logline::runtime::scheduler s(clock, st, {});
  std::atomic<int> started{0}, concurrent{0}, most{0};
  std::atomic<bool> release{false};
  REQUIRE(
      s.add("worker", logline::runtime::schedule::every(10s), [&](const logline::runtime::run&) {
        ++started;
        most = std::max(most.load(), ++concurrent);
        while (!release) std::this_thread::yield();
        --concurrent;
      }));
  CHECK(s.tick() == 1);
  while (started == 0) std::this_thread::yield();
  for (int i = 0; i < 3; ++i) {
    clock.advance(10s);
    CHECK(s.tick() == 0);  // due, but still running: skipped
  }
  CHECK(s.jobs().front().skipped == 3);
  release = true;
  while (s.jobs().front().running) std::this_thread::yield();
  clock.advance(10s);
  CHECK(s.tick() == 1);
  s.stop();
  CHECK(started == 2);
  CHECK(most == 1);
  CHECK(s.jobs().front().runs == 2);
}

TEST_CASE("scheduler: stop tells running jobs and waits for them", "[runtime][scheduler]") {
  logline::runtime::manual_clock clock(utc("2026-01-01T00:00"));
  logline::runtime::memory_state st;
  logline::runtime::scheduler s(clock, st, {});
  std::atomic<bool> in_job{false}, finished{false};
  REQUIRE(
      s.add("policy", logline::runtime::schedule::every(30s), [&](const logline::runtime::run& r) {
        in_job = true;
        while (!r.stop_requested()) std::this_thread::yield();
        finished = true;
      }));
  s.start();
  while (!in_job) std::this_thread::yield();
  s.stop();
  CHECK(finished);
  CHECK(s.tick() == 0);  // stopped for good
}
