#pragma once
// logline-cli get and tail: one span, or the feed, read as the operator.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

// ---- get, tail, import -----------------------------------------------------------------------

void print_span(const span& s) {
  std::string line = logline::span_to_json_text(s);
  line += '\n';
  out(line);
}

int run_get(const arguments& a) {
  auto id = logline::uuid::parse(a.required("id"));
  if (!id) throw cli_error("--id: " + id.error().message(), true);
  std::optional<std::int32_t> seq;
  if (a.has("seq"))
    seq = static_cast<std::int32_t>(parse_count(a.required("seq"), "seq", 0, INT32_MAX));
  auto t = open_target(a, true);
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    if (a.has("history")) {
      auto rows = ledger.as_operator().history(*id);
      if (!rows) throw cli_error(rows.error().message());
      if (rows->empty()) throw cli_error("span " + id->to_string() + " not found");
      for (const auto& s : *rows) print_span(s);
    } else {
      auto r = seq ? ledger.as_operator().get(*id, *seq) : ledger.as_operator().get(*id);
      if (!r) throw cli_error(r.error().message());
      print_span(*r);
    }
    return finish_stdout(exit_ok);
  });
}

int run_tail(const arguments& a) {
  std::string cursor = a.get("after").value_or("");
  const bool follow = a.has("follow");
  const std::optional<std::string> type = a.get("entity-type");
  const bool cursors = a.has("cursors");
  auto t = open_target(a, true, false, follow);
  std::unique_ptr<logline::postgres::listener> listener;
  if (follow && t.postgres) {
    auto l = logline::postgres::listener::open(t.url);
    if (!l) throw cli_error(l.error().message());
    listener = std::move(*l);
  }
  return with_ledger(t, reader_identity, std::nullopt, [&](auto& ledger) {
    for (;;) {
      auto batch = ledger.as_operator().changes(cursor, 500);
      if (!batch) throw cli_error(batch.error().message());
      for (const auto& c : *batch) {
        cursor = c.cursor;
        if (type && c.span.entity_type != *type) continue;
        if (cursors) out(c.cursor + "\t");
        print_span(c.span);
      }
      if (std::fflush(stdout) != 0 || std::ferror(stdout)) return finish_stdout(exit_ok);
      if (batch->size() == 500) continue;
      if (!follow) return finish_stdout(exit_ok);
      // Other processes' commits: LISTEN on PostgreSQL, a short poll on SQLite.
      if (listener)
        (void)listener->wait(std::chrono::seconds(1));
      else
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  });
}

}  // namespace
