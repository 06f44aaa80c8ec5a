#pragma once
// logline::runtime::cron: five-field cron expressions, evaluated in an IANA time zone.
//
//   auto midnight = logline::runtime::cron::parse("0 0 * * *").value();
//   auto paris = logline::runtime::find_time_zone("Europe/Paris").value();
//   auto next = midnight.next_after(now, paris).value();   // 00:00 Paris time, as a UTC instant
//
// Fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of week
// (0-7 or SUN-SAT; 0 and 7 are Sunday). Each field is a list (`,`) of `*`, `N`, `A-B`, each
// optionally stepped (`*/15`, `8-18/2`, `5/10` = 5-max/10). Names are case-insensitive. As in
// Vixie cron, when both day fields are restricted (neither starts with `*`) a day matches if
// either does; otherwise both must.
//
// Local time across daylight-saving changes (docs/runtime.md):
// - a local time that does not exist that day (spring forward: 02:30 in Paris on the last Sunday
//   of March) fires once, at the first instant after the gap (03:00 local);
// - a local time that happens twice (fall back: 02:30 on the last Sunday of October) fires once,
//   at its first occurrence;
// so `0 0 * * *` fires exactly once per local day, whatever the day's length.
//
// Time zones come from the system's tz database (/usr/share/zoneinfo, Debian's tzdata) through
// Howard Hinnant's date library (libhowardhinnant-date-dev; link logline::runtime).
#include <date/tz.h>

#include <bitset>
#include <cctype>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "logline/error.hpp"

namespace logline::runtime {

using sys_seconds = date::sys_seconds;

// The zone named `name` ("Europe/Paris", "UTC"), or a clear error.
inline result<const date::time_zone*> find_time_zone(std::string_view name) {
  try {
    return date::locate_zone(std::string(name));
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument,
                      "unknown time zone '" + std::string(name.substr(0, 64)) + "'");
  }
}

