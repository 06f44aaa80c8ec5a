#pragma once
// law.hpp's internals: evaluating a parsed law's conditions against JSON variables, and the
// helpers of compose() and the decision record.
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

#include "logline/json.hpp"
#include "logline/runtime/detail/law_parser.hpp"
#include "logline/runtime/law_model.hpp"

namespace logline::runtime::laws::detail {

enum class kind_of { null, boolean, number, string, array, object, other };
inline kind_of kind(const json& v) noexcept {
  if (v.is_null()) return kind_of::null;
  if (v.is_boolean()) return kind_of::boolean;
  if (v.is_number()) return kind_of::number;
  if (v.is_string()) return kind_of::string;
  if (v.is_array()) return kind_of::array;
  if (v.is_object()) return kind_of::object;
  return kind_of::other;
}
inline std::string_view kind_name(kind_of k) noexcept {
  constexpr std::array<std::string_view, 7> names = {"null (unset)",  "a boolean", "a number",
                                                     "a string",      "an array",  "an object",
                                                     "a binary value"};
  return names[static_cast<std::size_t>(k)];
}

// Two JSON numbers by value: integers exactly (signed and unsigned alike), else as doubles (NaN
// is unordered).
inline std::partial_ordering compare_numbers(const json& a, const json& b) noexcept {
  if (a.is_number_integer() && b.is_number_integer()) {
    const bool ua = a.is_number_unsigned(), ub = b.is_number_unsigned();
    if (ua && ub) return a.get<std::uint64_t>() <=> b.get<std::uint64_t>();
    if (!ua && !ub) return a.get<std::int64_t>() <=> b.get<std::int64_t>();
    const auto s = ua ? b.get<std::int64_t>() : a.get<std::int64_t>();
    const auto u = ua ? a.get<std::uint64_t>() : b.get<std::uint64_t>();
    const std::strong_ordering signed_vs_unsigned =
        s < 0 ? std::strong_ordering::less : static_cast<std::uint64_t>(s) <=> u;
    return ua ? 0 <=> signed_vs_unsigned : signed_vs_unsigned;
  }
  return a.get<double>() <=> b.get<double>();
}

inline bool equal(const json& a, const json& b) {
  const kind_of k = kind(a);
  if (k != kind(b)) return false;
  if (k == kind_of::number) return compare_numbers(a, b) == 0;
  return a == b;
}

inline bool compare(node_kind op, const json& a, const json& b) {
  switch (op) {
    case node_kind::eq:
      return equal(a, b);
    case node_kind::ne:
      return !equal(a, b);
    default:
      break;
  }
  std::partial_ordering order = std::partial_ordering::unordered;
  if (a.is_number() && b.is_number()) order = compare_numbers(a, b);
  if (a.is_string() && b.is_string())
    order = a.get_ref<const std::string&>() <=> b.get_ref<const std::string&>();
  switch (op) {
    case node_kind::lt:
      return order < 0;
    case node_kind::le:
      return order <= 0;
    case node_kind::gt:
      return order > 0;
    case node_kind::ge:
      return order >= 0;
    default:
      return false;
  }
}

class evaluator {
 public:
  evaluator(const law& l, const json& variables) : law_(l), vars_(variables) {}

  result<bool> truth(std::size_t index) const {
    const node& n = law_.nodes[index];
    switch (n.kind) {
      case node_kind::and_:
      case node_kind::or_: {
        const bool is_or = n.kind == node_kind::or_;
        for (std::size_t operand : n.operands) {
          auto r = truth(operand);
          if (!r || *r == is_or) return r;
        }
        return !is_or;
      }
      case node_kind::not_: {
        auto r = truth(n.operands[0]);
        if (!r) return r;
        return !*r;
      }
      case node_kind::literal:
      case node_kind::path: {
        const json& v = value(n);
        if (v.is_boolean()) return v.get<bool>();
        if (v.is_null()) return false;  // unset is not true
        return fail(
            errc::execution_failed, n.line, n.column,
            backquoted(n.text) + " is " + std::string(kind_name(kind(v))) + ", not true or false");
      }
      default: {
        json scratch[2];
        const json* operands[2];
        for (std::size_t i = 0; i < 2; ++i) {
          const node& o = law_.nodes[n.operands[i]];
          if (o.kind == node_kind::literal || o.kind == node_kind::path) {
            operands[i] = &value(o);
          } else {
            auto r = truth(n.operands[i]);
            if (!r) return r;
            scratch[i] = *r;
            operands[i] = &scratch[i];
          }
        }
        return compare(n.kind, *operands[0], *operands[1]);
      }
    }
  }

 private:
  const json& value(const node& n) const {
    static const json null_value;
    if (n.kind == node_kind::literal) return n.value;
    const json* at = &vars_;
    for (const std::string& segment : n.path) {
      if (!at->is_object()) return null_value;
      const auto it = at->find(segment);
      if (it == at->end()) return null_value;
      at = &*it;
    }
    return *at;
  }

  const law& law_;
  const json& vars_;
};

inline decision defaults(std::string error = {}) {
  return {.triage = triage::doubt,
          .actions = default_obligations(),
          .branch = std::nullopt,
          .error = std::move(error)};
}

template <class T>
void add_distinct(std::vector<T>& to, const T& item) {
  if (std::find(to.begin(), to.end(), item) == to.end()) to.push_back(item);
}

inline std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "; ") + p;
  return out;
}

// Appends s to out with its length first, so a sequence of fields has one reading.
inline void frame(std::string& out, std::string_view s) {
  out += std::to_string(s.size());
  out += ':';
  out += s;
}

}  // namespace logline::runtime::laws::detail
