#pragma once
// Backend-neutral vocabulary shared by the ledger and every storage backend.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "logline/ed25519.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/types.hpp"

namespace logline {

// What the policies ask of a table (derived at compile time by the ledger).
struct table_options {
  bool append_only = false;
  bool chained = false;
  chain_scope scope = chain_scope::per_tenant;
  bool tenancy = false;
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
  std::size_t limit = 50;          // 1..1000
  std::string cursor;              // next_cursor of the previous page, empty for the first page
  static constexpr std::size_t max_limit = 1000;
};

template <class Span>
struct timeline_page {
  std::vector<Span> spans;
  std::string next_cursor;  // empty when there is nothing after this page
};

// One entry of the change feed, with its feed cursor: an opaque token (SQLite: the rowid;
// PostgreSQL: "<xid>.<n>"). changes(cursor) resumes right after that entry; the empty cursor
// means "from the beginning".
template <class Span>
struct change {
  std::string cursor;
  Span span;
};

// A stored row as the verifier sees it: decoded span (or why it could not be decoded), plus
// where it sits.
template <class Span>
struct scanned_row {
  std::int64_t row_number = 0;
  std::string chain;                     // "tenant:<id>", "tenant:null" or "global", read raw
  std::optional<std::int64_t> position;  // chain_position, read raw (also when decoding fails)
  Span span{};
  std::string decode_error;  // non-empty: the row could not be decoded
};

// A stored row as the verifier sees it, built by the backend straight from the stored values
// (nothing is decoded into a Span): the canonical form written from the stored column values,
// and the columns verification needs. A tampered value simply makes `canonical` differ.
struct verify_row {
  std::int64_t row_number = 0;
  std::string chain;                     // "tenant:<id>", "tenant:null" or "global"
  std::optional<std::int64_t> position;  // chain_position
  uuid id{};
  std::int32_t seq = 0;
  std::string canonical;
  std::optional<digest> curr_hash, prev_hash;
  std::optional<logline::signature> signature;
  std::optional<logline::public_key> public_key;
  std::string unreadable;                // non-empty: a column verification needs cannot be read
};

}  // namespace logline
