#pragma once
// json.hpp's internals: the strict I-JSON reader (a SAX builder over nlohmann's parser that
// refuses what the canonical form could not say exactly) and the checks of a value built in
// code. The rules are at the top of json.hpp.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "logline/detail/json_text.hpp"
#include "logline/error.hpp"

namespace logline::detail {

using json = nlohmann::json;  // logline::json (json.hpp)

inline std::string json_error_text(std::string what, std::size_t offset,
                                   const std::string* pointer) {
  what += " at byte ";
  what += std::to_string(offset);
  if (pointer != nullptr && !pointer->empty()) {
    what += " (JSON pointer ";
    what += quote_for_message(*pointer);
    what += ')';
  }
  return what;
}

inline std::string number_refusal(std::string_view written, const decimal& canonical_value) {
  std::string what = "number ";
  append_printable(what, written);
  what += " cannot be represented exactly";
  what += " (its canonical form would be ";
  append_es6(what, canonical_value);
  what += ')';
  return what;
}

// Lets the parser tell how many bytes the lexer has taken, for byte offsets in messages.
struct counting_iterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* at = nullptr;
  std::size_t* taken = nullptr;

  reference operator*() const noexcept { return *at; }
  counting_iterator& operator++() noexcept {
    ++at;
    ++*taken;
    return *this;
  }
  counting_iterator operator++(int) noexcept {
    counting_iterator before = *this;
    ++*this;
    return before;
  }
  friend bool operator==(const counting_iterator& a, const counting_iterator& b) noexcept {
    return a.at == b.at;
  }
  friend bool operator!=(const counting_iterator& a, const counting_iterator& b) noexcept {
    return a.at != b.at;
  }
};

// nlohmann SAX handler that builds the value and enforces the I-JSON rules as it goes.
class ijson_builder {
 public:
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  ijson_builder(std::string_view text, const std::size_t* taken, std::size_t max_depth)
      : text_(text), taken_(taken), max_depth_(max_depth) {}

  json root;
  std::optional<error_info> failure;

