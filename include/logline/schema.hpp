#pragma once
// The compile-time schema of a span type. A span is a Boost.Hana struct; from its members the
// library derives a runtime-iterable column table (one descriptor per member, built once), and
// from that table everything else: DDL, parameter binding, row decoding, JSON I/O and the
// canonical form. Member `this_` is column `this` (a trailing underscore is dropped).
#include <boost/hana/accessors.hpp>
#include <boost/hana/at.hpp>
#include <boost/hana/first.hpp>
#include <boost/hana/length.hpp>
#include <boost/hana/second.hpp>
#include <boost/hana/string.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "logline/blake3.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/types.hpp"

namespace logline {

// How a value is stored; backends map kinds to SQL types and CHECK constraints.
enum class column_kind {
  text,
  integer,
  real,
  boolean,
  uuid,
  timestamp,
  json,
  uuid_list,
  visibility,
  hex
};

// Backends receive values through a sink and hand them back through a source.
struct value_sink {
  virtual void null() = 0;
  virtual void integer(std::int64_t) = 0;
  virtual void real(double) = 0;
  virtual void text(std::string_view) = 0;

 protected:
  ~value_sink() = default;
};
struct value_source {
  virtual bool is_null() = 0;
  virtual bool is_integer() = 0;
  virtual std::int64_t integer() = 0;
  virtual double real() = 0;
  virtual std::string_view text() = 0;

 protected:
  ~value_source() = default;
};

// Largest integer magnitude that every JSON implementation reads back exactly (2^53).
inline constexpr std::int64_t max_exact_integer = 9007199254740992;

template <class T>
struct value_traits;  // specialised below for every supported column type

namespace detail {
inline error_info column_error(std::string_view column, std::string_view what) {
  return make_error(errc::invalid_span,
                    "field '" + std::string(column) + "': " + std::string(what));
}
inline result<void> check_text(std::string_view s) {
  if (!is_valid_utf8(s)) return make_error(errc::invalid_span, "not valid UTF-8");
  if (s.find('\0') != std::string_view::npos)
    return make_error(errc::invalid_span, "contains U+0000, which PostgreSQL cannot store");
  return {};
}
}  // namespace detail

template <>
struct value_traits<std::string> {
  static constexpr column_kind kind = column_kind::text;
  static void bind(const std::string& v, value_sink& s) { s.text(v); }
  static result<void> read(std::string& v, value_source& s) {
    v.assign(s.text());
    return {};
  }
  static void write_json(const std::string& v, std::string& out) { write_canonical_string(out, v); }
  static result<void> from_json(std::string& v, const json& j) {
    if (!j.is_string())
      return make_error(errc::invalid_span, std::string("expected a string, got ") + j.type_name());
    v = j.get_ref<const std::string&>();
    return {};
  }
  static result<void> validate(const std::string& v) { return detail::check_text(v); }
};

template <>
struct value_traits<bool> {
  static constexpr column_kind kind = column_kind::boolean;
  static void bind(bool v, value_sink& s) { s.integer(v ? 1 : 0); }
  static result<void> read(bool& v, value_source& s) {
    const auto i = s.integer();
    if (i != 0 && i != 1)
      return make_error(errc::integrity_violation, "boolean column holds " + std::to_string(i));
    v = i == 1;
    return {};
  }
  static void write_json(bool v, std::string& out) { out += v ? "true" : "false"; }
  static result<void> from_json(bool& v, const json& j) {
    if (!j.is_boolean())
      return make_error(errc::invalid_span,
                        std::string("expected a boolean, got ") + j.type_name());
    v = j.get<bool>();
    return {};
  }
  static result<void> validate(bool) { return {}; }
};

template <class Int>
requires(std::same_as<Int, std::int32_t> ||
         std::same_as<Int, std::int64_t>) struct value_traits<Int> {
  static constexpr column_kind kind = column_kind::integer;
  static constexpr std::int64_t lo =
      std::same_as<Int, std::int32_t> ? INT32_MIN : -max_exact_integer;
  static constexpr std::int64_t hi =
      std::same_as<Int, std::int32_t> ? INT32_MAX : max_exact_integer;
  static void bind(Int v, value_sink& s) { s.integer(v); }
  static result<void> read(Int& v, value_source& s) {
    const auto i = s.integer();
    if (i < lo || i > hi)
      return make_error(errc::integrity_violation,
                        "integer column out of range: " + std::to_string(i));
    v = static_cast<Int>(i);
    return {};
  }
  static void write_json(Int v, std::string& out) { out += std::to_string(v); }
  static result<void> from_json(Int& v, const json& j) {
    std::int64_t i;
    if (j.is_number_integer() && !j.is_number_unsigned()) {
      i = j.get<std::int64_t>();
    } else if (j.is_number_unsigned()) {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(hi))
        return make_error(errc::invalid_span, "integer out of range");
      i = static_cast<std::int64_t>(u);
    } else {
      return make_error(errc::invalid_span,
                        std::string("expected an integer, got ") + j.type_name());
    }
    if (i < lo || i > hi)
      return make_error(errc::invalid_span, "integer out of range [" + std::to_string(lo) + ", " +
                                                std::to_string(hi) + "]");
    v = static_cast<Int>(i);
    return {};
  }
  static result<void> validate(Int v) {
    if (v < lo || v > hi)
      return make_error(errc::invalid_span, "integer out of range [" + std::to_string(lo) + ", " +
                                                std::to_string(hi) + "]");
    return {};
  }
};

