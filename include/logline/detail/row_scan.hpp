#pragma once
// The two readers of every stored row that each store hands out (store_for's scanner and
// verify_scanner), written once over a backend's row cursor. A cursor provides:
//
//   result<bool> step(std::size_t want);   // moves to the next row; false after the last
//                                          // (want: how many rows the caller still expects)
//   std::int64_t row_number() const;       // the row's number in findings
//   void place(std::string& chain, std::optional<std::int64_t>& position) const;
//                                          // its chain and position, read raw
//   result<void> decode(Span& span);       // the row as a Span
//   void read_stored(verify_row& row);     // id, seq, seal and canonical form, from stored values
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "logline/backend.hpp"
#include "logline/error.hpp"

namespace logline::detail {

// Rows decoded into spans (an undecodable row keeps its place, with why).
template <class Cursor, class Span>
class row_scanner {
 public:
  explicit row_scanner(Cursor c) : cursor_(std::move(c)) {}

  result<bool> next_batch(std::vector<scanned_row<Span>>& out, std::size_t max) {
    while (out.size() < max) {
      LOGLINE_TRY(more, cursor_.step(max - out.size()));
      if (!more) return false;
      scanned_row<Span> row;
      row.row_number = cursor_.row_number();
      cursor_.place(row.chain, row.position);
      if (auto r = cursor_.decode(row.span); !r)
        row.decode_error = "row " + std::to_string(row.row_number) + ": " + r.error().message();
      out.push_back(std::move(row));
    }
    return true;
  }

 private:
  Cursor cursor_;
};

// Rows for the verifier (logline::verify_rows), nothing decoded: the canonical form is written
// from the stored values, so a tampered value simply changes the hash.
template <class Cursor>
class verify_row_scanner {
 public:
  explicit verify_row_scanner(Cursor c) : cursor_(std::move(c)) {}

  // Fills `out` with up to max rows, reusing its elements' storage (out ends with exactly the
  // rows read).
  result<bool> next_batch(std::vector<verify_row>& out, std::size_t max) {
    std::size_t count = 0;
    auto r = fill(out, max, count);
    out.resize(count);
    return r;
  }

 private:
  result<bool> fill(std::vector<verify_row>& out, std::size_t max, std::size_t& count) {
    while (count < max) {
      LOGLINE_TRY(more, cursor_.step(max - count));
      if (!more) return false;
      if (count == out.size()) out.emplace_back();
      verify_row& row = out[count++];
      row.row_number = cursor_.row_number();
      row.position.reset();
      cursor_.place(row.chain, row.position);
      cursor_.read_stored(row);
    }
    return true;
  }

  Cursor cursor_;
};

// A store's scanner over the cursor it opened (or the error opening it).
template <class Scanner, class Cursor>
result<Scanner> scan_with(result<Cursor> cursor) {
  if (!cursor) return std::move(cursor).error();
  return Scanner(std::move(*cursor));
}

}  // namespace logline::detail
