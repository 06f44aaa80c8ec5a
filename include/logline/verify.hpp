#pragma once
// Verification (DESIGN §4.4): walks stored spans chain by chain, in position order, and reports
// every bad span with its reason. Memory stays constant (rows are read in batches); hashing and
// signature checks run on several threads while the next batch is read.
//
// Attribution: a broken link is reported only between two spans whose own hash and signature
// check out. A span whose content was altered is reported as a hash mismatch, and the link from
// its successor (which then no longer matches) is not reported again: each finding names the
// span that was changed, not its innocent neighbours.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/detail/parallel.hpp"
#include "logline/ed25519.hpp"
#include "logline/schema.hpp"

namespace logline {

enum class problem {
  hash_mismatch,      // recomputed BLAKE3 differs from the stored curr_hash (content changed)
  missing_hash,       // no curr_hash stored
  bad_signature,      // signature does not verify against public_key and curr_hash
  missing_signature,  // a signed ledger's span without signature or public_key
  unknown_key,        // signed by a key that is not among the trusted keys
  broken_link,        // prev_hash differs from the curr_hash of the previous span of the chain
  gap,                // positions missing before this span (a span was removed)
  fork,               // another span holds the same chain position
  missing_position,   // a chained ledger's span without chain_position
  unreadable,         // the stored row cannot be decoded
};

constexpr std::string_view to_string(problem p) noexcept {
  switch (p) {
    case problem::hash_mismatch: return "hash mismatch";
    case problem::missing_hash: return "missing hash";
    case problem::bad_signature: return "bad signature";
    case problem::missing_signature: return "missing signature";
    case problem::unknown_key: return "unknown key";
    case problem::broken_link: return "broken link";
    case problem::gap: return "gap";
    case problem::fork: return "fork";
    case problem::missing_position: return "missing position";
    case problem::unreadable: return "unreadable";
  }
  return "unknown";
}

struct finding {
  problem kind;
  uuid id;
  std::int32_t seq = 0;
  std::string chain;                    // "tenant:<id>", "tenant:null" or "global"
  std::optional<std::int64_t> position;
  std::string detail;
};

struct verify_options {
  unsigned threads = detail::default_threads();        // including the calling thread
  std::vector<public_key> trusted_keys;                // empty: any key is accepted
  std::size_t batch_rows = 1024;
  std::size_t max_findings_kept = 100000;              // findings beyond are counted, not kept
  std::function<void(const finding&)> on_finding;      // streaming report
  std::function<void(std::uint64_t spans_checked)> on_progress;
};

struct verify_report {
  std::uint64_t spans_checked = 0;
  std::uint64_t chains = 0;
  std::uint64_t problems = 0;  // all findings, kept or not
  std::vector<finding> findings;
  bool ok() const noexcept { return problems == 0; }
};

// What the verifier must check for a span type under a policy set.
struct verify_profile {
  bool hashed = false;
  bool chained = false;
  bool signed_ = false;
};

// Whether a span is what it says, from the span alone: its content hashes to its curr_hash, and
// its signature verifies with its public_key over that hash (false where a column is missing).
struct authenticity {
  bool hash_ok = false;
  bool signature_ok = false;
};
template <class Span>
authenticity authenticity_of(const Span& s) {
  authenticity a;
  if constexpr (requires { s.curr_hash; }) {
    if (!s.curr_hash) return a;
    a.hash_ok = span_hash(s) == *s.curr_hash;
    if constexpr (requires { s.signature; s.public_key; })
      a.signature_ok = s.signature && s.public_key && ed25519::verify(*s.signature, *s.curr_hash, *s.public_key);
  }
  return a;
}

namespace detail {

struct row_check {
  bool authentic = true;  // own hash (and signature, if signed) check out
  std::vector<std::pair<problem, std::string>> problems;
};

inline void check_row(const verify_row& row, const verify_profile& profile, const std::vector<public_key>& trusted, row_check& out) {
  out.authentic = true;
  out.problems.clear();
  if (!row.unreadable.empty()) {
    out.authentic = false;
    out.problems.emplace_back(problem::unreadable, row.unreadable);
    return;
  }
  if (profile.hashed) {
    if (!row.curr_hash) {
      out.authentic = false;
      out.problems.emplace_back(problem::missing_hash, "curr_hash is null");
    } else {
      digest recomputed;
      recomputed.bytes = blake3(row.canonical);
      if (recomputed != *row.curr_hash) {
        out.authentic = false;
        out.problems.emplace_back(problem::hash_mismatch,
                                  "stored curr_hash " + row.curr_hash->to_string() + ", content hashes to " + recomputed.to_string());
      }
    }
  }
  if (profile.signed_) {
    if (!row.signature || !row.public_key || !row.curr_hash) {
      out.authentic = false;
      out.problems.emplace_back(problem::missing_signature, "signature or public_key is null");
    } else if (!ed25519::verify(*row.signature, *row.curr_hash, *row.public_key)) {
      out.authentic = false;
      out.problems.emplace_back(problem::bad_signature, "signature does not verify with public_key " + row.public_key->to_string());
    } else if (!trusted.empty() && std::find(trusted.begin(), trusted.end(), *row.public_key) == trusted.end()) {
      out.authentic = false;
      out.problems.emplace_back(problem::unknown_key, "public_key " + row.public_key->to_string() + " is not trusted");
    }
  }
}

}  // namespace detail

// Verifies the rows a source yields. Source: `result<bool> next_batch(std::vector<verify_row>& rows, std::size_t max)`
// sets rows to the next (up to max) rows ordered by (chain, position), reusing their storage, and
// returns false once nothing is left.
template <class Source>
result<verify_report> verify_rows(Source& source, const verify_profile& profile, const verify_options& options) {
  verify_report report;
  auto emit = [&](finding f) {
    ++report.problems;
    if (options.on_finding) options.on_finding(f);
    if (report.findings.size() < options.max_findings_kept) report.findings.push_back(std::move(f));
  };

  detail::work_pool pool(std::max(1u, options.threads) - 1);
  const std::size_t batch_rows = std::max<std::size_t>(1, options.batch_rows);
  std::vector<verify_row> current, next;
  std::vector<detail::row_check> checks;

  // Chain state carried across batches.
  std::string chain;
  bool in_chain = false;
  std::int64_t expected = 0;
  bool have_prev = false;
  std::int64_t prev_position = -1;
  std::optional<digest> prev_hash_stored;
  bool prev_authentic = true;

  auto finalize = [&](const verify_row& row, const detail::row_check& check) {
    const bool decoded = row.unreadable.empty();
    const std::optional<std::int64_t> position = profile.chained ? row.position : std::nullopt;
    auto make = [&](problem p, std::string d) { return finding{p, row.id, row.seq, row.chain, position, std::move(d)}; };
    for (const auto& [p, d] : check.problems) emit(make(p, d));
    if (!in_chain || row.chain != chain) {
      chain = row.chain;
      in_chain = true;
      ++report.chains;
      expected = 0;
      have_prev = false;
      prev_authentic = true;
    }
    if (!profile.chained) return;
    if (!row.position) {
      emit(make(problem::missing_position, "chain_position is null"));
      return;
    }
    const std::int64_t pos = *row.position;
    if (have_prev && pos == prev_position) {
      emit(make(problem::fork, "another span also holds position " + std::to_string(pos)));
      return;
    }
    if (pos > expected) {
      emit(make(problem::gap, expected + 1 == pos ? "position " + std::to_string(expected) + " is missing"
                                                   : "positions " + std::to_string(expected) + ".." + std::to_string(pos - 1) + " are missing"));
    } else if (pos < expected) {  // cannot happen in position order; kept for sources that do not sort
      emit(make(problem::fork, "position " + std::to_string(pos) + " appears after position " + std::to_string(prev_position)));
    } else if (decoded && check.authentic && prev_authentic) {
      const std::optional<digest> want = have_prev ? prev_hash_stored : std::nullopt;
      if (row.prev_hash != want)
        emit(make(problem::broken_link, want ? "prev_hash does not match the curr_hash of position " + std::to_string(pos - 1)
                                             : "the first span of a chain has a prev_hash"));
    }
    have_prev = true;
    prev_position = pos;
    prev_hash_stored.reset();
    if (decoded) prev_hash_stored = row.curr_hash;
    prev_authentic = decoded && check.authentic;
    expected = pos + 1;
  };

  auto read = [&](std::vector<verify_row>& into) -> result<bool> { return source.next_batch(into, batch_rows); };

  auto more = read(current);
  if (!more) return std::move(more).error();
  while (!current.empty()) {
    checks.resize(current.size());
    pool.start(current.size(), [&](std::size_t i) { detail::check_row(current[i], profile, options.trusted_keys, checks[i]); });
    auto next_more = *more ? read(next) : result<bool>(false);
    if (!*more) next.clear();
    pool.help_until_done();
    if (!next_more) return std::move(next_more).error();
    for (std::size_t i = 0; i < current.size(); ++i) finalize(current[i], checks[i]);
    report.spans_checked += current.size();
    if (options.on_progress) options.on_progress(report.spans_checked);
    std::swap(current, next);
    more = next_more;
  }
  return report;
}

}  // namespace logline
