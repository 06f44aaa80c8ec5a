// libFuzzer target for logline/runtime/law.hpp: parse must never crash, hang or overflow the
// stack; a refusal is invalid_argument or too_large with a "law:LINE:COLUMN: " message in clean
// UTF-8; a law that parses evaluates against a fixed variable object to a well-formed decision
// (one of the three triages; defaults exactly when no branch fired; the fired branch's actions),
// and its decision composes and keys deterministically.
//
//   clang++-14 -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude tests/fuzz/law_fuzz.cpp -o /tmp/law_fuzz
//   cp -r tests/fuzz/corpus/law /tmp/law_corpus && /tmp/law_fuzz -max_total_time=60 /tmp/law_corpus
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "logline/runtime/law.hpp"

namespace laws = logline::runtime::laws;

namespace {

[[noreturn]] void fail(const char* what, std::string_view text, std::string_view detail = {}) {
  std::fprintf(stderr, "law_fuzz: %s\n  text:   %.*s\n  detail: %.*s\n", what,
               static_cast<int>(text.size()), text.data(), static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

// "law:" digits ":" digits ": " and something after it.
bool located(std::string_view m) {
  if (!m.starts_with("law:")) return false;
  std::size_t i = 4;
  for (int field = 0; field < 2; ++field) {  // line, column: from 1, no leading zeros
    if (i >= m.size() || m[i] < '1' || m[i] > '9') return false;
    while (i < m.size() && m[i] >= '0' && m[i] <= '9') ++i;
    if (i == m.size() || m[i] != ':') return false;
    ++i;
  }
  return i + 1 < m.size() && m[i] == ' ';
}

const logline::json& variables() {
  static const logline::json vars = {{"amount", 1200},
                                     {"status", "open"},
                                     {"verified", false},
                                     {"country", "FR"},
                                     {"ratio", 0.5},
                                     {"flag", true},
                                     {"none", nullptr},
                                     {"list", {1, 2}},
                                     {"metadata", {{"amount", -3}, {"tags", {{"a", "b"}}}}}};
  return vars;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = laws::parse(text);
  if (!parsed) {
    if (!(parsed.error() == logline::errc::invalid_argument) &&
        !(parsed.error() == logline::errc::too_large))
      fail("refusal with an unexpected code", text, parsed.error().message());
    const std::string message = parsed.error().message();
    if (!located(message)) fail("refusal message without law:LINE:COLUMN: ", text, message);
    if (!logline::is_valid_utf8(message) || message.find('\0') != std::string::npos)
      fail("refusal message is not clean UTF-8", text, message);
    return 0;
  }
  const laws::law& l = *parsed;
  if (l.hash != logline::blake3_hex(text)) fail("hash is not the text's BLAKE3", text);
  if (l.id.empty() || l.version.empty() || l.scope.empty() || l.clock.empty())
    fail("empty header field", text);

  const laws::decision d = laws::evaluate(l, variables());
  if (d.triage != laws::triage::ok && d.triage != laws::triage::doubt &&
      d.triage != laws::triage::not_)
    fail("triage out of range", text);
  if (d.branch) {
    if (*d.branch != d.triage || !d.error.empty())
      fail("a fired branch with another triage or an error", text, d.error);
    const auto& b = l.branches[static_cast<std::size_t>(*d.branch)];
    if (!b || b->actions != d.actions) fail("fired branch's actions differ", text);
  } else {
    if (d.triage != laws::triage::doubt || d.actions != laws::default_obligations())
      fail("no branch but not the defaults", text);
    if (!d.error.empty() && !located(d.error))
      fail("evaluation error without law:LINE:COLUMN: ", text, d.error);
  }
  if (!(laws::evaluate(*laws::parse(text), variables()) == d))
    fail("evaluation is not deterministic", text);

  // Composition is idempotent and keys are stable.
  const std::vector<laws::decision> once{d}, twice{d, d};
  const laws::decision c = laws::compose(once);
  if (!(laws::compose(twice) == c) || c.triage != d.triage) fail("compose is not idempotent", text);
  const auto record = laws::decision_record(l, d, "subject#1", "2025-06-01");
  if (!record) fail("decision_record failed", text, record.error().message());
  if (auto checked = logline::check_json(*record); !checked)
    fail("decision record is not I-JSON", text, checked.error().message());
  if ((*record)["idempotency_key"] != laws::idempotency_key(l.hash, "subject#1", "2025-06-01", d))
    fail("idempotency key is not stable", text);
  return 0;
}