template <>
struct value_traits<double> {
  static constexpr column_kind kind = column_kind::real;
  static void bind(double v, value_sink& s) { s.real(v); }
  static result<void> read(double& v, value_source& s) {
    v = s.real();
    return {};
  }
  static void write_json(double v, std::string& out) { write_canonical_number(out, v); }
  static result<void> from_json(double& v, const json& j) {
    if (!j.is_number())
      return make_error(errc::invalid_span, std::string("expected a number, got ") + j.type_name());
    v = j.get<double>();
    return {};
  }
  static result<void> validate(double v) {
    if (!std::isfinite(v)) return make_error(errc::invalid_span, "number is not finite");
    return {};
  }
};

// Values stored as their text spelling (uuids, timestamps, digests, keys, signatures): T has
// append_to(std::string&) and a static result<T> parse(std::string_view).
template <class T, column_kind Kind, const char* What>
struct spelled_value_traits {
  static constexpr column_kind kind = Kind;
  static void bind(const T& v, value_sink& s) {
    thread_local std::string text;
    text.clear();
    v.append_to(text);
    s.text(text);
  }
  static result<void> read(T& v, value_source& s) {
    auto p = T::parse(s.text());
    if (!p) return make_error(errc::integrity_violation, p.error().message());
    v = *p;
    return {};
  }
  static void write_json(const T& v, std::string& out) {
    out += '"';
    v.append_to(out);
    out += '"';
  }
  static result<void> from_json(T& v, const json& j) {
    if (!j.is_string())
      return make_error(errc::invalid_span,
                        std::string("expected ") + What + ", got " + j.type_name());
    LOGLINE_TRY(parsed, T::parse(j.get_ref<const std::string&>()));
    v = parsed;
    return {};
  }
};

namespace detail {
inline constexpr char a_uuid[] = "a uuid string";
inline constexpr char a_timestamp[] = "a timestamp string";
inline constexpr char a_hex_string[] = "a hex string";
}  // namespace detail

template <>
struct value_traits<uuid> : spelled_value_traits<uuid, column_kind::uuid, detail::a_uuid> {
  static result<void> validate(const uuid&) { return {}; }
};

template <>
struct value_traits<timestamp>
    : spelled_value_traits<timestamp, column_kind::timestamp, detail::a_timestamp> {
  static result<void> validate(const timestamp& v) {
    if (!v.is_set()) return make_error(errc::invalid_span, "timestamp is not set");
    if (v.unix_ms < timestamp::min_ms || v.unix_ms > timestamp::max_ms)
      return make_error(errc::invalid_span, "timestamp outside years 0000-9999");
    return {};
  }
};

