// A consumer of logline (installed, or added with add_subdirectory): the core umbrella and the
// SQLite and PostgreSQL backend headers compile and link. Prints blake3("abc");
// tests/cmake/consumer.cmake checks it.
#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/sqlite.hpp>

#include <iostream>

int main(int argc, char**) {
  if (argc > 1000) {  // never runs; links libpq through logline::postgres
    auto db = logline::postgres::database::open("host=localhost");
    return db ? 0 : 1;
  }
  std::cout << logline::blake3_hex("abc") << '\n';
  return 0;
}
