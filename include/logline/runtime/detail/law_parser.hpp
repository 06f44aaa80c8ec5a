#pragma once
// law.hpp's internals: the lexer and the recursive-descent parser of the law grammar
// (docs/laws.md), bounded in depth and linear in the text.
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

#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/law_model.hpp"

namespace logline::runtime::laws::detail {

// "law:3:14: message"
inline error_info fail(errc code, std::uint32_t line, std::uint32_t column,
                       std::string_view message) {
  return make_error(code, "law:" + std::to_string(line) + ":" + std::to_string(column) + ": " +
                              std::string(message));
}

// s for a message, in backquotes, cut after about 40 bytes on a code point boundary.
inline std::string backquoted(std::string_view s) {
  std::string out = "`";
  logline::detail::append_printable(out, s, 40);
  return out + "`";
}

enum class token_kind {
  end,
  name,
  string,
  integer,
  decimal,
  version,
  zone,
  lparen,
  rparen,
  comma,
  colon,
  assign,
  eq,
  ne,
  lt,
  le,
  gt,
  ge
};

struct token {
  token_kind kind = token_kind::end;
  std::string_view text;  // as written
  std::string value;      // a string's decoded value
  std::uint32_t line = 1, column = 1;
};

// What the next token may be besides the usual ones: right after `law ID:` a version (1.2.3),
// right after `clock:` a time-zone name (Europe/Paris, Etc/GMT+3).
enum class lex_mode { normal, version, zone };

// A number token's value; nullopt when out of range (the lexer refuses those tokens).
template <class T>
std::optional<T> number_value(std::string_view text) noexcept {
  T v{};
  const auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc{} || r.ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

inline bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
inline bool is_name_start(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
inline bool is_name_char(char c) noexcept { return is_name_start(c) || is_digit(c); }
inline bool is_zone_char(char c) noexcept {
  return is_name_char(c) || c == '/' || c == '+' || c == '-' || c == '.';
}

class lexer {
 public:
  explicit lexer(std::string_view text) : s_(text) {}

  result<token> next(lex_mode mode) {
    skip_blanks();
    token t;
    t.line = line_;
    t.column = column_;
    const std::size_t start = pos_;
    auto done = [&](token_kind k) -> result<token> {
      t.kind = k;
      t.text = s_.substr(start, pos_ - start);
      return t;
    };
    if (pos_ == s_.size()) return done(token_kind::end);
    const char c = s_[pos_];
    if (mode == lex_mode::version && is_digit(c)) {
      digits();
      while (peek(0) == '.' && is_digit(peek(1))) bump(), digits();
      return done(token_kind::version);
    }
    if (mode == lex_mode::zone && is_name_start(c)) {
      while (pos_ < s_.size() && is_zone_char(s_[pos_])) bump();
      return done(token_kind::zone);
    }
    if (is_name_start(c)) {
      for (;;) {
        while (pos_ < s_.size() && is_name_char(s_[pos_])) bump();
        if (peek(0) != '.') break;
        bump();
        if (!is_name_start(peek(0)))
          return fail(errc::invalid_argument, line_, column_, "expected a name after `.`");
      }
      return done(token_kind::name);
    }
    if (is_digit(c) || (c == '-' && is_digit(peek(1)))) {
      bump();
      digits();
      bool fraction = false;
      if (peek(0) == '.' && is_digit(peek(1))) {
        fraction = true;
        bump();
        digits();
      }
      return number(t, start, fraction);
    }
    if (c == '"') return string(t);
    bump();
    switch (c) {
      case '(':
        return done(token_kind::lparen);
      case ')':
        return done(token_kind::rparen);
      case ',':
        return done(token_kind::comma);
      case ':':
        return done(token_kind::colon);
      case '<':
        return done(take('=') ? token_kind::le : token_kind::lt);
      case '>':
        return done(take('=') ? token_kind::ge : token_kind::gt);
      case '=':
        return done(take('=') ? token_kind::eq : token_kind::assign);
      case '!':
        if (take('=')) return done(token_kind::ne);
        return fail(errc::invalid_argument, t.line, t.column,
                    "unexpected `!` (write `not` or `!=`)");
      default:
        break;
    }
    return fail(errc::invalid_argument, t.line, t.column,
                "unexpected character " + describe_char(start));
  }

 private:
  char peek(std::size_t ahead) const noexcept {
    return pos_ + ahead < s_.size() ? s_[pos_ + ahead] : '\0';
  }

  // Advances one byte; columns count code points (continuation bytes do not move them).
  void bump() noexcept {
    const char c = s_[pos_++];
    if (c == '\n') {
      ++line_;
      column_ = 1;
    } else if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++column_;
    }
  }
  bool take(char c) noexcept {
    if (peek(0) != c) return false;
    bump();
    return true;
  }
  void digits() noexcept {
    while (pos_ < s_.size() && is_digit(s_[pos_])) bump();
  }
  void skip_blanks() noexcept {
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        bump();
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') bump();
      } else {
        return;
      }
    }
  }