class cron {
 public:
  static result<cron> parse(std::string_view text) {
    cron c;
    c.text_ = std::string(text);
    std::vector<std::string_view> fields;
    for (std::size_t i = 0; i < text.size();) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      const std::size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i > start) fields.push_back(text.substr(start, i - start));
    }
    if (fields.size() != 5)
      return c.fail("expected 5 fields (minute hour day-of-month month day-of-week), found " +
                    std::to_string(fields.size()));
    LOGLINE_TRY_VOID(c.field(fields[0], "minute", 0, 59, {}, c.minute_));
    LOGLINE_TRY_VOID(c.field(fields[1], "hour", 0, 23, {}, c.hour_));
    LOGLINE_TRY_VOID(c.field(fields[2], "day-of-month", 1, 31, {}, c.day_));
    LOGLINE_TRY_VOID(c.field(
        fields[3], "month", 1, 12,
        {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"},
        c.month_));
    std::bitset<64> weekday;
    LOGLINE_TRY_VOID(c.field(fields[4], "day-of-week", 0, 7,
                             {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"}, weekday));
    if (weekday[7]) weekday[0] = true;  // 7 is Sunday too
    c.weekday_ = weekday;
    c.day_any_ = fields[2].front() == '*';
    c.weekday_any_ = fields[4].front() == '*';
    return c;
  }

  const std::string& text() const noexcept { return text_; }

  // Whether the expression fires at this local minute (seconds are ignored).
  bool matches(date::local_seconds t) const {
    const auto day = date::floor<date::days>(t);
    const date::year_month_day ymd(day);
    const date::hh_mm_ss<std::chrono::seconds> hms(t - day);
    return month_[static_cast<unsigned>(ymd.month())] && day_matches(ymd) &&
           hour_[static_cast<std::size_t>(hms.hours().count())] &&
           minute_[static_cast<std::size_t>(hms.minutes().count())];
  }

  // The first instant strictly after `after` at which the expression fires in `tz`. An error if
  // it never fires within five years (e.g. "0 0 30 2 *").
  result<sys_seconds> next_after(sys_seconds after, const date::time_zone* tz) const {
    using namespace std::chrono;
    const date::local_seconds from = tz->to_local(after);
    date::local_seconds t = date::floor<minutes>(from) + minutes(1);
    const date::local_seconds limit = from + date::days(5 * 366);
    while (t < limit) {
      const auto day = date::floor<date::days>(t);
      const date::year_month_day ymd(day);
      if (!month_[static_cast<unsigned>(ymd.month())]) {
        const auto next_month = ymd.year() / ymd.month() / 1 + date::months(1);
        t = date::local_days(next_month);
        continue;
      }
      if (!day_matches(ymd)) {
        t = day + date::days(1);
        continue;
      }
      const date::hh_mm_ss<seconds> hms(t - day);
      if (!hour_[static_cast<std::size_t>(hms.hours().count())]) {
        t = date::floor<hours>(t) + hours(1);
        continue;
      }
      if (!minute_[static_cast<std::size_t>(hms.minutes().count())]) {
        t += minutes(1);
        continue;
      }
      // A local time in a spring-forward gap maps to the end of the gap; one in a fall-back
      // overlap to its first occurrence. Either way only an instant after `after` counts, so a
      // gap's minutes fire once and the overlap's second pass not at all.
      const sys_seconds at = tz->to_sys(t, date::choose::earliest);
      if (at > after) return at;
      t += minutes(1);
    }
    return make_error(errc::invalid_argument,
                      "cron '" + text_.substr(0, 80) + "' does not fire within five years");
  }

 private:
  bool day_matches(const date::year_month_day& ymd) const {
    const bool by_day = day_[static_cast<unsigned>(ymd.day())];
    const bool by_weekday = weekday_[date::weekday(date::sys_days(ymd)).c_encoding()];
    if (!day_any_ && !weekday_any_) return by_day || by_weekday;
    return by_day && by_weekday;
  }

  error_info fail(const std::string& what) const {
    return make_error(errc::invalid_argument, "cron '" + text_.substr(0, 80) + "': " + what);
  }

  // A number or (for month and weekday) a name; `max` bounds it.
  result<int> value(std::string_view s, const char* name, int min, int max,
                    const std::vector<std::string_view>& names) const {
    if (s.empty()) return fail(std::string(name) + ": a value is missing");
    if (std::isalpha(static_cast<unsigned char>(s.front()))) {
      for (std::size_t i = 0; i < names.size(); ++i) {
        if (s.size() != names[i].size()) continue;
        bool same = true;
        for (std::size_t k = 0; k < s.size(); ++k)
          same = same && std::toupper(static_cast<unsigned char>(s[k])) == names[i][k];
        if (same) return static_cast<int>(i) + min;
      }
      return fail(std::string(name) + ": unknown name '" + std::string(s.substr(0, 16)) + "'");
    }
    if (s.size() > 4 || s.find_first_not_of("0123456789") != std::string_view::npos)
      return fail(std::string(name) + ": '" + std::string(s.substr(0, 16)) + "' is not a number");
    const int v = std::stoi(std::string(s));
    if (v < min || v > max)
      return fail(std::string(name) + ": " + std::to_string(v) + " is out of range " +
                  std::to_string(min) + "-" + std::to_string(max));
    return v;
  }

  template <std::size_t N>
  result<void> field(std::string_view text, const char* name, int min, int max,
                     const std::vector<std::string_view>& names, std::bitset<N>& bits) const {
    std::size_t pos = 0;
    for (;;) {
      const std::size_t comma = text.find(',', pos);
      std::string_view item =
          text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
      if (item.empty()) return fail(std::string(name) + ": an empty list item");
      int step = 1;
      const bool stepped = item.find('/') != std::string_view::npos;
      if (const auto slash = item.find('/'); slash != std::string_view::npos) {
        const auto s = item.substr(slash + 1);
        if (s.empty() || s.size() > 4 ||
            s.find_first_not_of("0123456789") != std::string_view::npos)
          return fail(std::string(name) + ": the step '" + std::string(s.substr(0, 16)) +
                      "' is not a number");
        step = std::stoi(std::string(s));
        if (step < 1) return fail(std::string(name) + ": a step must be at least 1");
        item = item.substr(0, slash);
      }
      int lo = min, hi = max;
      if (item == "*") {
      } else if (const auto dash = item.find('-'); dash != std::string_view::npos) {
        LOGLINE_TRY(from, value(item.substr(0, dash), name, min, max, names));
        LOGLINE_TRY(to, value(item.substr(dash + 1), name, min, max, names));
        if (from > to)
          return fail(std::string(name) + ": the range " + std::string(item) + " runs backwards");
        lo = from;
        hi = to;
      } else {
        LOGLINE_TRY(single, value(item, name, min, max, names));
        lo = single;
        hi = stepped ? max : single;  // "5/10": from 5 to the end, every 10
      }
      for (int v = lo; v <= hi; v += step) bits.set(static_cast<std::size_t>(v));
      if (comma == std::string_view::npos) return {};
      pos = comma + 1;
    }
  }

  std::string text_;
  std::bitset<64> minute_, hour_, day_, month_, weekday_;
  bool day_any_ = true, weekday_any_ = true;
};

}  // namespace logline::runtime