  bool null() { return add(json(nullptr)); }
  bool boolean(bool b) { return add(json(b)); }
  bool number_integer(number_integer_t v) {
    if (!integer_exact(v)) return refuse_number(shortest_decimal(static_cast<double>(v)));
    return add(json(v));
  }
  bool number_unsigned(number_unsigned_t v) {
    if (!integer_exact(v)) return refuse_number(shortest_decimal(static_cast<double>(v)));
    return add(json(v));
  }
  bool number_float(number_float_t v, const string_t& written) {
    const decimal canonical_value = shortest_decimal(v);
    if (!(parse_decimal(written) == canonical_value)) return refuse_number(canonical_value);
    return add(json(v));
  }
  bool string(string_t& s) {
    if (s.find('\0') != string_t::npos)
      return refuse(
          "string " + quote_for_message(s) + " contains U+0000, which I-JSON does not allow",
          token_start_string(), nullptr);
    return add(json(std::move(s)));
  }
  bool binary(binary_t&) {
    return refuse("binary value", consumed(), nullptr);
  }  // not produced by JSON text
  bool start_object(std::size_t) { return enter(true); }
  bool key(string_t& k) {
    frame& f = stack_.back();
    auto& object = f.container->get_ref<json::object_t&>();
    if (k.find('\0') != string_t::npos)
      return refuse("key " + quote_for_message(k) + " contains U+0000, which I-JSON does not allow",
                    token_start_string(), &k);
    auto it = object.lower_bound(k);
    if (it != object.end() && it->first == k)
      return refuse("duplicate key " + quote_for_message(k), token_start_string(), &k);
    it = object.emplace_hint(it, std::move(k), json());
    f.key = &it->first;
    slot_ = &it->second;
    return true;
  }
  bool end_object() { return leave(); }
  bool start_array(std::size_t) { return enter(false); }
  bool end_array() { return leave(); }

  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) {
    // position counts the bytes the lexer read, the offending one included.
    std::size_t at = position > 0 ? position - 1 : 0;
    if (at > text_.size()) at = text_.size();
    const std::string_view what = ex.what();
    std::string pointer = current_pointer(nullptr);
    if (ex.id == 406) {  // number overflow: no finite double
      std::string message = "number ";
      const std::size_t start = number_start(number_end());
      append_printable(message, number_token(start));
      message += " cannot be represented exactly (it is beyond the range of a double)";
      failure =
          make_error(errc::invalid_json, json_error_text(std::move(message), start, &pointer));
      return false;
    }
    if (const std::size_t bad = first_invalid_utf8(text_); bad != utf8_ok && bad <= at) {
      std::string message = "invalid UTF-8 (";
      message += describe_invalid_utf8(text_, bad);
      const auto lead = static_cast<unsigned char>(text_[bad]);
      const std::size_t len = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      std::string bytes;
      for (std::size_t i = bad; i < text_.size() && i < bad + len; ++i) {
        static constexpr char hexd[] = "0123456789ABCDEF";
        const auto c = static_cast<unsigned char>(text_[i]);
        if (i > bad && (c & 0xC0) != 0x80) break;
        bytes += ' ';
        bytes += hexd[c >> 4];
        bytes += hexd[c & 15];
      }
      message += bytes.size() > 3 ? ": bytes" : ": byte";
      message += bytes;
      message += ')';
      failure = make_error(errc::invalid_json, json_error_text(std::move(message), bad, &pointer));
      return false;
    }
    // nlohmann's own sentence, without its prefix and without the "last read" echo of the input
    // (which comes last and may hold anything, so nothing below looks at it).
    std::string_view sentence = what;
    if (const auto dash = sentence.find(" - "); dash != std::string_view::npos) {
      sentence.remove_prefix(dash + 3);
    } else if (const auto colon = sentence.find(": "); colon != std::string_view::npos) {
      sentence.remove_prefix(colon + 2);
    }
    if (const auto last = sentence.find("; last read"); last != std::string_view::npos)
      sentence = sentence.substr(0, last);
    const auto says = [&sentence](std::string_view part) {
      return sentence.find(part) != std::string_view::npos;
    };

    std::string message;
    if (at < text_.size() && text_[at] == '\0') {
      message = "U+0000 (a raw NUL byte), which I-JSON does not allow";
    } else if (says("surrogate U+D800..U+DBFF must be followed")) {
      message = "lone high surrogate escape";
      if (const std::size_t escape = escape_before(at, 0xD800, 0xDBFF);
          escape != std::string_view::npos) {
        at = escape;
        message += ' ';
        message += text_.substr(at, 6);  // a checked \uXXXX
      }
      message += " (\\ud800..\\udbff not followed by a \\udc00..\\udfff escape)";
    } else if (says("surrogate U+DC00..U+DFFF must follow")) {
      message = "lone low surrogate escape";
      if (const std::size_t escape = escape_before(at, 0xDC00, 0xDFFF);
          escape != std::string_view::npos) {
        at = escape;
        message += ' ';
        message += text_.substr(at, 6);  // a checked \uXXXX
      }
      message += " (\\udc00..\\udfff without a \\ud800..\\udbff escape before it)";
    } else if (done_) {  // the value was complete: the strict end-of-input check failed
      message = "unexpected characters after the JSON value";
      pointer.clear();
    } else if (text_.find_first_not_of(" \t\r\n") == std::string_view::npos) {
      message = "empty input: expected a JSON value";
    } else {
      message = "not JSON: ";
      append_printable(message, sentence, 200);
    }
    failure = make_error(errc::invalid_json, json_error_text(std::move(message), at, &pointer));
    return false;
  }

 private:
  struct frame {
    json* container;
    const std::string* key;  // object: the member being read, if any
  };

  std::size_t consumed() const noexcept { return *taken_; }

  bool refuse(std::string what, std::size_t at, const std::string* key) {
    const std::string pointer = current_pointer(key);
    failure = make_error(errc::invalid_json, json_error_text(std::move(what), at, &pointer));
    return false;
  }

  bool refuse_number(const decimal& canonical_value) {
    const std::size_t start = number_start(number_end());
    return refuse(number_refusal(number_token(start), canonical_value), start, nullptr);
  }

  // The lexer reads one byte past a number (unless at the end): numbers end with a digit.
  std::size_t number_end() const noexcept {
    std::size_t end = std::min(consumed(), text_.size());
    while (end > 0 && (text_[end - 1] < '0' || text_[end - 1] > '9')) --end;
    return end;
  }
  std::size_t number_start(std::size_t end) const noexcept {
    std::size_t start = end;
    while (start > 0) {
      const char c = text_[start - 1];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        --start;
      } else {
        break;
      }
    }
    return start;
  }
  std::string_view number_token(std::size_t start) const noexcept {
    std::size_t end = start;
    while (end < text_.size()) {
      const char c = text_[end];
      if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E') {
        ++end;
      } else {
        break;
      }
    }
    return text_.substr(start, end - start);
  }

  // Offset of the nearest \uXXXX escape at or before `at` whose value is in [lo, hi], or npos.
  std::size_t escape_before(std::size_t at, unsigned lo, unsigned hi) const noexcept {
    for (std::size_t back = 0; back <= 12 && back <= at; ++back) {
      const std::size_t j = at - back;
      if (j + 6 > text_.size() || text_[j] != '\\' || text_[j + 1] != 'u') continue;
      unsigned v = 0;
      bool hex = true;
      for (std::size_t k = 2; k < 6; ++k) {
        const int h = hex_value(text_[j + k]);
        if (h < 0) hex = false;
        v = v * 16 + static_cast<unsigned>(h < 0 ? 0 : h);
      }
      std::size_t backslashes = 0;
      while (backslashes < j && text_[j - 1 - backslashes] == '\\') ++backslashes;
      if (hex && v >= lo && v <= hi && backslashes % 2 == 0) return j;
    }
    return std::string_view::npos;
  }

  // A string token just ended at consumed() (its closing quote): find its opening quote.
  std::size_t token_start_string() const noexcept {
    std::size_t end = std::min(consumed(), text_.size());
    if (end == 0) return 0;
    std::size_t i = end - 1;  // the closing quote
    while (i > 0) {
      --i;
      if (text_[i] != '"') continue;
      std::size_t backslashes = 0;
      while (backslashes < i && text_[i - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) return i;
    }
    return 0;
  }

  // The pointer of the value about to be read (or of key `extra` in the innermost object).
  std::string current_pointer(const std::string* extra) const {
    std::string out;
    for (std::size_t i = 0; i < stack_.size(); ++i) {
      const frame& f = stack_[i];
      const bool innermost = i + 1 == stack_.size();
      if (f.container->is_array()) {
        const std::size_t size = f.container->size();
        out += '/';
        out += std::to_string(innermost ? size : size - 1);
      } else {
        const std::string* k = innermost && extra != nullptr ? extra : f.key;
        if (k == nullptr) break;
        out += '/';
        append_pointer_token(out, *k);
      }
    }
    return out;
  }

  json* place(json&& v) {
    if (stack_.empty()) {
      root = std::move(v);
      return &root;
    }
    json& container = *stack_.back().container;
    if (container.is_array()) {
      auto& array = container.get_ref<json::array_t&>();
      array.push_back(std::move(v));
      return &array.back();
    }
    *slot_ = std::move(v);
    return slot_;
  }

  void value_done() {
    if (stack_.empty()) {
      done_ = true;
    } else {
      stack_.back().key = nullptr;
    }
  }

  bool add(json&& v) {
    place(std::move(v));
    value_done();
    return true;
  }

  bool enter(bool is_object) {
    if (stack_.size() + 1 > max_depth_)
      return refuse("nesting deeper than the limit of " + std::to_string(max_depth_) + " levels",
                    consumed() - 1, nullptr);
    json* c = place(json(is_object ? json::value_t::object : json::value_t::array));
    stack_.push_back({c, nullptr});
    return true;
  }

  bool leave() {
    stack_.pop_back();
    value_done();
    return true;
  }

  std::string_view text_;
  const std::size_t* taken_;
  std::size_t max_depth_;
  std::vector<frame> stack_;
  json* slot_ = nullptr;
  bool done_ = false;
};