  // `x` for printable ASCII, else U+XXXX (the text is valid UTF-8 here).
  std::string describe_char(std::size_t at) const {
    const auto c = static_cast<unsigned char>(s_[at]);
    if (c > 0x20 && c < 0x7F) return std::string("`") + static_cast<char>(c) + "`";
    const std::size_t len = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    std::uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
    for (std::size_t k = 1; k < len; ++k)
      cp = (cp << 6) | (static_cast<unsigned char>(s_[at + k]) & 0x3Fu);
    char buf[16];
    std::snprintf(buf, sizeof buf, "U+%04X", static_cast<unsigned>(cp));
    return buf;
  }

  result<token> number(token& t, std::size_t start, bool fraction) {
    t.text = s_.substr(start, pos_ - start);
    t.kind = fraction ? token_kind::decimal : token_kind::integer;
    if (!(fraction ? number_value<double>(t.text).has_value()
                   : number_value<std::int64_t>(t.text).has_value()))
      return fail(errc::invalid_argument, t.line, t.column,
                  "the number " + backquoted(t.text) + " is out of range" +
                      (fraction ? "" : " (integers are from -2^63 to 2^63-1)"));
    return t;
  }

  result<token> string(token& t) {
    const std::size_t start = pos_;
    bump();  // "
    for (;;) {
      if (pos_ == s_.size() || s_[pos_] == '\n')
        return fail(errc::invalid_argument, t.line, t.column,
                    "the string is not closed on its line");
      const std::uint32_t line = line_, column = column_;
      const char c = s_[pos_];
      if (c == '"') break;
      if (static_cast<unsigned char>(c) < 0x20)
        return fail(errc::invalid_argument, line, column,
                    describe_char(pos_) + " in a string (escape it)");
      bump();
      if (c != '\\') {
        t.value += c;
        continue;
      }
      const char e = peek(0);
      if (pos_ < s_.size() && e != '\n') bump();
      switch (e) {
        case '"':
          t.value += '"';
          break;
        case '\\':
          t.value += '\\';
          break;
        case '/':
          t.value += '/';
          break;
        case 'b':
          t.value += '\b';
          break;
        case 'f':
          t.value += '\f';
          break;
        case 'n':
          t.value += '\n';
          break;
        case 'r':
          t.value += '\r';
          break;
        case 't':
          t.value += '\t';
          break;
        case 'u':
          if (auto u = unicode_escape(t, line, column); !u) return u.error();
          break;
        default:
          return fail(errc::invalid_argument, line, column,
                      "unknown escape (use \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
      }
    }
    bump();  // "
    t.kind = token_kind::string;
    t.text = s_.substr(start, pos_ - start);
    return t;
  }

  std::optional<std::uint32_t> hex4() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek(0);
      const int d = is_digit(c)              ? c - '0'
                    : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                    : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                             : -1;
      if (d < 0) return std::nullopt;
      v = v * 16 + static_cast<std::uint32_t>(d);
      bump();
    }
    return v;
  }

  // After "\u": four hex digits, a surrogate pair as two escapes; appends the code point as UTF-8.
  result<void> unicode_escape(token& t, std::uint32_t line, std::uint32_t column) {
    auto bad = [&](std::string_view why) {
      return fail(errc::invalid_argument, line, column, why);
    };
    auto cp = hex4();
    if (!cp) return bad("expected four hex digits after \\u");
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return bad("a low surrogate without a high one before it");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
      if (peek(0) != '\\' || peek(1) != 'u')
        return bad("a high surrogate without a low one after it");
      bump(), bump();
      auto low = hex4();
      if (!low || *low < 0xDC00 || *low > 0xDFFF)
        return bad("a high surrogate without a low one after it");
      *cp = 0x10000 + ((*cp - 0xD800) << 10) + (*low - 0xDC00);
    }
    if (*cp == 0) return bad("U+0000 is not allowed in a string");
    std::string& out = t.value;
    if (*cp < 0x80) {
      out += static_cast<char>(*cp);
    } else if (*cp < 0x800) {
      out += static_cast<char>(0xC0 | (*cp >> 6));
      out += static_cast<char>(0x80 | (*cp & 0x3F));
    } else if (*cp < 0x10000) {
      out += static_cast<char>(0xE0 | (*cp >> 12));
      out += static_cast<char>(0x80 | ((*cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (*cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (*cp >> 18));
      out += static_cast<char>(0x80 | ((*cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((*cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (*cp & 0x3F));
    }
    return {};
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::uint32_t line_ = 1, column_ = 1;
};

inline constexpr std::array<std::string_view, 11> keywords = {
    "law", "scope", "clock", "if", "then", "and", "or", "not", "true", "false", "null"};

// Each action's arguments (all required): name and whether it is an integer (else a string).
struct action_spec {
  std::string_view name;
  action_kind kind;
  std::array<std::string_view, 2> args;  // empty: unused
};
inline constexpr std::array<action_spec, 6> action_specs = {{
    {"accept", action_kind::accept, {}},
    {"hold", action_kind::hold, {"hours", ""}},
    {"terminate", action_kind::terminate, {"reason", ""}},
    {"notify", action_kind::notify, {"role", ""}},
    {"tag", action_kind::tag, {"key", "val"}},
    {"append_ledger", action_kind::append_ledger, {}},
}};

class parser {
 public:
  explicit parser(std::string_view text) : lex_(text) {}

  result<law> run() {
    law out;
    if (auto r = advance(); !r) return r.error();
    if (auto r = keyword("law", "expected `law NAME:VERSION:` at the start"); !r) return r.error();
    if (auto r = name(out.id, "expected the law's name after `law`"); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after the law's name", lex_mode::version); !r)
      return r.error();
    if (tok_.kind != token_kind::version)
      return expected("a version such as 1.2 after `law NAME:`");
    out.version = tok_.text;
    if (auto r = advance(); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after the version"); !r) return r.error();
    if (auto r = keyword("scope", "expected `scope:`"); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after `scope`"); !r) return r.error();
    if (auto r = name(out.scope, "expected the scope's name after `scope:`"); !r) return r.error();
    if (auto r = keyword("clock", "expected `clock:`"); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after `clock`", lex_mode::zone); !r)
      return r.error();
    if (tok_.kind != token_kind::zone || is_keyword_text(tok_.text))
      return expected("a time-zone name such as Europe/Paris or UTC after `clock:`");
    out.clock = tok_.text;
    if (auto r = advance(); !r) return r.error();

    bool any = false;
    while (is_keyword("if")) {
      if (auto r = parse_branch(out); !r) return r.error();
      any = true;
    }
    if (tok_.kind != token_kind::end || !any)
      return expected(any ? "`,`, `if` or the end of the text"
                          : "`if ok:`, `if doubt:` or `if not:`");
    out.nodes = std::move(nodes_);
    return out;
  }

 private:
  result<void> advance(lex_mode mode = lex_mode::normal) {
    auto t = lex_.next(mode);
    if (!t) return t.error();
    tok_ = std::move(*t);
    return {};
  }

  std::string describe(const token& t) const {
    switch (t.kind) {
      case token_kind::end:
        return "the end of the text";
      case token_kind::string:
        return "a string";
      default:
        return backquoted(t.text);
    }
  }
  error_info expected(std::string_view what) const {
    return fail(errc::invalid_argument, tok_.line, tok_.column,
                "expected " + std::string(what) + ", got " + describe(tok_));
  }

  bool is_keyword(std::string_view k) const {
    return tok_.kind == token_kind::name && tok_.text == k;
  }
  static bool is_keyword_text(std::string_view s) {
    return std::find(keywords.begin(), keywords.end(), s) != keywords.end();
  }
  bool is_any_keyword() const {
    return tok_.kind == token_kind::name && is_keyword_text(tok_.text);
  }

  result<void> keyword(std::string_view k, std::string_view message) {
    if (!is_keyword(k))
      return fail(errc::invalid_argument, tok_.line, tok_.column,
                  std::string(message) + ", got " + describe(tok_));
    return advance();
  }
  result<void> expect(token_kind kind, std::string_view what, lex_mode next = lex_mode::normal) {
    if (tok_.kind != kind) return expected(what);
    return advance(next);
  }
  result<void> name(std::string& out, std::string_view message) {
    if (tok_.kind != token_kind::name || is_any_keyword())
      return fail(errc::invalid_argument, tok_.line, tok_.column,
                  std::string(message) + ", got " + describe(tok_));
    out = tok_.text;
    return advance();
  }

  result<void> parse_branch(law& out) {
    branch b{.line = tok_.line, .column = tok_.column};
    if (auto r = advance(); !r) return r.error();
    const std::array<std::string_view, 3> names = {"ok", "doubt", "not"};
    const auto which =
        std::find(names.begin(), names.end(), tok_.kind == token_kind::name ? tok_.text : "");
    if (which == names.end()) return expected("`ok`, `doubt` or `not` after `if`");
    auto& slot = out.branches[static_cast<std::size_t>(which - names.begin())];
    if (slot)
      return fail(errc::invalid_argument, b.line, b.column,
                  "a second `if " + std::string(*which) + ":` (the first is at line " +
                      std::to_string(slot->line) + ")");
    if (auto r = advance(); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after the branch's name"); !r) return r.error();
    auto condition = parse_or(0);
    if (!condition) return condition.error();
    b.condition = *condition;
    if (!is_keyword("then")) return expected("`and`, `or` or `then:` after the condition");
    if (auto r = advance(); !r) return r.error();
    if (auto r = expect(token_kind::colon, "`:` after `then`"); !r) return r.error();
    for (;;) {
      auto a = parse_action();
      if (!a) return a.error();
      b.actions.push_back(std::move(*a));
      if (tok_.kind != token_kind::comma) break;
      if (auto r = advance(); !r) return r.error();
    }
    slot = std::move(b);
    return {};
  }

  result<action> parse_action() {
    const token at = tok_;
    auto bad = [&](std::string_view why) {
      return fail(errc::invalid_argument, at.line, at.column, why);
    };
    const auto spec = std::find_if(
        action_specs.begin(), action_specs.end(),
        [&](const action_spec& s) { return tok_.kind == token_kind::name && s.name == tok_.text; });
    if (spec == action_specs.end())
      return expected("an action (accept, hold, terminate, notify, tag, append_ledger)");
    const std::string act = "`" + std::string(spec->name) + "`";
    action a{.kind = spec->kind};
    if (auto r = advance(); !r) return r.error();
    std::array<bool, 2> seen{};
    if (tok_.kind == token_kind::lparen) {
      if (auto r = advance(); !r) return r.error();
      while (tok_.kind != token_kind::rparen) {
        if (seen[0] || seen[1])
          if (auto r = expect(token_kind::comma, "`,` or `)` after an argument"); !r)
            return r.error();
        const token arg = tok_;
        if (arg.kind != token_kind::name) return expected("an argument name");
        const auto slot = arg.text.empty()
                              ? spec->args.end()
                              : std::find(spec->args.begin(), spec->args.end(), arg.text);
        if (slot == spec->args.end()) {
          std::string takes =
              spec->args[0].empty() ? "no arguments" : std::string(spec->args[0]) + "=";
          if (!spec->args[1].empty()) takes += " and " + std::string(spec->args[1]) + "=";
          return fail(
              errc::invalid_argument, arg.line, arg.column,
              act + " has no argument " + backquoted(arg.text) + " (it takes " + takes + ")");
        }
        const auto index = static_cast<std::size_t>(slot - spec->args.begin());
        if (seen[index])
          return fail(errc::invalid_argument, arg.line, arg.column,
                      act + " has `" + std::string(*slot) + "=` twice");
        seen[index] = true;
        if (auto r = advance(); !r) return r.error();
        if (auto r = expect(token_kind::assign, "`=` after the argument name"); !r)
          return r.error();
        if (auto r = argument(a, *slot); !r) return r.error();
      }
      if (auto r = advance(); !r) return r.error();
    }
    for (std::size_t i = 0; i < 2; ++i)
      if (!spec->args[i].empty() && !seen[i])
        return bad(act + " needs `" + std::string(spec->args[i]) + "=`");
    return a;
  }

  // The value of argument `arg` of a, at tok_.
  result<void> argument(action& a, std::string_view arg) {
    if (arg == "hours") {
      const std::int64_t hours =
          tok_.kind == token_kind::integer ? *number_value<std::int64_t>(tok_.text) : 0;
      if (tok_.kind != token_kind::integer || hours < 1 || hours > max_hold_hours)
        return expected("an integer from 1 to " + std::to_string(max_hold_hours) + " for `hours`");
      a.hours = hours;
      return advance();
    }
    if (tok_.kind != token_kind::string) return expected("a string for `" + std::string(arg) + "`");
    if (tok_.value.empty())
      return fail(errc::invalid_argument, tok_.line, tok_.column,
                  "`" + std::string(arg) + "` must not be empty");
    std::string& field = arg == "reason" ? a.reason
                         : arg == "role" ? a.role
                         : arg == "key"  ? a.key
                                         : a.val;
    field = std::move(tok_.value);
    return advance();
  }

  std::size_t add(node n) {
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
  }
  node at_token(node_kind kind) const {
    return {.kind = kind, .line = tok_.line, .column = tok_.column};
  }

  result<void> deeper(std::size_t depth) const {
    if (depth < max_depth) return {};
    return fail(errc::too_large, tok_.line, tok_.column,
                "expression nested deeper than " + std::to_string(max_depth) +
                    " levels (parentheses and `not`)");
  }

  // or_expr = and_expr { "or" and_expr }, and_expr = not_expr { "and" not_expr }
  result<std::size_t> parse_or(std::size_t depth) {
    return parse_chain(depth, "or", node_kind::or_);
  }
  result<std::size_t> parse_chain(std::size_t depth, std::string_view op, node_kind kind) {
    auto operand = [&]() {
      return kind == node_kind::or_ ? parse_chain(depth, "and", node_kind::and_) : parse_not(depth);
    };
    auto first = operand();
    if (!first || !is_keyword(op)) return first;
    node n{.kind = kind,
           .operands = {*first},
           .line = nodes_[*first].line,
           .column = nodes_[*first].column};
    while (is_keyword(op)) {
      if (auto r = advance(); !r) return r.error();
      auto next = operand();
      if (!next) return next.error();
      n.operands.push_back(*next);
    }
    return add(std::move(n));
  }

  // not_expr = "not" not_expr | comparison
  result<std::size_t> parse_not(std::size_t depth) {
    if (!is_keyword("not")) return parse_comparison(depth);
    if (auto r = deeper(depth); !r) return r.error();
    node n = at_token(node_kind::not_);
    if (auto r = advance(); !r) return r.error();
    auto operand = parse_not(depth + 1);
    if (!operand) return operand.error();
    n.operands = {*operand};
    return add(std::move(n));
  }

  // comparison = operand [ ("==" | "!=" | "<" | "<=" | ">" | ">=") operand ]
  result<std::size_t> parse_comparison(std::size_t depth) {
    auto lhs = parse_operand(depth);
    if (!lhs) return lhs;
    node_kind kind;
    switch (tok_.kind) {
      case token_kind::eq:
        kind = node_kind::eq;
        break;
      case token_kind::ne:
        kind = node_kind::ne;
        break;
      case token_kind::lt:
        kind = node_kind::lt;
        break;
      case token_kind::le:
        kind = node_kind::le;
        break;
      case token_kind::gt:
        kind = node_kind::gt;
        break;
      case token_kind::ge:
        kind = node_kind::ge;
        break;
      default:
        return lhs;
    }
    node n = at_token(kind);
    if (auto r = advance(); !r) return r.error();
    auto rhs = parse_operand(depth);
    if (!rhs) return rhs;
    n.operands = {*lhs, *rhs};
    return add(std::move(n));
  }

  // operand = "(" or_expr ")" | string | integer | decimal | "true" | "false" | "null" | path
  result<std::size_t> parse_operand(std::size_t depth) {
    if (tok_.kind == token_kind::lparen) {
      if (auto r = deeper(depth); !r) return r.error();
      const token open = tok_;
      if (auto r = advance(); !r) return r.error();
      auto inner = parse_or(depth + 1);
      if (!inner) return inner;
      if (tok_.kind != token_kind::rparen)
        return expected("`)` for the `(` at " + std::to_string(open.line) + ":" +
                        std::to_string(open.column));
      if (auto r = advance(); !r) return r.error();
      return inner;
    }
    node n = at_token(node_kind::literal);
    n.text = tok_.text;
    switch (tok_.kind) {
      case token_kind::string:
        n.value = tok_.value;
        break;
      case token_kind::integer:
        n.value = *number_value<std::int64_t>(tok_.text);
        break;
      case token_kind::decimal:
        n.value = *number_value<double>(tok_.text);
        break;
      case token_kind::name:
        if (tok_.text == "true" || tok_.text == "false") {
          n.value = tok_.text == "true";
        } else if (tok_.text == "null") {
          n.value = nullptr;
        } else if (is_any_keyword()) {
          return expected("a value (a name, a string, a number, true, false, null or `(`)");
        } else {
          n.kind = node_kind::path;
          for (std::size_t from = 0; from <= tok_.text.size();) {
            const std::size_t dot = std::min(tok_.text.find('.', from), tok_.text.size());
            n.path.emplace_back(tok_.text.substr(from, dot - from));
            from = dot + 1;
          }
        }
        break;
      default:
        return expected("a value (a name, a string, a number, true, false, null or `(`)");
    }
    if (auto r = advance(); !r) return r.error();
    return add(std::move(n));
  }

  lexer lex_;
  token tok_;
  std::vector<node> nodes_;
};

}  // namespace logline::runtime::laws::detail
