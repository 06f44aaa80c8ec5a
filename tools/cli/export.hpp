#pragma once
// logline-cli export: every span as NDJSON in commit order, of any span type.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

// ---- export ------------------------------------------------------------------------------------

// What get and tail check of every span they read (the ledger's check_read): sealed, and its
// content still hashes to its curr_hash; in the same words. ledger::export_all hands rows out
// unchecked, so export checks them here. Signatures are verify's to check (its job, and ~50 us
// each).
logline::result<void> check_exported(const span& s) {
  const std::string which = "span " + s.id.to_string() + " version " + std::to_string(s.seq);
  auto unsealed = [&](const char* what) {
    return logline::make_error(logline::errc::integrity_violation,
                               which + " has no " + what + ": every span of this ledger is sealed");
  };
  if (!s.curr_hash) return unsealed("curr_hash");
  if (!s.signature || !s.public_key) return unsealed("signature");
  if (!s.chain_position) return unsealed("chain_position");
  if (auto valid = logline::validate_span(s); !valid)
    return logline::make_error(
        logline::errc::integrity_violation,
        which + " holds a value that cannot be canonicalized: " + valid.error().message());
  if (logline::span_hash(s) != *s.curr_hash)
    return logline::make_error(logline::errc::integrity_violation,
                               which + " does not match its curr_hash");
  return {};
}

// The spans of a recorded table (another span type), in commit order, in the export form, each
// checked as check_exported checks a universal span: sealed as its table says, and hashing to
// its curr_hash.
int export_recorded(logline::sqlite::database& db, const logline::sqlite::recorded_table& table,
                    std::optional<logline::timestamp> since, progress& bar) {
  auto cursor = logline::sqlite::recorded_cursor::open(db, table, false);
  if (!cursor) throw cli_error("export: " + cursor.error().message());
  logline::verify_profile hash_only = table.profile;
  hash_only.signed_ = false;  // signatures are verify's (see check_exported)
  const std::size_t at = table.layout.index_of("at");
  logline::verify_row row;
  logline::detail::row_check check;
  std::string line;
  std::uint64_t seen = 0;
  for (;;) {
    auto more = cursor->step(1);
    if (!more) throw cli_error("export stopped: " + more.error().message());
    if (!*more) break;
    bar.update(++seen);
    row.row_number = cursor->row_number();
    cursor->read_stored(row);
    logline::detail::check_row(row, hash_only, {}, check);
    if (check.problems.empty() && table.profile.signed_ && (!row.signature || !row.public_key))
      check.problems.emplace_back(logline::problem::missing_signature,
                                  "signature or public_key is null");
    if (!check.problems.empty()) {
      std::fflush(stdout);
      throw cli_error("export stopped: span " + row.id.to_string() + " version " +
                      std::to_string(row.seq) + ": " + one_line(check.problems.front().second) +
                      " (nothing after it was written; verify lists every problem)");
    }
    if (since && at < table.layout.names.size()) {
      // Filtered on the stored text of `at` (what the export form would show), before the line
      // is written.
      if (auto text = cursor->text(at))
        if (auto ts = logline::timestamp::parse(*text); ts && *ts < *since) continue;
    }
    line.clear();
    cursor->write_json(line);
    line += '\n';
    out(line);
    if (std::ferror(stdout))
      throw cli_error(std::string("cannot write to stdout: ") + std::strerror(errno));
  }
  return finish_stdout(exit_ok);
}

// Stops at the first span that fails check_exported, as get and tail do, after the spans before
// it: a reader never hands out a span it cannot vouch for, and an export is a copy to import
// elsewhere (import refuses a damaged one anyway). verify lists every damaged span.
int run_export(const arguments& a) {
  std::optional<logline::timestamp> since;
  if (a.has("since")) {
    auto ts = logline::timestamp::parse(a.required("since"));
    if (!ts)
      throw cli_error("--since: " + ts.error().message() + " (use YYYY-MM-DDTHH:MM:SS.mmmZ)", true);
    since = *ts;
  }
  auto t = open_target(a, true, true);
  progress bar("export", span_count(t));
  std::uint64_t seen = 0;
  if (t.recorded) return export_recorded(*t.sqlite, *t.recorded, since, bar);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    std::string line;
    auto r = ledger.export_all([&](const span& s) -> logline::result<void> {
      bar.update(++seen);
      LOGLINE_TRY_VOID(
          check_exported(s));  // also before --since: `at` means something once the hash holds
      if (since && s.at < *since) return {};
      line = logline::span_to_json_text(s);
      line += '\n';
      out(line);
      if (std::ferror(stdout))
        return logline::make_error(logline::errc::storage_error,
                                   std::string("cannot write to stdout: ") + std::strerror(errno));
      return {};
    });
    if (!r) {
      std::fflush(stdout);
      if (r.error() == logline::errc::integrity_violation)
        throw cli_error("export stopped: " + one_line(r.error().message()) +
                        " (nothing after it was written; verify lists every problem)");
      throw cli_error("export stopped: " + r.error().message());
    }
    return finish_stdout(exit_ok);
  });
}

}  // namespace
