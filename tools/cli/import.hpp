#pragma once
// logline-cli import: an export read back into an empty ledger, hashes and signatures checked.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"
#include "read.hpp"

namespace {

int run_import(const arguments& a) {
  std::vector<span> spans;
  std::vector<std::string> problems;
  std::string text;
  for (std::size_t line = 1; std::getline(std::cin, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto s = logline::span_from_json_text<span>(text);
    if (!s)
      problems.push_back(line_problem(line, s.error().message()));
    else
      spans.push_back(std::move(*s));
  }
  if (std::cin.bad()) throw cli_error("cannot read stdin");
  if (!problems.empty()) {
    report_bad_lines(problems);
    return exit_error;
  }
  auto t = open_target(a, false);
  const bool quiet = a.has("quiet");
  progress bar("import: checking", spans.size(), quiet);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    // Checked in full (hashes, signatures, in parallel; then versions, chain links) before
    // anything is written; written in one transaction.
    const std::size_t n = spans.size();
    const auto start = std::chrono::steady_clock::now();
    auto stored = ledger.import_batch(std::move(spans), [&](std::size_t checked) {
      bar.update(checked);
      if (checked == n && !quiet && ::isatty(STDERR_FILENO) == 1) {
        bar.clear();
        err("import: " + std::to_string(n) +
            " spans check out; writing them in one transaction...");
      }
    });
    if (!quiet && ::isatty(STDERR_FILENO) == 1) err("\r\033[K");
    bar.clear();
    if (!stored) {
      err("logline-cli import: nothing imported: " + write_failure(stored.error(), t.wait) + "\n");
      return exit_error;
    }
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.2f",
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    if (!quiet) err("import: " + std::to_string(n) + " spans imported in " + elapsed + " s\n");
    return finish_stdout(exit_ok);
  });
}

}  // namespace
