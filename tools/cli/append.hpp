#pragma once
// logline-cli append: NDJSON spans from stdin, checked, then appended all or nothing.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

// ---- append ------------------------------------------------------------------------------------

struct input_span {
  std::size_t line;  // 1-based line number in stdin
  span value;
  bool has_seq;  // the line named "seq"
};

// Parses one NDJSON line into a span and checks what can be checked without the database.
logline::result<input_span> parse_line(std::string_view text, std::size_t line,
                                       const logline::identity& who) {
  using schema = logline::schema<span>;
  LOGLINE_TRY(doc, logline::parse_json(text));
  // Read as the HTTP API reads a posted span (span_input.hpp: no field the ledger sets, known
  // keys and types, entity_type and this present, `who` the writer's user id or absent), so
  // both refuse the same input with the same words.
  logline::field_set<span> present{};
  LOGLINE_TRY(parsed, logline::span_from_input(doc, "", who, &present));
  input_span in{line, std::move(parsed), present[schema::index_of("seq")]};
  if (in.value.seq < 0)
    return logline::make_error(logline::errc::invalid_span, "field 'seq' must be >= 0");
  if (in.has_seq && in.value.id.is_nil() && in.value.seq != 0)
    return logline::make_error(
        logline::errc::version_conflict,
        "a new span (no id) must have seq 0, not " + std::to_string(in.value.seq));
  // Tenancy as the ledger will apply it: missing owner/tenant default to the writer's.
  span effective = in.value;
  if (!effective.owner_id) effective.owner_id = who.user_id;
  if (!effective.tenant_id) effective.tenant_id = who.tenant_id;
  if (!logline::may_write(who, effective))
    return logline::make_error(
        logline::errc::permission_denied,
        "user '" + who.user_id + "' (" +
            (who.tenant_id ? "tenant '" + *who.tenant_id + "'" : std::string("no tenant")) +
            ") may not write a span owned by '" + effective.owner_id.value_or("") + "' (" +
            (effective.tenant_id ? "tenant '" + *effective.tenant_id + "'"
                                 : std::string("no tenant")) +
            "): a user writes the spans it owns, in its own tenant");
  // Values (UTF-8, ranges, JSON rules); `at` is the ledger's, so stand in for it here.
  effective.at = logline::timestamp::now();
  LOGLINE_TRY_VOID(logline::validate_span(effective));
  return in;
}

void report_bad_lines(const std::vector<std::string>& problems) {
  constexpr std::size_t shown = 20;
  for (std::size_t i = 0; i < problems.size() && i < shown; ++i)
    err("logline-cli: " + problems[i] + "\n");
  if (problems.size() > shown)
    err("logline-cli: ... and " + std::to_string(problems.size() - shown) + " more\n");
  err("logline-cli: nothing was written\n");
}

std::string line_problem(std::size_t line, const std::string& message) {
  return "line " + std::to_string(line) + ": " + one_line(message);
}

// append_batch prefixes its errors with "span #<index> of the batch: "; name the input line instead.
std::string batch_problem(const std::vector<std::size_t>& lines, const std::string& message) {
  static constexpr std::string_view prefix = "span #";
  static constexpr std::string_view middle = " of the batch: ";
  if (message.rfind(prefix, 0) == 0) {
    std::size_t index = 0;
    const char* begin = message.data() + prefix.size();
    auto [end, ec] = std::from_chars(begin, message.data() + message.size(), index);
    if (ec == std::errc() && index < lines.size() &&
        std::string_view(end, static_cast<std::size_t>(message.data() + message.size() - end))
                .rfind(middle, 0) == 0)
      return line_problem(lines[index], std::string(end + middle.size()));
  }
  return one_line(message);
}

int run_append(const arguments& a) {
  (void)on_postgres(a);  // before stdin is read
  logline::identity who{a.required("user"), std::nullopt};
  if (a.has("tenant")) who.tenant_id = a.required("tenant");
  auto key = load_key(a);

  // 1. Read and check every line before touching the database.
  std::vector<input_span> inputs;
  std::vector<std::string> problems;
  std::string text;
  for (std::size_t line = 1; std::getline(std::cin, text); ++line) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto in = parse_line(text, line, who);
    if (!in)
      problems.push_back(line_problem(line, in.error().message()));
    else
      inputs.push_back(std::move(*in));
  }
  if (std::cin.bad()) throw cli_error("cannot read stdin");
  if (!problems.empty()) {
    report_bad_lines(problems);
    return exit_error;
  }

  // 2. Versions: a line without "seq" is the next version of its id (or a new entity); a line
  //    with "seq" must be exactly that next version. Both are decided inside the one write
  //    transaction, counting earlier lines of this input.
  auto t = open_target(a, false);
  return with_ledger(t, who, std::move(key), [&](auto& ledger) {
    // 3. One transaction: all lines or none. The spans move into the batch (one copy of the
    //    input in memory, not two); the line numbers stay for the error message.
    std::vector<span> batch;
    std::vector<bool> take_next_version;
    std::vector<std::size_t> lines;
    batch.reserve(inputs.size());
    take_next_version.reserve(inputs.size());
    lines.reserve(inputs.size());
    for (auto& in : inputs) {
      take_next_version.push_back(!in.has_seq && !in.value.id.is_nil());
      lines.push_back(in.line);
      batch.push_back(std::move(in.value));
    }
    std::vector<input_span>().swap(inputs);
    auto stored = ledger.append_batch(std::move(batch), std::move(take_next_version));
    if (!stored) {
      report_bad_lines({stored.error() == logline::errc::busy
                            ? write_failure(stored.error(), t.wait)
                            : batch_problem(lines, stored.error().message())});
      return exit_error;
    }
    if (a.has("quiet")) return finish_stdout(exit_ok);
    std::string line;
    for (const auto& s : *stored) {
      line = logline::span_to_json_text(s);
      line += '\n';
      out(line);
    }
    return finish_stdout(exit_ok);
  });
}

}  // namespace
