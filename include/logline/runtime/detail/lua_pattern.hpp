#pragma once
// logline::runtime::lua_pattern: Lua 5.4 patterns (reference manual §6.4.1) matched against a
// work budget. The sandbox (lua.hpp) uses it for string.find, match, gmatch and gsub instead of
// Lua's own matcher, which backtracks inside one C call where no hook can stop it:
// ("a"):rep(2000):find(".-.-b") ran 12 s against a 5 s limit. This one asks a meter for every
// 1024 steps, and the meter can say no.
//
//   struct counting_meter { std::uint64_t used = 0; bool charge(std::uint64_t n) { used += n; return used < 1e6; } };
//   counting_meter meter;
//   lua_pattern::matcher<counting_meter> m("key = value", "(%w+)%s*=%s*(%w+)", meter);
//   std::size_t end = m.match(0, 0);   // 11; m.capture(0) is {0, 3}, m.capture(1) is {6, 5}
//   m.settle();                        // charges the steps not yet charged
//
// What it implements, as the manual describes it: single-character classes (a byte; `.`; %a %c
// %d %g %l %p %s %u %w %x, and %z (the byte 0: gone from the manual, kept by Lua), and their
// upper-case complements; %x for any other non-alphanumeric x;
// sets [...] with ranges, classes and a leading ^), the quantifiers * + - ?, %n back-references,
// %bxy, %f[set], captures and position captures, ^ and $ anchors (^ is the caller's business: a
// pattern given to match() is matched where it is told to). Behaviour the manual leaves open
// follows what Lua 5.4 does, checked by differential tests against the Lua library
// (tests/runtime/lua_pattern_test.cpp) and a fuzzer (tests/fuzz/lua_pattern_fuzz.cpp):
// - Classes are those of the C locale, whatever the process's locale (Lua asks <ctype.h>).
// - A malformed part of a pattern is an error only when matching reaches it, so
//   ("abc"):find("x[") is nil but ("xbc"):find("x[") an error; the messages are Lua's.
// - Nested matching calls stop at 200 ("pattern too complex"), the same calls as in Lua: one per
//   capture opened or closed, per `?` that matched, per try of `*`, `+` and `-`.
//
// Cost: one step per pattern item tried at a subject position, per character a quantifier or %b
// scans, plus one per 8 bytes of a set scanned or a back-reference compared (so a 1 MB set or
// capture is not one step). The meter is charged with `steps_per_charge` steps at a time and once
// more by settle(); when it refuses, matching stops at once and failure() is `stopped`.
//
// No allocation, no exceptions, trivially destructible: a matcher may live in a C frame that a
// Lua error unwinds with longjmp (see lua.hpp).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <type_traits>

namespace logline::runtime::lua_pattern {

inline constexpr int max_captures = 32;  // Lua's LUA_MAXCAPTURES
inline constexpr int max_depth = 200;    // Lua's MAXCCALLS for patterns
inline constexpr std::uint32_t steps_per_charge = 1024;
inline constexpr std::size_t npos = static_cast<std::size_t>(-1);

// Why matching stopped short of an answer.
enum class failure : unsigned char {
  none,
  stopped,                  // the meter refused: a limit of the run was reached
  ends_with_percent,        // "malformed pattern (ends with '%')"
  missing_bracket,          // "malformed pattern (missing ']')"
  missing_b_arguments,      // "malformed pattern (missing arguments to '%b')"
  missing_f_bracket,        // "missing '[' after '%f' in pattern"
  invalid_capture_index,    // "invalid capture index %<n>" (n: failure_detail())
  invalid_pattern_capture,  // "invalid pattern capture" (a ')' with no open capture)
  too_many_captures,        // "too many captures"
  too_complex,              // "pattern too complex"
};

// Lua's message for f, as a printf format taking failure_detail() (only invalid_capture_index
// uses it).
constexpr const char* message_format(failure f) noexcept {
  switch (f) {
    case failure::none:
      return "no error";
    case failure::stopped:
      return "stopped by a limit";
    case failure::ends_with_percent:
      return "malformed pattern (ends with '%%')";
    case failure::missing_bracket:
      return "malformed pattern (missing ']')";
    case failure::missing_b_arguments:
      return "malformed pattern (missing arguments to '%%b')";
    case failure::missing_f_bracket:
      return "missing '[' after '%%f' in pattern";
    case failure::invalid_capture_index:
      return "invalid capture index %%%d";
    case failure::invalid_pattern_capture:
      return "invalid pattern capture";
    case failure::too_many_captures:
      return "too many captures";
    case failure::too_complex:
      return "pattern too complex";
  }
  return "unknown pattern error";
}

// A capture: where it starts in the subject and how long it is, or one of the two markers.
struct capture {
  static constexpr std::ptrdiff_t unfinished = -1;  // opened, not closed yet
  static constexpr std::ptrdiff_t position = -2;    // (): only the position counts
  std::size_t start;
  std::ptrdiff_t length;  // or one of the two above
};

namespace detail {

// The C locale's character classes, one bit each.
enum : std::uint16_t {
  cls_alpha = 1,
  cls_cntrl = 2,
  cls_digit = 4,
  cls_graph = 8,
  cls_lower = 16,
  cls_punct = 32,
  cls_space = 64,
  cls_upper = 128,
  cls_xdigit = 256,
  cls_zero = 512,
};

constexpr std::array<std::uint16_t, 256> make_class_table() noexcept {
  std::array<std::uint16_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    std::uint16_t bits = 0;
    const bool upper = c >= 'A' && c <= 'Z', lower = c >= 'a' && c <= 'z',
               digit = c >= '0' && c <= '9';
    if (upper) bits |= cls_upper | cls_alpha;
    if (lower) bits |= cls_lower | cls_alpha;
    if (digit) bits |= cls_digit;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) bits |= cls_xdigit;
    if (c < 32 || c == 127) bits |= cls_cntrl;
    if (c == ' ' || (c >= '\t' && c <= '\r')) bits |= cls_space;
    if (c == 0) bits |= cls_zero;
    if (c > 32 && c < 127) {
      bits |= cls_graph;
      if (!upper && !lower && !digit) bits |= cls_punct;
    }
    t[static_cast<std::size_t>(c)] = bits;
  }
  return t;
}