template <>
struct value_traits<visibility> {
  static constexpr column_kind kind = column_kind::visibility;
  static void bind(visibility v, value_sink& s) { s.text(to_string(v)); }
  static result<void> read(visibility& v, value_source& s) {
    auto p = parse_visibility(s.text());
    if (!p) return make_error(errc::integrity_violation, p.error().message());
    v = *p;
    return {};
  }
  static void write_json(visibility v, std::string& out) {
    out += '"';
    out += to_string(v);
    out += '"';
  }
  static result<void> from_json(visibility& v, const json& j) {
    if (!j.is_string())
      return make_error(errc::invalid_span,
                        std::string("expected a visibility string, got ") + j.type_name());
    LOGLINE_TRY(parsed, parse_visibility(j.get_ref<const std::string&>()));
    v = parsed;
    return {};
  }
  static result<void> validate(visibility v) {
    if (v != visibility::private_ && v != visibility::tenant && v != visibility::public_)
      return make_error(errc::invalid_span, "visibility out of range");
    return {};
  }
};

template <>
struct value_traits<json> {
  static constexpr column_kind kind = column_kind::json;
  // Stored as its canonical text: one spelling per value on every backend.
  static void bind(const json& v, value_sink& s) { s.text(canonical(v)); }
  static result<void> read(json& v, value_source& s) {
    auto p = parse_json(s.text());
    if (!p)
      return make_error(errc::integrity_violation,
                        "stored JSON does not parse: " + p.error().message());
    v = std::move(*p);
    return {};
  }
  static void write_json(const json& v, std::string& out) { write_canonical(out, v); }
  static result<void> from_json(json& v, const json& j) {
    v = j;
    return {};
  }
  static result<void> validate(const json& v) { return check_json(v); }
};

template <>
struct value_traits<std::vector<uuid>> {
  static constexpr column_kind kind = column_kind::uuid_list;
  static void bind(const std::vector<uuid>& v, value_sink& s) {
    std::string t;
    write_json(v, t);
    s.text(t);
  }
  static result<void> read(std::vector<uuid>& v, value_source& s) {
    auto p = parse_json(s.text());
    if (!p)
      return make_error(errc::integrity_violation,
                        "stored uuid list does not parse: " + p.error().message());
    auto r = from_json(v, *p);
    if (!r) return make_error(errc::integrity_violation, r.error().message());
    return {};
  }
  static void write_json(const std::vector<uuid>& v, std::string& out) {
    out += '[';
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (i) out += ',';
      value_traits<uuid>::write_json(v[i], out);
    }
    out += ']';
  }
  static result<void> from_json(std::vector<uuid>& v, const json& j) {
    if (!j.is_array())
      return make_error(errc::invalid_span,
                        std::string("expected an array of uuids, got ") + j.type_name());
    v.clear();
    v.reserve(j.size());
    for (const auto& e : j) {
      uuid u;
      LOGLINE_TRY_VOID(value_traits<uuid>::from_json(u, e));
      v.push_back(u);
    }
    return {};
  }
  static result<void> validate(const std::vector<uuid>&) { return {}; }
};

template <std::size_t N, class Tag>
struct value_traits<hex_bytes<N, Tag>>
    : spelled_value_traits<hex_bytes<N, Tag>, column_kind::hex, detail::a_hex_string> {
  static constexpr std::size_t hex_length = 2 * N;
  static result<void> validate(const hex_bytes<N, Tag>&) { return {}; }
};

template <class T>
concept column_value = requires {
  value_traits<T>::kind;
};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

// A member type is storable if it is a column value or an optional column value.
template <class T>
concept storable = column_value<T> ||(is_optional<T>::value&& column_value<typename T::value_type>);

// One column of a span type, erased to function pointers so that code iterating the schema is
// compiled once per span type, not once per member.
template <class Span>
struct column {
  std::string_view name;
  column_kind kind;
  bool nullable;
  std::size_t hex_length;  // for column_kind::hex
  bool int32;              // for column_kind::integer: std::int32_t (else std::int64_t)
  bool (*is_null)(const Span&);
  void (*bind)(const Span&, value_sink&);
  result<void> (*read)(Span&, value_source&);     // source is not null
  void (*set_null)(Span&);                        // only for nullable columns
  void (*write_json)(const Span&, std::string&);  // precondition: !is_null
  result<void> (*from_json)(Span&, const json&);
  result<void> (*validate)(const Span&);
};

