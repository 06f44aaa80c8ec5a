// A consumer of logline (installed, or added with add_subdirectory): the core umbrella and the
// SQLite backend headers compile and link. Prints blake3("abc"); tests/cmake/consumer.cmake checks it.
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>

#include <iostream>

int main() {
  std::cout << logline::blake3_hex("abc") << '\n';
  return 0;
}