inline constexpr std::array<std::uint16_t, 256> class_table = make_class_table();

// Does byte c belong to %<letter>? A letter that names no class stands for itself; an upper-case
// class letter is the complement of its lower-case class.
constexpr bool in_class(unsigned char c, unsigned char letter) noexcept {
  std::uint16_t bits = 0;
  switch (letter | 0x20) {  // lower case for letters; no other byte becomes a class letter
    case 'a':
      bits = cls_alpha;
      break;
    case 'c':
      bits = cls_cntrl;
      break;
    case 'd':
      bits = cls_digit;
      break;
    case 'g':
      bits = cls_graph;
      break;
    case 'l':
      bits = cls_lower;
      break;
    case 'p':
      bits = cls_punct;
      break;
    case 's':
      bits = cls_space;
      break;
    case 'u':
      bits = cls_upper;
      break;
    case 'w':
      bits = cls_alpha | cls_digit;
      break;
    case 'x':
      bits = cls_xdigit;
      break;
    case 'z':
      bits = cls_zero;
      break;  // not in the manual since 5.2, still in Lua: the byte 0
    default:
      return letter == c;
  }
  const bool member = (class_table[c] & bits) != 0;
  return (letter >= 'A' && letter <= 'Z') ? !member : member;
}

}  // namespace detail

// Matches one pattern against one subject. `Meter` has `bool charge(std::uint64_t steps)`, false
// once no more work is allowed. Both strings must outlive the matcher.
template <class Meter>
class matcher {
 public:
  // (caps_ is left uninitialized on purpose: a matcher is made for every find() call.)
  matcher(std::string_view subject, std::string_view pattern, Meter& meter) noexcept
      : s_(reinterpret_cast<const unsigned char*>(subject.data())),
        p_(reinterpret_cast<const unsigned char*>(pattern.data())),
        slen_(subject.size()),
        plen_(pattern.size()),
        meter_(&meter) {}

  // Matches pattern[from..] at subject offset `at` (<= the subject's size). Returns the offset
  // where the match ends, or npos for no match and for a failure (see failure()). Captures of
  // the last successful call stay readable until the next call.
  std::size_t match(std::size_t at, std::size_t from) noexcept {
    level_ = 0;
    depth_ = max_depth;
    if (failure_ != failure::none) return npos;
    return nested(at, from);
  }

  // Charges the steps not yet charged. Call it when done; false if that reached a limit (or a
  // failure happened earlier).
  bool settle() noexcept {
    if (failure_ != failure::none) return false;
    if (unpaid_ > 0 && !meter_->charge(unpaid_)) failure_ = failure::stopped;
    unpaid_ = 0;
    return failure_ == failure::none;
  }

  // Work done outside the matcher (a caller scanning or copying), charged with the matcher's.
  bool spend(std::uint64_t steps) noexcept { return step(steps); }

  failure failed() const noexcept { return failure_; }
  int failure_detail() const noexcept { return detail_; }
  int captures() const noexcept { return level_; }
  capture capture_at(int i) const noexcept { return caps_[static_cast<std::size_t>(i)]; }

