// The README's example is examples/quickstart/quickstart.cpp, verbatim; it builds and runs.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "support/catch.hpp"

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST_CASE("the README shows the quickstart example verbatim", "[cli][readme]") {
  const auto readme = read_file(std::string(LOGLINE_SOURCE_DIR) + "/README.md");
  const auto example =
      read_file(std::string(LOGLINE_SOURCE_DIR) + "/examples/quickstart/quickstart.cpp");
  CHECK(readme.find("```cpp\n" + example + "```") != std::string::npos);
  CHECK(readme.find("make run") != std::string::npos);
  CHECK(readme.find("make test") != std::string::npos);
}

TEST_CASE("the quickstart appends a signed span and verifies the ledger", "[cli][readme]") {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("logline-quickstart-" + std::to_string(std::random_device{}()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string out = (dir / "out.txt").string();
  const std::string cmd =
      "cd '" + dir.string() + "' && '" + LOGLINE_QUICKSTART_PATH + "' > out.txt 2>&1";
  for (int run = 1; run <= 2; ++run) {
    INFO("run " << run);
    REQUIRE(std::system(cmd.c_str()) == 0);
    const auto text = read_file(out);
    CHECK(text.find("\"entity_type\":\"note\"") != std::string::npos);
    CHECK(text.find("\"chain_position\":" + std::to_string(run - 1)) != std::string::npos);
    CHECK(text.find(std::to_string(run) + " spans verified, 0 problems") != std::string::npos);
  }
  CHECK(fs::exists(dir / "quickstart.db"));
  fs::remove_all(dir);
}
