#pragma once
// What every backend's verification scan does with a stored row: read the columns verification
// needs and write the canonical form straight from the stored values (nothing is decoded into a
// Span, so a tampered value simply changes the hash). It works from a stored_layout, the
// columns' names and kinds in row order: a span type's (stored_layout::of<Span>) or one read
// from a database's recorded DDL (sqlite/recorded.hpp), so that a table is verified the same
// way whether or not the program reading it knows its span type.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logline/backend.hpp"
#include "logline/schema.hpp"

namespace logline::detail {

struct stored_layout {
  std::vector<std::string> names;  // in row order
  std::vector<column_kind> kinds;
  std::vector<std::size_t>
      canonical;  // the canonical form's columns, by name (not curr_hash, signature)
  std::vector<std::size_t> sorted;  // every column, by name (the export form)
  // Row positions of the columns verification reads; names.size() where there is none.
  std::size_t id = 0, seq = 0, curr_hash = 0, prev_hash = 0, signature = 0, public_key = 0;

  std::size_t index_of(std::string_view name) const {
    return static_cast<std::size_t>(std::find(names.begin(), names.end(), name) - names.begin());
  }

  static stored_layout of(std::vector<std::pair<std::string, column_kind>> columns) {
    stored_layout l;
    for (auto& [name, kind] : columns) {
      l.names.push_back(std::move(name));
      l.kinds.push_back(kind);
    }
    for (std::size_t i = 0; i < l.names.size(); ++i) l.sorted.push_back(i);
    std::sort(l.sorted.begin(), l.sorted.end(),
              [&](std::size_t a, std::size_t b) { return l.names[a] < l.names[b]; });
    for (std::size_t i : l.sorted)
      if (l.names[i] != "curr_hash" && l.names[i] != "signature") l.canonical.push_back(i);
    l.id = l.index_of("id");
    l.seq = l.index_of("seq");
    l.curr_hash = l.index_of("curr_hash");
    l.prev_hash = l.index_of("prev_hash");
    l.signature = l.index_of("signature");
    l.public_key = l.index_of("public_key");
    return l;
  }

  template <class Span>
  static const stored_layout& of() {
    static const stored_layout layout = [] {
      std::vector<std::pair<std::string, column_kind>> columns;
      for (const auto& c : schema<Span>::columns())
        columns.emplace_back(std::string(c.name), c.kind);
      return of(std::move(columns));
    }();
    return layout;
  }
};

// Writes the stored row as a JSON object of its non-null columns in `order`, each value as
// write_stored_json writes it. `seek(i)` positions `v` on the value of column i.
template <class Seek>
void write_stored_object(std::string& out, const stored_layout& layout,
                         const std::vector<std::size_t>& order, value_source& v, Seek&& seek) {
  out += '{';
  bool first = true;
  for (std::size_t i : order) {
    seek(i);
    if (v.is_null()) continue;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += layout.names[i];
    out += "\":";
    write_stored_json(layout.kinds[i], v, out);
  }
  out += '}';
}

// Fills `row` (except row_number, chain and position, which the backend reads) from the current
// stored row.
template <class Seek>
void read_stored_row(verify_row& row, value_source& v, Seek&& seek, const stored_layout& layout) {
  const std::size_t none = layout.names.size();
  row.id = {};
  row.seq = 0;
  row.curr_hash.reset();
  row.prev_hash.reset();
  row.signature.reset();
  row.public_key.reset();
  row.unreadable.clear();
  std::string problem;
  auto hex = [&]<class H>(std::size_t column, std::optional<H>& into) {
    if (column >= none) return;
    seek(column);
    if (v.is_null()) return;
    auto parsed = H::parse(v.text());
    if (parsed)
      into = *parsed;
    else
      problem = "column '" + layout.names[column] + "': " + parsed.error().message();
  };
  if (layout.id < none) {
    seek(layout.id);
    if (!v.is_null()) {
      if (auto id = uuid::parse(v.text()))
        row.id = *id;
      else
        problem = "column 'id': " + id.error().message();
    }
  }
  if (layout.seq < none) {
    seek(layout.seq);
    row.seq = static_cast<std::int32_t>(v.integer());
  }
  hex(layout.curr_hash, row.curr_hash);
  hex(layout.prev_hash, row.prev_hash);
  hex(layout.signature, row.signature);
  hex(layout.public_key, row.public_key);
  if (!problem.empty()) row.unreadable = "row " + std::to_string(row.row_number) + ": " + problem;
  row.canonical.clear();
  write_stored_object(row.canonical, layout, layout.canonical, v, seek);
}

// The same for a span type's table.
template <class Span, class Seek>
void read_stored_row(verify_row& row, value_source& v, Seek&& seek) {
  read_stored_row(row, v, std::forward<Seek>(seek), stored_layout::of<Span>());
}

}  // namespace logline::detail