 private:
  std::size_t fail(failure f, int detail = 0) noexcept {
    if (failure_ == failure::none) {
      failure_ = f;
      detail_ = detail;
    }
    credit_ = 0;  // the next step() looks at failure_
    return npos;
  }

  bool step(std::uint64_t n) noexcept {
    unpaid_ += n;
    if (n < credit_) {
      credit_ -= static_cast<std::uint32_t>(n);
      return true;
    }
    if (failure_ != failure::none) return false;
    if (!meter_->charge(unpaid_)) {
      fail(failure::stopped);
      return false;
    }
    unpaid_ = 0;
    credit_ = steps_per_charge;
    return true;
  }

  unsigned char pat(std::size_t p) const noexcept { return p < plen_ ? p_[p] : 0; }

  // One nested matching call: the depth Lua allows is counted here.
  std::size_t nested(std::size_t s, std::size_t p) noexcept {
    if (depth_ == 0) return fail(failure::too_complex);
    --depth_;
    const std::size_t end = sequence(s, p);
    ++depth_;
    return end;
  }

  // Matches pattern[p..] at s. Items that need no backtracking are consumed in this loop; the
  // others continue in a nested call.
  std::size_t sequence(std::size_t s, std::size_t p) noexcept {
    for (;;) {
      if (!step(1)) return npos;
      if (p == plen_) return s;
      const unsigned char c = p_[p];
      if (c == '(') {
        if (pat(p + 1) == ')') return open_capture(s, p + 2, capture::position);
        return open_capture(s, p + 1, capture::unfinished);
      }
      if (c == ')') return close_capture(s, p + 1);
      if (c == '$' && p + 1 == plen_) return s == slen_ ? s : npos;
      if (c == '%') {
        const unsigned char next = pat(p + 1);
        if (next == 'b') {
          s = balanced(s, p + 2);
          if (s == npos) return npos;
          p += 4;
          continue;
        }
        if (next == 'f') {
          if (!frontier(s, p + 2, p)) return npos;
          continue;
        }
        if (next >= '0' && next <= '9') {
          s = back_reference(s, next);
          if (s == npos) return npos;
          p += 2;
          continue;
        }
      }
      // A single-character class, maybe with a quantifier.
      const std::size_t ep = class_end(p);
      if (ep == npos) return npos;
      const unsigned char quantifier = pat(ep);
      if (!single(s, p, ep)) {
        if (quantifier == '*' || quantifier == '?' ||
            quantifier == '-') {  // zero repetitions will do
          p = ep + 1;
          continue;
        }
        return npos;
      }
      switch (quantifier) {
        case '?': {
          const std::size_t end = nested(s + 1, ep + 1);
          if (end != npos || failure_ != failure::none) return end;
          p = ep + 1;  // without the optional character
          continue;
        }
        case '+':
          return longest(s + 1, p, ep);
        case '*':
          return longest(s, p, ep);
        case '-':
          return shortest(s, p, ep);
        default:
          ++s;
          p = ep;
          continue;
      }
    }
  }

  // Where the single-character class at p ends (its quantifier, if any, is at the result).
  std::size_t class_end(std::size_t p) noexcept {
    const unsigned char c = p_[p++];
    if (c == '%') {
      if (p >= plen_) return fail(failure::ends_with_percent);
      return p + 1;
    }
    if (c != '[') return p;
    const std::size_t open = p;
    if (pat(p) == '^') ++p;
    // The first character of a set is a member even when it is ']'; '%' escapes the next one.
    do {
      if (p >= plen_) return fail(failure::missing_bracket);
      if (p_[p++] == '%' && p < plen_) ++p;
    } while (p >= plen_ || p_[p] != ']');
    if (p - open >= 8 && !step((p - open) >> 3)) return npos;
    return p + 1;
  }

  // Does the subject byte at s match the class pattern[p..ep)?
  bool single(std::size_t s, std::size_t p, std::size_t ep) noexcept {
    if (s >= slen_) return false;
    const unsigned char c = s_[s];
    switch (p_[p]) {
      case '.':
        return true;
      case '%':
        return detail::in_class(c, p_[p + 1]);
      case '[':
        return in_set(c, p, ep - 1);
      default:
        return p_[p] == c;
    }
  }

  // Is c in the set that opens at p ('[') and closes at close (']')?
  bool in_set(unsigned char c, std::size_t p, std::size_t close) noexcept {
    if (close - p >= 8) step((close - p) >> 3);  // a refusal shows at the next step
    bool member = true;
    if (p_[p + 1] == '^') {
      member = false;
      ++p;
    }
    while (++p < close) {
      if (p_[p] == '%') {
        ++p;
        if (detail::in_class(c, p_[p])) return member;
      } else if (p_[p + 1] == '-' && p + 2 < close) {
        if (p_[p] <= c && c <= p_[p + 2]) return member;
        p += 2;
      } else if (p_[p] == c) {
        return member;
      }
    }
    return !member;
  }