namespace detail {

template <class Span>
constexpr std::size_t member_count =
    decltype(boost::hana::length(boost::hana::accessors<Span>()))::value;

template <class Span, std::size_t I>
decltype(auto) member(Span& s) {
  return boost::hana::second(
      boost::hana::at_c<I>(boost::hana::accessors<std::remove_const_t<Span>>()))(s);
}
template <class Span, std::size_t I>
using member_type = std::remove_cvref_t<decltype(member<Span, I>(std::declval<Span&>()))>;

template <class Span, std::size_t I>
constexpr std::string_view column_name() {
  constexpr const char* raw = boost::hana::to<char const*>(
      decltype(boost::hana::first(boost::hana::at_c<I>(boost::hana::accessors<Span>()))){});
  std::string_view n(raw);
  if (!n.empty() && n.back() == '_') n.remove_suffix(1);
  return n;
}

template <class T>
struct unwrap_optional {
  using type = T;
};
template <class T>
struct unwrap_optional<std::optional<T>> {
  using type = T;
};

// A member's name as a template argument, so that a compile error names the member.
template <std::size_t N>
struct member_name {
  char text[N + 1]{};
  constexpr explicit member_name(std::string_view s) {
    for (std::size_t i = 0; i < N; ++i) text[i] = s[i];
  }
};

// Instantiated only for a member the schema cannot store: the compiler's "In instantiation of"
// line above the assertion reads [with Member = member_name<N>{"<member>"}; Type = <its type>].
template <member_name Member, class Type>
constexpr void unsupported_member_type() {
  static_assert(!std::is_same_v<Type, Type>,
                "logline: unsupported member type in a span (Member and Type in the instantiation "
                "above name it); use "
                "std::string, bool, std::int32_t, std::int64_t, double, logline::uuid, "
                "logline::timestamp, logline::visibility, "
                "logline::json, std::vector<logline::uuid>, logline::digest/signature/public_key, "
                "or std::optional of one of them");
}

template <class Span, std::size_t I>
column<Span> make_storable_column();

template <class Span, std::size_t I>
column<Span> make_column() {
  using M = member_type<Span, I>;
  if constexpr (storable<M>) {
    return make_storable_column<Span, I>();
  } else {
    constexpr std::string_view name = column_name<Span, I>();
    unsupported_member_type<member_name<name.size()>(name), M>();
    return column<Span>{};  // not reached: the assertion above stops the compilation
  }
}

template <class Span, std::size_t I>
column<Span> make_storable_column() {
  using M = member_type<Span, I>;
  using V = typename unwrap_optional<M>::type;
  using traits = value_traits<V>;
  constexpr bool nullable = is_optional<M>::value;
  column<Span> c{};
  c.name = column_name<Span, I>();
  c.kind = traits::kind;
  c.nullable = nullable;
  if constexpr (traits::kind == column_kind::hex) c.hex_length = traits::hex_length;
  c.int32 = std::same_as<V, std::int32_t>;
  if constexpr (nullable) {
    c.is_null = [](const Span& s) {
      const auto& m = member<const Span, I>(s);
      if constexpr (std::same_as<V, json>)
        return !m.has_value() || m->is_null();
      else
        return !m.has_value();
    };
    c.bind = [](const Span& s, value_sink& sink) {
      const auto& m = member<const Span, I>(s);
      if (!m.has_value()) return sink.null();
      if constexpr (std::same_as<V, json>)
        if (m->is_null()) return sink.null();
      traits::bind(*m, sink);
    };
    c.read = [](Span& s, value_source& src) -> result<void> {
      auto& m = member<Span, I>(s);
      m.emplace();
      return traits::read(*m, src);
    };
    c.set_null = [](Span& s) { member<Span, I>(s).reset(); };
    c.write_json = [](const Span& s, std::string& out) {
      traits::write_json(*member<const Span, I>(s), out);
    };
    c.from_json = [](Span& s, const json& j) -> result<void> {
      auto& m = member<Span, I>(s);
      if (j.is_null()) {
        m.reset();
        return {};
      }
      m.emplace();
      auto r = traits::from_json(*m, j);
      if (!r) return detail::column_error(column_name<Span, I>(), r.error().message());
      return {};
    };
    c.validate = [](const Span& s) -> result<void> {
      const auto& m = member<const Span, I>(s);
      if (!m.has_value()) return {};
      auto r = traits::validate(*m);
      if (!r) return detail::column_error(column_name<Span, I>(), r.error().message());
      return {};
    };
  } else {
    c.is_null = [](const Span&) { return false; };
    c.bind = [](const Span& s, value_sink& sink) { traits::bind(member<const Span, I>(s), sink); };
    c.read = [](Span& s, value_source& src) -> result<void> {
      return traits::read(member<Span, I>(s), src);
    };
    c.set_null = nullptr;
    c.write_json = [](const Span& s, std::string& out) {
      traits::write_json(member<const Span, I>(s), out);
    };
    c.from_json = [](Span& s, const json& j) -> result<void> {
      if (j.is_null()) return detail::column_error(column_name<Span, I>(), "may not be null");
      auto r = traits::from_json(member<Span, I>(s), j);
      if (!r) return detail::column_error(column_name<Span, I>(), r.error().message());
      return {};
    };
    c.validate = [](const Span& s) -> result<void> {
      auto r = traits::validate(member<const Span, I>(s));
      if (!r) return detail::column_error(column_name<Span, I>(), r.error().message());
      return {};
    };
  }
  return c;
}

constexpr bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

}  // namespace detail

