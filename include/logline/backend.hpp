#pragma once
// Backend-neutral vocabulary shared by the ledger and every storage backend.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "logline/ed25519.hpp"
#include "logline/error.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/policy/policy.hpp"
#include "logline/types.hpp"

namespace logline {

// Whether the policies require a column that the span type declares optional to be set in
// every row (NOT NULL in the DDL of both backends): the seal of a hashed, signed or chained
// table (a row without its seal is not a span this ledger wrote), or a column a policy
// requires (table_options::required).
inline bool required_column(const table_options& o, std::string_view column) {
  if (column == "curr_hash") return o.hashed;
  if (column == "signature" || column == "public_key") return o.signed_;
  if (column == "chain_position") return o.chained;
  return o.requires_column(column);
}

// The error for a table whose recorded DDL is not the DDL this program generates (another span
// type or policy set): it quotes the first line each has that the other lacks, and says what
// to do.
inline error_info schema_mismatch(std::string_view table, std::string_view recorded,
                                  std::string_view current) {
  auto lines = [](std::string_view text) {
    std::vector<std::string_view> out;
    while (!text.empty()) {
      const auto end = text.find('\n');
      out.push_back(text.substr(0, end));
      if (end == std::string_view::npos) break;
      text.remove_prefix(end + 1);
    }
    return out;
  };
  const auto had = lines(recorded), wants = lines(current);
  auto first_missing = [](const std::vector<std::string_view>& from,
                          const std::vector<std::string_view>& in) -> std::string {
    for (auto line : from)
      if (std::find(in.begin(), in.end(), line) == in.end()) {
        while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
        return "`" + std::string(line.substr(0, 200)) + "`";
      }
    return "nothing else";
  };
  std::string why =
      "table '" + std::string(table) +
      "' was created for another span schema or policy set (DDL fingerprint differs): ";
  if (recorded.empty())
    why += "its recorded DDL is missing";
  else
    why += "the table has " + first_missing(had, wants) +
           " where this program's span type and policies make " + first_missing(wants, had);
  return make_error(errc::storage_error, why +
                                             ". Open it with the span type and policies it was "
                                             "made with, or move its spans to a new table "
                                             "(docs/ledger.md, \"Changing a span type\")");
}

// What a write transaction needs to know of an entity before appending to it: its latest
// version and, with tenancy columns, its owner pair (which no version changes: both backends
// refuse a version whose owner pair differs from the first's) and the latest visibility.
struct entity_state {
  std::int32_t latest_seq = 0;
  std::optional<std::string> owner_id, tenant_id;
  logline::visibility visibility = visibility::private_;
};

// The last span of a chain.
struct chain_head {
  std::int64_t position = -1;
  digest hash{};
};

// Filters of a timeline query (all optional); pages run from the newest span to the oldest.
struct timeline_query {
  std::optional<std::string> entity_type, status, owner_id, tenant_id, trace_id;
  std::optional<uuid> parent_id;
  std::optional<timestamp> since;  // at >= since
  std::optional<timestamp> until;  // at < until
  std::optional<logline::visibility> visibility;
  std::size_t limit = 50;  // 1..1000
  std::string cursor;      // next_cursor of the previous page, empty for the first page
  static constexpr std::size_t max_limit = 1000;
};

template <class Span>
struct timeline_page {
  std::vector<Span> spans;
  std::string next_cursor;  // empty when there is nothing after this page
};

// Change-feed cursors: every store writes one or more decimal numbers separated by dots (SQLite
// "<n>", PostgreSQL "<xid>.<n>"), ordered as tuples of numbers; the empty cursor (the start of
// the feed) comes before all. Whether a comes before b in the feed:
inline bool feed_cursor_before(std::string_view a, std::string_view b) noexcept {
  for (;;) {
    if (b.empty()) return false;
    if (a.empty()) return true;
    const auto da = a.find('.'), db = b.find('.');
    auto pa = a.substr(0, da), pb = b.substr(0, db);
    while (pa.size() > 1 && pa.front() == '0') pa.remove_prefix(1);
    while (pb.size() > 1 && pb.front() == '0') pb.remove_prefix(1);
    if (pa.size() != pb.size()) return pa.size() < pb.size();
    if (pa != pb) return pa < pb;
    a = da == std::string_view::npos ? std::string_view{} : a.substr(da + 1);
    b = db == std::string_view::npos ? std::string_view{} : b.substr(db + 1);
  }
}

// The timeline cursor every backend writes and reads: "<at>|<id>|<seq>" of the page's last span
// (pages run by (at, id, seq) descending, so the next page is everything below that key).
struct timeline_key {
  timestamp at;
  uuid id;
  std::int32_t seq = 0;
  static result<timeline_key> parse(std::string_view cursor) {
    const auto p1 = cursor.find('|'), p2 = cursor.rfind('|');
    if (p1 != std::string_view::npos && p2 != p1) {
      auto at = timestamp::parse(cursor.substr(0, p1));
      auto id = uuid::parse(cursor.substr(p1 + 1, p2 - p1 - 1));
      const auto seq = cursor.substr(p2 + 1);
      if (at && id && !seq.empty() && seq.size() < 11 &&
          seq.find_first_not_of("0123456789") == std::string_view::npos) {
        const long long v = std::stoll(std::string(seq));
        if (v <= INT32_MAX) return timeline_key{*at, *id, static_cast<std::int32_t>(v)};
      }
    }
    return make_error(errc::invalid_argument, "malformed cursor");
  }
};

// The equality filters of a timeline query (column = value, values in logline's spellings), after
// the checks every backend makes: the limit is in range and the span type has the columns used.
struct timeline_filter {
  std::string_view column;
  std::string value;
};
template <class HasColumn>
result<std::vector<timeline_filter>> timeline_filters(const timeline_query& q,
                                                      HasColumn&& has_column) {
  if (q.limit < 1 || q.limit > timeline_query::max_limit)
    return make_error(errc::invalid_argument,
                      "limit must be between 1 and " + std::to_string(timeline_query::max_limit));
  if (!has_column("at"))
    return make_error(errc::invalid_argument, "the timeline needs an `at` column");
  std::vector<timeline_filter> out;
  auto add = [&](std::string_view column, std::string value) -> result<void> {
    if (!has_column(column))
      return make_error(errc::invalid_argument,
                        "no column '" + std::string(column) + "' to filter on");
    out.push_back({column, std::move(value)});
    return {};
  };
  const std::pair<std::string_view, const std::optional<std::string>*> text[] = {
      {"entity_type", &q.entity_type},
      {"status", &q.status},
      {"owner_id", &q.owner_id},
      {"tenant_id", &q.tenant_id},
      {"trace_id", &q.trace_id}};
  for (const auto& [column, value] : text)
    if (*value) LOGLINE_TRY_VOID(add(column, **value));
  if (q.parent_id) LOGLINE_TRY_VOID(add("parent_id", q.parent_id->to_string()));
  if (q.visibility) LOGLINE_TRY_VOID(add("visibility", std::string(to_string(*q.visibility))));
  return out;
}

// A page from up to limit + 1 rows (newest first): the extra row only says that there is more.
template <class Span>
timeline_page<Span> make_timeline_page(std::vector<Span> rows, std::size_t limit) {
  timeline_page<Span> page;
  page.spans = std::move(rows);
  if (page.spans.size() > limit) {
    page.spans.resize(limit);
    const Span& last = page.spans.back();
    if constexpr (requires { last.at; })
      page.next_cursor =
          last.at.to_string() + "|" + last.id.to_string() + "|" + std::to_string(last.seq);
  }
  return page;
}

// One entry of the change feed, with its feed cursor: an opaque token (SQLite: the rowid;
// PostgreSQL: "<xid>.<n>"). changes(cursor) resumes right after that entry; the empty cursor
// means "from the beginning".
template <class Span>
struct change {
  std::string cursor;
  Span span;
};

// A page of the change feed and where to resume: the cursor of the page's last entry, or, when
// the page reached the end of the feed, the feed's head (so a reader who may see few of the
// entries does not scan the others again on its next read).
template <class Span>
struct feed_page {
  std::vector<change<Span>> changes;
  std::string next;
};

// The name of a chain in findings and checkpoints: "tenant:<id>" for a tenant's chain, "no tenant"
// for the spans without one (a tenant may be called anything, "null" included), "global" for the
// one chain of a ledger chained globally.
inline std::string tenant_chain_name(std::optional<std::string_view> tenant) {
  return tenant ? "tenant:" + std::string(*tenant) : std::string("no tenant");
}
inline constexpr std::string_view global_chain_name = "global";

// A stored row as the verifier sees it: decoded span (or why it could not be decoded), plus
// where it sits.
template <class Span>
struct scanned_row {
  std::int64_t row_number = 0;
  std::string chain;                     // tenant_chain_name() or global_chain_name, read raw
  std::optional<std::int64_t> position;  // chain_position, read raw (also when decoding fails)
  Span span{};
  std::string decode_error;  // non-empty: the row could not be decoded
};

// A stored row as the verifier sees it, built by the backend straight from the stored values
// (nothing is decoded into a Span): the canonical form written from the stored column values,
// and the columns verification needs. A tampered value simply makes `canonical` differ.
struct verify_row {
  std::int64_t row_number = 0;
  std::string chain;                     // tenant_chain_name() or global_chain_name
  std::optional<std::int64_t> position;  // chain_position
  uuid id{};
  std::int32_t seq = 0;
  std::string canonical;
  std::optional<digest> curr_hash, prev_hash;
  std::optional<logline::signature> signature;
  std::optional<logline::public_key> public_key;
  std::string unreadable;  // non-empty: a column verification needs cannot be read
};

}  // namespace logline