  // `x*` (from s) or `x+` (from s + 1, one x already matched): as many x as there are, then
  // fewer until the rest matches.
  std::size_t longest(std::size_t s, std::size_t p, std::size_t ep) noexcept {
    std::size_t n = 0;
    while (single(s + n, p, ep)) ++n;  // at most the rest of the subject, paid for at once
    if (!step(n)) return npos;
    for (;;) {
      const std::size_t end = nested(s + n, ep + 1);
      if (end != npos || failure_ != failure::none) return end;
      if (n == 0) return npos;
      --n;
    }
  }

  // `x-`: as few x as will let the rest match.
  std::size_t shortest(std::size_t s, std::size_t p, std::size_t ep) noexcept {
    for (;;) {
      const std::size_t end = nested(s, ep + 1);
      if (end != npos || failure_ != failure::none) return end;
      if (!single(s, p, ep)) return npos;
      ++s;
    }
  }

  // %bxy at s (p: the x): x, then up to the y that balances it.
  std::size_t balanced(std::size_t s, std::size_t p) noexcept {
    if (p + 1 >= plen_) return fail(failure::missing_b_arguments);
    if (s >= slen_ || s_[s] != p_[p]) return npos;
    const unsigned char open = p_[p], close = p_[p + 1];
    std::size_t open_count = 1, i = s + 1;
    for (; i < slen_; ++i) {
      if (s_[i] == close) {
        if (--open_count == 0) break;
      } else if (s_[i] == open) {
        ++open_count;
      }
    }
    if (!step(i - s)) return npos;  // the bytes scanned: at most the rest of the subject
    return i < slen_ ? i + 1 : npos;
  }

  // %f[set] at s (set: the '['). True and p past the set when the byte before s is not in the set
  // and the byte at s is (the subject's ends count as byte 0).
  bool frontier(std::size_t s, std::size_t set, std::size_t& p) noexcept {
    if (pat(set) != '[') {
      fail(failure::missing_f_bracket);
      return false;
    }
    const std::size_t ep = class_end(set);
    if (ep == npos) return false;
    const unsigned char before = s == 0 ? 0 : s_[s - 1];
    const unsigned char at = s < slen_ ? s_[s] : 0;
    if (in_set(before, set, ep - 1) || !in_set(at, set, ep - 1)) return false;
    p = ep;
    return true;
  }

  // %1..%9 at s: the same bytes as that capture, which must be closed. %0 is an error too.
  std::size_t back_reference(std::size_t s, unsigned char digit) noexcept {
    const int index = digit - '1';
    if (index < 0 || index >= level_ ||
        caps_[static_cast<std::size_t>(index)].length == capture::unfinished)
      return fail(failure::invalid_capture_index, index + 1);
    const capture& c = caps_[static_cast<std::size_t>(index)];
    if (c.length < 0) return npos;  // a position capture matches no text
    const auto length = static_cast<std::size_t>(c.length);
    if (!step(1 + (length >> 3))) return npos;
    if (slen_ - s < length || (length > 0 && std::memcmp(s_ + c.start, s_ + s, length) != 0))
      return npos;
    return s + length;
  }

  std::size_t open_capture(std::size_t s, std::size_t p, std::ptrdiff_t kind) noexcept {
    if (level_ >= max_captures) return fail(failure::too_many_captures);
    caps_[static_cast<std::size_t>(level_)] = {s, kind};
    ++level_;
    const std::size_t end = nested(s, p);
    if (end == npos) --level_;
    return end;
  }

  std::size_t close_capture(std::size_t s, std::size_t p) noexcept {
    int open = level_ - 1;  // the innermost capture still open
    while (open >= 0 && caps_[static_cast<std::size_t>(open)].length != capture::unfinished) --open;
    if (open < 0) return fail(failure::invalid_pattern_capture);
    capture& c = caps_[static_cast<std::size_t>(open)];
    c.length = static_cast<std::ptrdiff_t>(s - c.start);
    const std::size_t end = nested(s, p);
    if (end == npos) c.length = capture::unfinished;
    return end;
  }

  const unsigned char* s_;
  const unsigned char* p_;
  std::size_t slen_, plen_;
  Meter* meter_;
  std::uint64_t unpaid_ = 0;                 // steps taken and not yet charged
  std::uint32_t credit_ = steps_per_charge;  // steps before the next charge; 0 after a failure
  int depth_ = max_depth;
  int level_ = 0;  // captures opened
  failure failure_ = failure::none;
  int detail_ = 0;
  std::array<capture, max_captures> caps_;  // [0, level_) are set; the rest is never read
};

}  // namespace logline::runtime::lua_pattern