// A span type: a Hana struct with a table name, an `id` and a `seq`.
template <class S>
concept span_type = boost::hana::Struct<S>::value && requires {
  { S::span_name } -> std::convertible_to<std::string_view>;
} && requires(const S& s) {
  { s.id } -> std::convertible_to<const uuid&>;
  { s.seq } -> std::convertible_to<std::int32_t>;
};

template <class Span>
struct schema {
  static_assert(boost::hana::Struct<Span>::value,
                "logline: a span type must be a Boost.Hana struct (BOOST_HANA_DEFINE_STRUCT or "
                "BOOST_HANA_ADAPT_STRUCT)");
  static_assert(
      requires {
        { Span::span_name } -> std::convertible_to<std::string_view>;
      },
      "logline: a span type needs `static constexpr std::string_view span_name` (its table name)");
  static_assert(detail::is_identifier(Span::span_name),
                "logline: span_name must be a lowercase SQL identifier ([a-z_][a-z0-9_]*, at most "
                "63 characters)");
  static_assert(
      requires(const Span& s) {
        { s.id } -> std::same_as<const uuid&>;
      },
      "logline: a span type needs a member `id` of type logline::uuid");
  static_assert(
      requires(const Span& s) {
        { s.seq } -> std::same_as<const std::int32_t&>;
      },
      "logline: a span type needs a member `seq` of type std::int32_t (the version number)");

  static constexpr std::size_t size = detail::member_count<Span>;
  static constexpr std::string_view table_name = Span::span_name;

  static const std::array<column<Span>, size>& columns() {
    static const auto table = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<column<Span>, size>{detail::make_column<Span, I>()...};
    }
    (std::make_index_sequence<size>{});
    return table;
  }

  // Column index by name, or size if there is none.
  static std::size_t index_of(std::string_view name) {
    const auto& cols = columns();
    for (std::size_t i = 0; i < size; ++i)
      if (cols[i].name == name) return i;
    return size;
  }
  static bool has_column(std::string_view name) { return index_of(name) < size; }
  // The same, at compile time.
  static constexpr bool declares(std::string_view name) {
    return []<std::size_t... I>(std::index_sequence<I...>, std::string_view n) {
      return ((detail::column_name<Span, I>() == n) || ...);
    }
    (std::make_index_sequence<size>{}, name);
  }

  // Columns of the canonical form, sorted by name (column names are ASCII, so byte order is
  // UTF-16 order), without curr_hash and signature.
  static const std::vector<std::size_t>& canonical_order() {
    static const auto order = [] {
      std::vector<std::size_t> o;
      for (std::size_t i = 0; i < size; ++i)
        if (columns()[i].name != "curr_hash" && columns()[i].name != "signature") o.push_back(i);
      std::sort(o.begin(), o.end(),
                [](std::size_t a, std::size_t b) { return columns()[a].name < columns()[b].name; });
      return o;
    }();
    return order;
  }
  // Every column sorted by name (the export form: canonical fields plus curr_hash and signature).
  static const std::vector<std::size_t>& sorted_order() {
    static const auto order = [] {
      std::vector<std::size_t> o(size);
      for (std::size_t i = 0; i < size; ++i) o[i] = i;
      std::sort(o.begin(), o.end(),
                [](std::size_t a, std::size_t b) { return columns()[a].name < columns()[b].name; });
      return o;
    }();
    return order;
  }
};

