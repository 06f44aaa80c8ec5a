#pragma once
// What every backend's verification scan does with a stored row: read the columns verification
// needs and write the canonical form straight from the stored values (nothing is decoded into a
// Span, so a tampered value simply changes the hash).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "logline/backend.hpp"
#include "logline/schema.hpp"

namespace logline::detail {

// Fills `row` (except row_number, chain and position, which the backend reads) from the current
// stored row. `seek(i)` positions `v` on the value of schema column i.
template <class Span, class Seek>
void read_stored_row(verify_row& row, value_source& v, Seek&& seek) {
  using schema_t = schema<Span>;
  static const std::size_t curr_hash = schema_t::index_of("curr_hash"), prev_hash = schema_t::index_of("prev_hash"),
                           signature = schema_t::index_of("signature"), public_key = schema_t::index_of("public_key");
  const auto& cols = schema_t::columns();
  row.id = {};
  row.curr_hash.reset();
  row.prev_hash.reset();
  row.signature.reset();
  row.public_key.reset();
  row.unreadable.clear();
  std::string problem;
  auto hex = [&]<class H>(std::size_t column, std::optional<H>& into) {
    if (column >= schema_t::size) return;
    seek(column);
    if (v.is_null()) return;
    auto parsed = H::parse(v.text());
    if (parsed) into = *parsed;
    else problem = "column '" + std::string(cols[column].name) + "': " + parsed.error().message();
  };
  seek(schema_t::index_of("id"));
  if (!v.is_null()) {
    if (auto id = uuid::parse(v.text())) row.id = *id;
    else problem = "column 'id': " + id.error().message();
  }
  seek(schema_t::index_of("seq"));
  row.seq = static_cast<std::int32_t>(v.integer());
  hex(curr_hash, row.curr_hash);
  hex(prev_hash, row.prev_hash);
  hex(signature, row.signature);
  hex(public_key, row.public_key);
  if (!problem.empty()) row.unreadable = "row " + std::to_string(row.row_number) + ": " + problem;
  row.canonical.clear();
  row.canonical += '{';
  bool first = true;
  for (std::size_t i : schema_t::canonical_order()) {
    seek(i);
    if (v.is_null()) continue;
    if (!first) row.canonical += ',';
    first = false;
    row.canonical += '"';
    row.canonical += cols[i].name;
    row.canonical += "\":";
    write_stored_json(cols[i].kind, v, row.canonical);
  }
  row.canonical += '}';
}

}  // namespace logline::detail
