#pragma once
// logline-cli verify and checkpoint: hashes, chain links and signatures of a ledger of any span
// type; the heads of its chains.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

// ---- verify ------------------------------------------------------------------------------------

// --trust takes a public key (64 hex) or a seed file whose public key is trusted.
logline::public_key trusted_key(const std::string& arg) {
  struct stat st {};
  if (::stat(arg.c_str(), &st) == 0) {
    auto k = logline_tools::read_key_file("logline-cli", arg, logline_tools::readable_key::warn);
    if (!k) throw cli_error("--trust: " + k.error().message());
    return k->public_key();
  }
  auto pk = logline::public_key::parse(arg);
  if (!pk)
    throw cli_error("--trust '" + one_line(arg) +
                        "' is neither a key file nor a public key: " + pk.error().message(),
                    true);
  return *pk;
}

// A checkpoint file (checkpoint's output), read whole; with trusted keys it must be signed by one.
logline::checkpoint read_checkpoint(const std::string& path,
                                    const std::vector<logline::public_key>& trusted) {
  constexpr std::size_t max_size = 256u << 20;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw cli_error("--checkpoint: cannot open '" + path + "': " + std::strerror(errno));
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0 && text.size() <= max_size)
    text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) throw cli_error("--checkpoint: cannot read '" + path + "'");
  if (text.size() > max_size)
    throw cli_error("--checkpoint: '" + path + "' is larger than 256 MiB");
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  auto c = logline::checkpoint::parse(text);
  if (!c) throw cli_error("--checkpoint '" + path + "': " + c.error().message());
  if (!trusted.empty() && (!c->public_key || std::find(trusted.begin(), trusted.end(),
                                                       *c->public_key) == trusted.end()))
    throw cli_error("--checkpoint '" + path + "' is not signed by a key given with --trust");
  return std::move(*c);
}

// Verifies the target's ledger: the universal registry through its ledger type, another span
// type from what its database records. kept: a checkpoint is being taken (findings go to stderr).
int verify_target(target& t, logline::verify_options& options, bool quiet, bool show_progress,
                  logline::verify_report* kept = nullptr);

int run_verify(const arguments& a) {
  logline::verify_options options;
  for (const auto& t : a.all("trust")) options.trusted_keys.push_back(trusted_key(t));
  if (a.has("threads")) options.threads = parse_count(a.required("threads"), "threads", 1, 1024);
  if (a.has("checkpoint"))
    options.expected_heads = read_checkpoint(a.required("checkpoint"), options.trusted_keys).heads;
  const bool quiet = a.has("quiet");
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO) == 1;

  auto t = open_target(a, true, true);
  return verify_target(t, options, quiet, show_progress);
}

// Verifies everything, then prints the heads of every chain as a checkpoint (signed with --key):
// only for a ledger that checks out, so a checkpoint never vouches for damage.
int run_checkpoint(const arguments& a) {
  std::optional<logline::ed25519::key> key;
  if (a.has("key") || a.has("key-env")) key = load_key(a);
  logline::verify_options options;
  if (a.has("threads")) options.threads = parse_count(a.required("threads"), "threads", 1, 1024);
  const bool quiet = a.has("quiet");
  const bool show_progress = !quiet && ::isatty(STDERR_FILENO) == 1;
  auto t = open_target(a, true, true);
  logline::verify_report report;
  const auto taken = logline::timestamp::now();
  const int code = verify_target(t, options, quiet, show_progress, &report);
  if (code != exit_ok) {
    err("checkpoint: not taken: the ledger does not verify (" + std::to_string(report.problems) +
        " problem" + (report.problems == 1 ? "" : "s") + ", listed above)\n");
    return code;
  }
  auto c = logline::checkpoint::of(report, taken);
  if (key) c.sign(*key);
  out(c.to_text() + "\n");
  if (!quiet)
    err("checkpoint: " + std::to_string(c.heads.size()) + " chain head" +
        (c.heads.size() == 1 ? "" : "s") + " of " + std::to_string(report.spans_checked) +
        " verified spans" + (key ? ", signed by " + key->public_key().to_string() : std::string()) +
        "\n");
  return finish_stdout(exit_ok);
}

int verify_target(target& t, logline::verify_options& options, bool quiet, bool show_progress,
                  logline::verify_report* kept) {
  // Findings stream out as they are found (nothing is kept in memory): on stdout, or on stderr
  // when stdout carries something else (a checkpoint).
  options.max_findings_kept = 0;
  const auto start = std::chrono::steady_clock::now();
  progress bar(kept ? "checkpoint" : "verify", span_count(t), quiet);
  options.on_finding = [&](const logline::finding& f) {
    bar.clear();
    const std::string line = f.id.to_string() + " " + std::to_string(f.seq) + " " +
                             std::string(logline::to_string(f.kind)) + ": " + one_line(f.detail) +
                             "\n";
    if (kept)
      err(line);
    else
      out(line);
    if (show_progress) std::fflush(stdout);
  };
  options.on_progress = [&](std::uint64_t checked) { bar.update(checked); };

  auto report = t.recorded ? logline::sqlite::verify_recorded(*t.sqlite, *t.recorded, options)
                           : with_ledger(t, reader_identity, std::nullopt,
                                         [&](auto& ledger) { return ledger.verify(options); });
  bar.clear();
  if (!report) throw cli_error("verification could not run: " + report.error().message());
  if (kept) *kept = *report;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string counts = std::to_string(report->spans_checked) + " spans in " +
                             std::to_string(report->chains) + " chain" +
                             (report->chains == 1 ? "" : "s");
  if (!report->ok()) {
    const int code = kept ? exit_verify_failed : finish_stdout(exit_verify_failed);
    err("verify: FAILED: " + std::to_string(report->problems) + " problem" +
        (report->problems == 1 ? "" : "s") + " in " + counts + "\n");
    return code;
  }
  if (!quiet && !kept) {
    char elapsed[32];
    std::snprintf(elapsed, sizeof elapsed, "%.2f", seconds);
    std::string checked = "hashes, links, signatures";
    if (t.recorded) {
      // What the table records is what was checked; say what that is.
      const auto& p = t.recorded->profile;
      checked =
          std::string(p.hashed ? "hashes" : "no hashes") + (p.chained ? ", links" : ", no chain") +
          (p.signed_ ? ", signatures" : ", no signatures") + " of table '" + t.recorded->name + "'";
    }
    err("verify: ok: " + counts + " check out (" + checked +
        (options.trusted_keys.empty() ? "" : ", trusted keys") +
        (options.expected_heads.empty()
             ? ""
             : ", the checkpoint's " + std::to_string(options.expected_heads.size()) +
                   " chain heads") +
        ") in " + elapsed + " s\n");
  }
  return kept ? exit_ok : finish_stdout(exit_ok);
}

}  // namespace
