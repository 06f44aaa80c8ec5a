#pragma once
// Programs of the project run as real processes by the tests: a shell command and its output,
// a logline-server child on a free port, and a scratch directory with the CLI at hand.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/catch.hpp"

namespace process_test {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// A shell command's exit status (-1 if it did not exit) and its standard output.
struct ran {
  int code = -1;
  std::string out;
};
inline ran run(const std::string& command) {
  std::array<char, 4096> buf{};
  ran r;
  FILE* p = popen(command.c_str(), "r");
  REQUIRE(p);
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p)) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
// Its standard output; the command must succeed.
inline std::string sh(const std::string& command) {
  auto r = run(command);
  INFO(command << "\n" << r.out);
  REQUIRE(r.code == 0);
  return r.out;
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Single-quotes a word for /bin/sh.
inline std::string sh_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'')
      q += "'\\''";
    else
      q += c;
  }
  return q + "'";
}

// Starts `args` (the program first) as a child process whose stdout and stderr go to the files
// `out` and `err` (opened with fopen's `mode`: "w" or "a"); its pid.
inline pid_t spawn(std::vector<std::string> args, const fs::path& out, const fs::path& err,
                   const char* mode) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::freopen(out.c_str(), mode, stdout);
    std::freopen(err.c_str(), mode, stderr);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

// A logline-server child process; its stdout and stderr go to files in `dir`.
struct server_process {
  pid_t pid = -1;
  int port = 0;
  fs::path dir;
  server_process(const fs::path& d, std::vector<std::string> args) : dir(d) {
    args.insert(args.begin(), LOGLINE_SERVER_PATH);
    if (std::find(args.begin(), args.end(), "--port") ==
        args.end()) {  // a free port unless one is given
      args.push_back("--port");
      args.push_back("0");
    }
    std::error_code ec;
    fs::remove(dir / "server.out", ec);  // not an earlier server's address
    pid = spawn(std::move(args), dir / "server.out", dir / "server.err", "w");
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = slurp(dir / "server.out");
      if (auto at = out.find("listening on "); at != std::string::npos) {
        const auto colon = out.find(':', out.find("//", at) + 2);
        port = std::atoi(out.c_str() + colon + 1);
        if (port > 0) return;
      }
      std::this_thread::sleep_for(20ms);
    }
    FAIL("logline-server did not start: " << slurp(dir / "server.err"));
  }
  // Sends SIGTERM; returns the exit status (or -1 if it does not end within 15 s).
  int terminate() {
    if (pid <= 0) return -1;
    kill(pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + 15s;
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      }
      std::this_thread::sleep_for(20ms);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    pid = -1;
    return -1;
  }
  // SIGKILL, as a crash: nothing is flushed, no stream is ended.
  void kill9() {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    pid = -1;
  }
  ~server_process() { terminate(); }
};

struct sandbox {
  fs::path dir;
  sandbox() {
    std::string t = (fs::current_path() / "server-test-XXXXXX").string();
    REQUIRE(mkdtemp(t.data()));
    dir = t;
  }
  ~sandbox() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string cli(const std::string& args) {
    return sh(std::string(LOGLINE_CLI_PATH) + " " + args + " 2>&1");
  }
  // The CLI's exit status and output (stdout and stderr), whatever it is.
  ran try_cli(const std::string& args) {
    return run(std::string(LOGLINE_CLI_PATH) + " " + args + " 2>&1");
  }
};

}  // namespace process_test
