#pragma once
// logline's PostgreSQL backend: `logline::ledger<Span, logline::postgres::backend, Policies...>`.
#include "logline/postgres/database.hpp"
#include "logline/postgres/feed.hpp"
#include "logline/postgres/store.hpp"

namespace logline::postgres {

struct backend {
  using database = postgres::database;
  template <class Span>
  using store = postgres::store<Span>;
};

}  // namespace logline::postgres