namespace detail {
template <class Span>
void write_object(std::string& out, const Span& s, const std::vector<std::size_t>& order) {
  const auto& cols = schema<Span>::columns();
  out += '{';
  bool first = true;
  for (std::size_t i : order) {
    const auto& c = cols[i];
    if (c.is_null(s)) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += c.name;
    out += "\":";
    c.write_json(s, out);
  }
  out += '}';
}
}  // namespace detail

// The canonical form (DESIGN §4.1): every non-null column except curr_hash and signature, as
// RFC 8785 JSON. Precondition: validate_span(s) succeeded.
template <class Span>
void write_canonical_span(std::string& out, const Span& s) {
  detail::write_object(out, s, schema<Span>::canonical_order());
}
template <class Span>
std::string canonical_span(const Span& s) {
  std::string out;
  out.reserve(512);
  write_canonical_span(out, s);
  return out;
}

// BLAKE3-256 of the canonical form.
template <class Span>
digest span_hash(const Span& s) {
  thread_local std::string buffer;
  buffer.clear();
  write_canonical_span(buffer, s);
  digest d;
  d.bytes = blake3(buffer);
  return d;
}

// The canonical JSON of a stored, non-null value, written from the backend's representation
// without decoding it: text kinds are written as JSON strings, JSON columns verbatim (they are
// stored canonical). For a row written by logline this equals what write_canonical_span writes
// for the decoded span; for an altered row it differs, and so does the hash.
inline void write_stored_json(column_kind kind, value_source& v, std::string& out) {
  switch (kind) {
    case column_kind::integer:
      out += std::to_string(v.integer());
      return;
    case column_kind::boolean: {
      const auto i = v.integer();
      if (i == 0 || i == 1)
        out += i ? "true" : "false";
      else
        out += std::to_string(i);  // not a boolean: cannot match any hash logline wrote
      return;
    }
    case column_kind::real: {
      const double d = v.real();
      if (std::isfinite(d))
        write_canonical_number(out, d);
      else
        out += "null";
      return;
    }
    case column_kind::json:
    case column_kind::uuid_list:
      out += v.text();
      return;
    default:
      write_canonical_string(out, v.text());
      return;
  }
}

// Every non-null column (the canonical fields plus curr_hash and signature), keys sorted.
template <class Span>
std::string span_to_json_text(const Span& s) {
  std::string out;
  out.reserve(768);
  detail::write_object(out, s, schema<Span>::sorted_order());
  return out;
}

// Checks every value (UTF-8, U+0000, ranges, JSON rules) so that the canonical form is defined.
template <class Span>
result<void> validate_span(const Span& s) {
  for (const auto& c : schema<Span>::columns()) LOGLINE_TRY_VOID(c.validate(s));
  return {};
}

// Which columns a JSON object named.
template <class Span>
using field_set = std::array<bool, schema<Span>::size>;

// Reads a span from a JSON object: unknown keys and wrong types are refused; missing keys keep
// the member's default. `present` tells which columns the object named.
template <class Span>
result<Span> span_from_json(const json& object, field_set<Span>* present = nullptr) {
  if (!object.is_object())
    return make_error(errc::invalid_span,
                      std::string("a span is a JSON object, not ") + object.type_name());
  Span s{};
  if (present) present->fill(false);
  for (const auto& [key, value] : object.items()) {
    const std::size_t i = schema<Span>::index_of(key);
    if (i == schema<Span>::size)
      return make_error(errc::invalid_span,
                        "unknown field '" + std::string(key.substr(0, 64)) + "'");
    LOGLINE_TRY_VOID(schema<Span>::columns()[i].from_json(s, value));
    if (present) (*present)[i] = true;
  }
  return s;
}

template <class Span>
result<Span> span_from_json_text(std::string_view text, field_set<Span>* present = nullptr) {
  LOGLINE_TRY(doc, parse_json(text));
  return span_from_json<Span>(doc, present);
}

}  // namespace logline