// check_json's walk: on failure fills `what` and the pointer tokens (innermost first).
struct check_failure {
  std::string what;
  std::vector<std::string> tokens_reversed;
};

inline bool check_string(std::string_view s, const char* kind, check_failure& f) {
  if (const std::size_t bad = first_invalid_utf8(s); bad != utf8_ok) {
    f.what = std::string(kind) + " " + quote_for_message(s) + " is not valid UTF-8 (" +
             describe_invalid_utf8(s, bad) + " at byte " + std::to_string(bad) + ")";
    return false;
  }
  if (s.find('\0') != std::string_view::npos) {
    f.what = std::string(kind) + " " + quote_for_message(s) +
             " contains U+0000, which I-JSON does not allow";
    return false;
  }
  return true;
}

inline bool check_value(const json& v, std::size_t depth, std::size_t max_depth, check_failure& f) {
  switch (v.type()) {
    case json::value_t::null:
    case json::value_t::boolean:
      return true;
    case json::value_t::number_integer: {
      const auto i = v.get_ref<const json::number_integer_t&>();
      if (integer_exact(i)) return true;
      std::string text = std::to_string(i);
      f.what = number_refusal(text, shortest_decimal(static_cast<double>(i)));
      return false;
    }
    case json::value_t::number_unsigned: {
      const auto u = v.get_ref<const json::number_unsigned_t&>();
      if (integer_exact(u)) return true;
      std::string text = std::to_string(u);
      f.what = number_refusal(text, shortest_decimal(static_cast<double>(u)));
      return false;
    }
    case json::value_t::number_float: {
      const double d = v.get_ref<const json::number_float_t&>();
      if (std::isfinite(d)) return true;
      f.what = std::isnan(d) ? "number NaN has no JSON form" : "infinite number has no JSON form";
      return false;
    }
    case json::value_t::string:
      return check_string(v.get_ref<const json::string_t&>(), "string", f);
    case json::value_t::array: {
      if (depth + 1 > max_depth) {
        f.what = "nesting deeper than the limit of " + std::to_string(max_depth) + " levels";
        return false;
      }
      const auto& array = v.get_ref<const json::array_t&>();
      for (std::size_t i = 0; i < array.size(); ++i) {
        if (!check_value(array[i], depth + 1, max_depth, f)) {
          f.tokens_reversed.push_back(std::to_string(i));
          return false;
        }
      }
      return true;
    }
    case json::value_t::object: {
      if (depth + 1 > max_depth) {
        f.what = "nesting deeper than the limit of " + std::to_string(max_depth) + " levels";
        return false;
      }
      for (const auto& [key, member] : v.get_ref<const json::object_t&>()) {
        if (!check_string(key, "key", f) || !check_value(member, depth + 1, max_depth, f)) {
          std::string token;
          append_pointer_token(token, key);
          f.tokens_reversed.push_back(std::move(token));
          return false;
        }
      }
      return true;
    }
    case json::value_t::binary:
      f.what = "binary value has no JSON form";
      return false;
    case json::value_t::discarded:
      f.what = "discarded value has no JSON form";
      return false;
  }
  f.what = "unknown value type";
  return false;
}

}  // namespace logline::detail
