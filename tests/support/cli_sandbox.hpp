#pragma once
// Running logline-cli as a real process in a sandbox directory, and reading what it prints: the
// helpers of the CLI's tests (tests/tools/*cli*_test.cpp).
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "catch.hpp"
#include "logline/json.hpp"
#include "support/process.hpp"

namespace cli_test {

namespace fs = std::filesystem;
using process_test::sh_quote;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  REQUIRE(out.good());
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) lines.push_back(line);
  return lines;
}

struct run_result {
  int code = -1;  // exit status; -1 if the process did not exit normally (crashed)
  std::string out, err;
};

// A fresh directory (under the working directory, which ctest gives each test group) for one
// test case, removed afterwards.
class sandbox {
 public:
  sandbox() {
    std::string tmpl = (fs::current_path() / "logline-cli-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir_ = tmpl;
  }
  ~sandbox() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  sandbox(const sandbox&) = delete;
  sandbox& operator=(const sandbox&) = delete;

  const fs::path& dir() const { return dir_; }
  fs::path path(const std::string& name) const { return dir_ / name; }

  // Runs `logline-cli <args>` in the sandbox with `input` on stdin; env: "VAR=value " prefix.
  run_result cli(const std::string& args, const std::string& input = "",
                 const std::string& env = "") {
    return shell(env + sh_quote(LOGLINE_CLI_PATH) + " " + args, input);
  }

  run_result shell(const std::string& command, const std::string& input = "") {
    const fs::path in = path(".stdin"), out = path(".stdout"), err = path(".stderr");
    write_file(in, input);
    const std::string full = "cd " + sh_quote(dir_.string()) + " && " + command + " < " +
                             sh_quote(in.string()) + " > " + sh_quote(out.string()) + " 2> " +
                             sh_quote(err.string());
    const int status = std::system(full.c_str());
    run_result r;
    r.code = status != -1 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = read_file(out);
    r.err = read_file(err);
    return r;
  }

  // Runs SQL on a database with the sqlite3 tool (behind the ledger's back).
  void sql(const std::string& db, const std::string& statements) {
    auto r = shell("sqlite3 " + sh_quote(db) + " " + sh_quote(statements));
    INFO("sqlite3 stderr: " << r.err);
    REQUIRE(r.code == 0);
  }

 private:
  fs::path dir_;
};

inline constexpr const char* key_file = "signing.key";
inline const std::string ledger_args =
    "--db ledger.db --key signing.key --user alice --tenant acme";

inline void make_key(sandbox& box) {
  auto r = box.cli(std::string("keygen --out ") + key_file);
  INFO(r.err);
  REQUIRE(r.code == 0);
}

inline std::string span_line(const std::string& this_, const std::string& extra = "") {
  return R"({"entity_type":"note","did":"wrote","this":")" + this_ + "\"" + extra + "}\n";
}

inline logline::json parse(const std::string& line) {
  auto j = logline::parse_json(line);
  INFO(line);
  REQUIRE(j.has_value());
  return *j;
}

inline std::vector<logline::json> exported(sandbox& box, const std::string& db = "ledger.db") {
  auto r = box.cli("export --db " + db);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::vector<logline::json> spans;
  for (const auto& line : lines_of(r.out)) spans.push_back(parse(line));
  return spans;
}

inline std::size_t export_count(sandbox& box) { return exported(box).size(); }

// Appends n spans (with payloads) in one call and returns the ids by chain position.
inline std::vector<std::string> populate(sandbox& box, int n) {
  std::string input;
  for (int i = 0; i < n; ++i)
    input += span_line("span " + std::to_string(i),
                       R"(,"name":"n)" + std::to_string(i) + R"(","metadata":{"amount":)" +
                           std::to_string(100 + i) + R"(,"tags":["a","b"]})");
  auto r = box.cli("append " + ledger_args, input);
  INFO(r.err);
  REQUIRE(r.code == 0);
  std::vector<std::string> ids(static_cast<std::size_t>(n));
  for (const auto& s : exported(box))
    ids.at(s.at("chain_position").get<std::size_t>()) = s.at("id").get<std::string>();
  return ids;
}

struct finding_line {
  std::string id;
  int seq;
  std::string reason;
};

// Parses verify's stdout: "<id> <seq> <reason>: <detail>" per line.
inline std::vector<finding_line> findings(const std::string& out) {
  std::vector<finding_line> f;
  for (const auto& line : lines_of(out)) {
    const auto s1 = line.find(' ');
    const auto s2 = line.find(' ', s1 + 1);
    const auto colon = line.find(": ", s2 + 1);
    INFO(line);
    REQUIRE(s1 == 36);
    REQUIRE(s2 != std::string::npos);
    REQUIRE(colon != std::string::npos);
    f.push_back({line.substr(0, s1), std::stoi(line.substr(s1 + 1, s2 - s1 - 1)),
                 line.substr(s2 + 1, colon - s2 - 1)});
  }
  return f;
}

inline std::set<std::string> ids_of(const std::vector<finding_line>& f) {
  std::set<std::string> ids;
  for (const auto& x : f) ids.insert(x.id);
  return ids;
}

inline std::set<std::string> reasons_of(const std::vector<finding_line>& f) {
  std::set<std::string> r;
  for (const auto& x : f) r.insert(x.reason);
  return r;
}

// Verifies and expects failure naming exactly `ids`, each for `reason` only.
inline void expect_tampered(sandbox& box, const std::set<std::string>& ids,
                            const std::string& reason, const std::string& extra_args = "") {
  auto r = box.cli("verify --db ledger.db" + extra_args);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.code == 1);
  const auto f = findings(r.out);
  CHECK(ids_of(f) == ids);
  CHECK(reasons_of(f) == std::set<std::string>{reason});
  CHECK(r.err.find("FAILED") != std::string::npos);
}

inline void expect_refused(sandbox& box, const std::string& input,
                           const std::string& expected_message,
                           const std::string& args = ledger_args) {
  const std::size_t before = export_count(box);
  auto r = box.cli("append " + args, input);
  INFO("input: " << input << "stderr: " << r.err);
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.find(expected_message) != std::string::npos);
  CHECK(export_count(box) == before);
}

inline bool is_hex(const std::string& s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace cli_test
