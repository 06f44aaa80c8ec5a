#pragma once
// The law grammar's values: a parsed law (its branches and their conditions as a flat node
// array), the actions a branch takes and the decision an evaluation gives. law.hpp parses,
// evaluates and composes them.
#include <algorithm>
#include <array>
#include <charconv>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "logline/blake3.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"

namespace logline::runtime::laws {

inline constexpr std::size_t max_text_bytes = 64 * 1024;  // a law text
inline constexpr std::size_t max_depth = 32;              // nested parentheses and `not`
inline constexpr std::int64_t max_hold_hours = 24 * 366;  // hold(hours=N): 1 <= N <= this

enum class triage { ok, doubt, not_ };  // ordered by severity; not_ reads "not"

inline std::string_view to_string(triage t) noexcept {
  switch (t) {
    case triage::ok:
      return "ok";
    case triage::doubt:
      return "doubt";
    case triage::not_:
      return "not";
  }
  return "doubt";
}

enum class action_kind { accept, hold, terminate, notify, tag, append_ledger };

// One action (an obligation) of a branch. Only the fields of its kind are set.
struct action {
  action_kind kind = action_kind::accept;
  std::int64_t hours = 0;  // hold
  std::string reason;      // terminate
  std::string role;        // notify
  std::string key, val;    // tag
  friend bool operator==(const action&, const action&) = default;
};

inline action accept() { return {.kind = action_kind::accept}; }
inline action hold(std::int64_t hours) { return {.kind = action_kind::hold, .hours = hours}; }
inline action terminate(std::string reason) {
  return {.kind = action_kind::terminate, .reason = std::move(reason)};
}
inline action notify(std::string role) {
  return {.kind = action_kind::notify, .role = std::move(role)};
}
inline action tag(std::string key, std::string val) {
  return {.kind = action_kind::tag, .key = std::move(key), .val = std::move(val)};
}
inline action append_ledger() { return {.kind = action_kind::append_ledger}; }

// hold 24 h, notify ops, append_ledger: what doubt without a matching doubt branch obliges.
inline std::vector<action> default_obligations() {
  return {hold(24), notify("ops"), append_ledger()};
}

// {"action": "hold", "hours": 24}, {"action": "tag", "key": ..., "val": ...}, ...
inline json to_json(const action& a) {
  switch (a.kind) {
    case action_kind::accept:
      return {{"action", "accept"}};
    case action_kind::hold:
      return {{"action", "hold"}, {"hours", a.hours}};
    case action_kind::terminate:
      return {{"action", "terminate"}, {"reason", a.reason}};
    case action_kind::notify:
      return {{"action", "notify"}, {"role", a.role}};
    case action_kind::tag:
      return {{"action", "tag"}, {"key", a.key}, {"val", a.val}};
    case action_kind::append_ledger:
      return {{"action", "append_ledger"}};
  }
  return nullptr;
}

// A parsed expression: nodes in one vector, children by index (so a law copies and destroys
// without recursion). and/or are n-ary, so evaluation recurses only as deep as the nesting.
enum class node_kind { literal, path, not_, and_, or_, eq, ne, lt, le, gt, ge };

struct node {
  node_kind kind = node_kind::literal;
  json value;                          // literal
  std::vector<std::string> path;       // path: its segments
  std::string text;                    // literal or path as written, for messages
  std::vector<std::size_t> operands;   // indexes into law::nodes
  std::uint32_t line = 0, column = 0;  // where it starts
};

struct branch {
  std::size_t condition = 0;  // index into law::nodes
  std::vector<action> actions;
  std::uint32_t line = 0, column = 0;  // of its `if`
};

struct law {
  std::string id, version, scope, clock;
  std::string hash;  // blake3_hex of the exact text
  std::vector<node> nodes;
  std::array<std::optional<branch>, 3> branches;  // indexed by triage
};

struct decision {
  enum triage triage = triage::doubt;
  std::vector<action> actions;
  std::optional<enum triage> branch;  // the branch that fired; none for defaults and composites
  std::string error;                  // why evaluation failed ("law:4:9: ..."), or empty
  friend bool operator==(const decision&, const decision&) = default;
};

}  // namespace logline::runtime::laws
