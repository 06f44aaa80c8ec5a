#pragma once
// logline's SQLite backend: `logline::ledger<Span, logline::sqlite::backend, Policies...>`.
#include "logline/sqlite/database.hpp"
#include "logline/sqlite/recorded.hpp"
#include "logline/sqlite/store.hpp"

namespace logline::sqlite {

struct backend {
  using database = sqlite::database;
  template <class Span>
  using store = sqlite::store<Span>;
};

}  // namespace logline::sqlite
