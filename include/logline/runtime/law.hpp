#pragma once
// logline::runtime::laws: the Constitution's law grammar. Parses a law text, evaluates it against
// JSON variables, composes the decisions of several laws, and builds the `law.decision` record
// with its idempotency key. Pure functions; depends on the core headers only (no Lua, no tz).
// The full grammar and semantics, with examples: docs/laws.md.
//
//   auto law = laws::parse(R"(law payment_limit:1.2:
//     scope: payments
//     clock: Europe/Paris
//     if ok: amount <= 1000 and status == "open"
//       then: accept, tag(key="tier", val="small")
//     if not: amount > 50000
//       then: terminate(reason="over the hard limit"), append_ledger)").value();
//   laws::decision d = laws::evaluate(law, json{{"amount", 12}, {"status", "open"}});
//   // d.triage == laws::triage::ok, d.branch == laws::triage::ok, d.actions == {accept, tag(...)}
//   json record = laws::decision_record(law, d, laws::subject_key(span_id, seq), "2025-06-01").value();
//
// parse(text) -> result<law>. Refusals read "law:LINE:COLUMN: what was expected, what was found"
// (lines and columns from 1, columns in code points): errc::invalid_argument for a syntax error,
// errc::too_large for a text over max_text_bytes or expressions nested deeper than max_depth
// (parentheses and `not`). The text must be UTF-8 without NUL. Parsing is linear in the text and
// recurses at most max_depth levels, so any input is safe to hand it.
//
// evaluate(law, variables) -> decision. Branches are tried ok -> doubt -> not; the first whose
// condition is true gives the triage and its actions. No true branch, variables that are not a
// JSON object, or an evaluation error (a number, string, array or object where a condition needs
// true or false) give triage doubt with default_obligations() (hold 24 h, notify "ops",
// append_ledger), no branch, and the error's message. Paths (metadata.amount) look into nested
// objects; anything unset is null, and null as a condition is false (so `not verified` holds when
// verified is unset). `==` is false between different JSON types (null == null only), numbers
// compare by value (1 == 1.0), `!=` is exactly `not ==`; `<` `<=` `>` `>=` hold only between two
// numbers or two strings (byte order), and are false otherwise. and/or short-circuit.
//
// compose(decisions) -> decision. Triage: the worst (not > doubt > ok). One verdict: terminate
// (reasons joined with "; ") if any decision terminates, else accept if any accepts, else hold
// with the largest hours if any holds, else none: a decision with only notify/tag/append_ledger
// takes no side and adds only its obligations. Then every distinct notify, every distinct tag,
// and append_ledger once and last if any asked for it; the distinct errors joined with "; ". No
// decisions: doubt with the defaults.
//
// decision_record(law, decision, subject, boundary) -> the content of a `law.decision` span;
// idempotency_key(law hash, subject, boundary, decision) -> 64 hex BLAKE3 characters, equal for
// equal inputs and different when any of them differs. The subject is a caller-chosen key
// (subject_key(span id, seq) for a span version), the boundary the evaluation time or window the
// caller decided for (e.g. "2025-06-01" for a daily ruler): re-deciding the same subject for the
// same boundary with the same law and outcome gives the same key, which the kernel uses to refuse
// duplicates.
#include <algorithm>
#include <array>
#include <charconv>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "logline/blake3.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/detail/law_evaluator.hpp"
#include "logline/runtime/detail/law_parser.hpp"
#include "logline/runtime/law_model.hpp"

