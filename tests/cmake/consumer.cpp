// A consumer of logline (installed, or added with add_subdirectory): the core umbrella and the
// SQLite and PostgreSQL backends, the HTTP adapter and the runtime compile and link. Prints blake3("abc");
// tests/cmake/consumer.cmake checks it.
#include <logline/http/server.hpp>
#include <logline/logline.hpp>
#include <logline/postgres.hpp>
#include <logline/runtime/scheduler.hpp>
#include <logline/sqlite.hpp>

#include <iostream>

int main(int argc, char**) {
  if (argc > 1000) {  // never runs; links libpq through logline::postgres
    auto db = logline::postgres::database::open("host=localhost");
    httplib::Server svr;  // links cpp-httplib through logline::http
    auto paris =
        logline::runtime::find_time_zone("Europe/Paris");  // links date-tz through logline::runtime
    return db && svr.is_valid() && paris ? 0 : 1;
  }
  std::cout << logline::blake3_hex("abc") << '\n';
  return 0;
}
