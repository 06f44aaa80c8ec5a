#pragma once
// Between logline's values and PostgreSQL's text forms: the encoder of bound parameters, the
// cell a result row is decoded from, and the COPY text format of batch inserts.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "logline/json.hpp"
#include "logline/postgres/connection.hpp"
#include "logline/schema.hpp"

namespace logline::postgres::detail {

// Turns the values the schema binds (logline's text spellings) into PostgreSQL text input.
class row_encoder final : public value_sink {
 public:
  explicit row_encoder(params& out) noexcept : out_(out) {}
  void kind(column_kind k) noexcept { kind_ = k; }
  void null() override { out_.add_null(); }
  void integer(std::int64_t v) override {
    if (kind_ == column_kind::boolean)
      out_.add(std::string_view(v ? "true" : "false"));
    else
      out_.add(v);
  }
  void real(double v) override {
    std::string t;
    write_canonical_number(t, v);
    out_.add(std::string_view(t));
  }
  void text(std::string_view v) override {
    if (kind_ == column_kind::timestamp && v.size() == 24 && v.substr(0, 4) == "0000") {
      // Year 0 (ISO 8601) is 1 BC for PostgreSQL.
      std::string t = "0001";
      t += v.substr(4);
      t += " BC";
      out_.add(std::string_view(t));
    } else if (kind_ == column_kind::uuid_list) {
      // ["u1","u2"] (as logline writes it) -> {u1,u2}
      std::string t;
      t.reserve(v.size());
      for (char c : v) {
        if (c == '[')
          t += '{';
        else if (c == ']')
          t += '}';
        else if (c != '"')
          t += c;
      }
      out_.add(std::string_view(t));
    } else {
      out_.add(v);
    }
  }

 private:
  params& out_;
  column_kind kind_ = column_kind::text;
};

// One value of a result row, handed to the schema in logline's spellings.
class cell final : public value_source {
 public:
  cell(const pg_result& r, int row) noexcept : r_(r), row_(row) {}
  void at(int column, column_kind kind) noexcept {
    col_ = column;
    kind_ = kind;
  }
  // JSON columns come back as canonical JSON (verification) instead of PostgreSQL's jsonb text.
  void canonical_json(bool on) noexcept { canonical_json_ = on; }
  bool is_null() override { return r_.is_null(row_, col_); }
  bool is_integer() override {
    return kind_ == column_kind::integer || kind_ == column_kind::boolean;
  }
  std::int64_t integer() override {
    const auto t = r_.text(row_, col_);
    if (kind_ == column_kind::boolean) return !t.empty() && t[0] == 't' ? 1 : 0;
    return std::strtoll(t.data(), nullptr, 10);
  }
  double real() override { return std::strtod(r_.text(row_, col_).data(), nullptr); }
  std::string_view text() override {
    const auto t = r_.text(row_, col_);
    switch (kind_) {
      case column_kind::timestamp: {  // selected as milliseconds since the epoch
        const timestamp ts{std::strtoll(t.data(), nullptr, 10)};
        buf_.clear();
        if (ts.unix_ms < timestamp::min_ms || ts.unix_ms > timestamp::max_ms)
          buf_ = "out of range: " + std::string(t);
        else
          ts.append_to(buf_);
        return buf_;
      }
      case column_kind::uuid_list: {  // {u1,u2} -> ["u1","u2"]
        buf_.assign("[");
        std::string_view inner = t.size() >= 2 ? t.substr(1, t.size() - 2) : std::string_view();
        bool first = true;
        while (!inner.empty()) {
          const auto comma = inner.find(',');
          const auto item = inner.substr(0, comma);
          if (!first) buf_ += ',';
          first = false;
          if (item == "NULL")
            buf_ += "null";
          else
            buf_.append("\"").append(item).append("\"");
          if (comma == std::string_view::npos) break;
          inner.remove_prefix(comma + 1);
        }
        buf_ += ']';
        return buf_;
      }
      case column_kind::json:
        if (canonical_json_) {
          if (auto j = parse_json(t)) {
            buf_.clear();
            write_canonical(buf_, *j);
            return buf_;
          }
        }
        return t;
      default:
        return t;
    }
  }

 private:
  const pg_result& r_;
  int row_;
  int col_ = 0;
  column_kind kind_ = column_kind::text;
  bool canonical_json_ = false;
  std::string buf_;
};

// COPY text format: tab-separated, \N for null, backslash escapes.
inline void append_copy_value(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

}  // namespace logline::postgres::detail