namespace logline::runtime::laws {

// Parses a law text; see the top of this file and docs/laws.md.
inline result<law> parse(std::string_view text) {
  if (text.size() > max_text_bytes)
    return make_error(errc::too_large, "law:1:1: the text is " + std::to_string(text.size()) +
                                           " bytes, over the limit of " +
                                           std::to_string(max_text_bytes));
  std::size_t bad = logline::detail::first_invalid_utf8(text);
  const std::size_t nul = text.find('\0');
  if (nul < bad) bad = nul;
  if (bad != logline::detail::utf8_ok) {
    const std::string_view before = text.substr(0, bad);
    const std::size_t line_start = before.rfind('\n') + 1;  // npos + 1 == 0
    std::uint32_t column = 1;
    for (std::size_t i = line_start; i < bad; ++i)
      column += (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    const auto line =
        static_cast<std::uint32_t>(std::count(before.begin(), before.end(), '\n') + 1);
    return detail::fail(
        errc::invalid_argument, line, column,
        bad == nul ? "a NUL character"
                   : "invalid UTF-8 (" +
                         std::string(logline::detail::describe_invalid_utf8(text, bad)) + ")");
  }
  auto parsed = detail::parser(text).run();
  if (parsed) parsed->hash = blake3_hex(text);
  return parsed;
}

// Evaluates a law against an object of variables; see the top of this file.
inline decision evaluate(const law& l, const json& variables) {
  if (!variables.is_object()) return detail::defaults("law: the variables are not a JSON object");
  const detail::evaluator eval(l, variables);
  for (const triage t : {triage::ok, triage::doubt, triage::not_}) {
    const auto& b = l.branches[static_cast<std::size_t>(t)];
    if (!b) continue;
    auto fired = eval.truth(b->condition);
    if (!fired) return detail::defaults(fired.error().message());
    if (*fired) return {.triage = t, .actions = b->actions, .branch = t, .error = {}};
  }
  return detail::defaults();
}

// Composes the decisions of several laws into one; see the top of this file.
inline decision compose(std::span<const decision> decisions) {
  if (decisions.empty()) return detail::defaults();
  decision out{.triage = triage::ok, .actions = {}, .branch = std::nullopt, .error = {}};
  std::vector<std::string> reasons, errors;  // distinct, first seen first
  bool accepted = false, ledger = false;
  std::optional<std::int64_t> hold_hours;
  std::vector<action> obligations;  // notify and tag, first seen first
  for (const decision& d : decisions) {
    out.triage = std::max(out.triage, d.triage);
    if (!d.error.empty()) detail::add_distinct(errors, d.error);
    for (const action& a : d.actions) {
      switch (a.kind) {
        case action_kind::terminate:
          detail::add_distinct(reasons, a.reason);
          break;
        case action_kind::accept:
          accepted = true;
          break;
        case action_kind::hold:
          hold_hours = std::max(hold_hours.value_or(a.hours), a.hours);
          break;
        case action_kind::append_ledger:
          ledger = true;
          break;
        case action_kind::notify:
        case action_kind::tag:
          detail::add_distinct(obligations, a);
          break;
      }
    }
  }
  out.error = detail::join(errors);
  if (!reasons.empty()) {
    out.actions.push_back(terminate(detail::join(reasons)));
  } else if (accepted) {
    out.actions.push_back(accept());
  } else if (hold_hours) {
    out.actions.push_back(hold(*hold_hours));
  }
  std::stable_partition(obligations.begin(), obligations.end(),
                        [](const action& a) { return a.kind == action_kind::notify; });
  out.actions.insert(out.actions.end(), obligations.begin(), obligations.end());
  if (ledger) out.actions.push_back(append_ledger());
  return out;
}

// {"triage": "doubt", "branch": null, "obligations": [...], "error": "law:4:9: ..." or null}
inline json to_json(const decision& d) {
  json obligations = json::array();
  for (const action& a : d.actions) obligations.push_back(to_json(a));
  return {{"triage", to_string(d.triage)},
          {"branch", d.branch ? json(to_string(*d.branch)) : json(nullptr)},
          {"obligations", std::move(obligations)},
          {"error", d.error.empty() ? json(nullptr) : json(d.error)}};
}

// "<span id>#<seq>": the subject key of one version of a span.
inline std::string subject_key(std::string_view span_id, std::int64_t seq) {
  return std::string(span_id) + "#" + std::to_string(seq);
}

// blake3_hex over the length-framed law hash, subject, boundary and canonical decision.
inline std::string idempotency_key(std::string_view law_hash, std::string_view subject,
                                   std::string_view boundary, const decision& d) {
  std::string input = "logline.law.decision/1\n";
  for (std::string_view field : {law_hash, subject, boundary}) detail::frame(input, field);
  detail::frame(input, canonical(to_json(d)));
  return blake3_hex(input);
}

// The content of a `law.decision` span:
//   {"law": {"id", "version", "hash", "scope", "clock"}, "subject", "boundary",
//    "triage", "branch", "obligations", "error", "idempotency_key"}
// subject and boundary must be non-empty UTF-8 without NUL (errc::invalid_argument otherwise).
inline result<json> decision_record(const law& l, const decision& d, std::string_view subject,
                                    std::string_view boundary) {
  for (auto [what, s] : {std::pair{"subject", subject}, std::pair{"boundary", boundary}})
    if (s.empty() || !is_valid_utf8(s) || s.find('\0') != std::string_view::npos)
      return make_error(errc::invalid_argument, std::string("law decision: the ") + what +
                                                    " must be non-empty UTF-8 text without NUL");
  json record = to_json(d);
  record["law"] = {{"id", l.id},
                   {"version", l.version},
                   {"hash", l.hash},
                   {"scope", l.scope},
                   {"clock", l.clock}};
  record["subject"] = subject;
  record["boundary"] = boundary;
  record["idempotency_key"] = idempotency_key(l.hash, subject, boundary, d);
  return record;
}

}  // namespace logline::runtime::laws
