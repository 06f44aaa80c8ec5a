#pragma once
// Verification (DESIGN §4.4): walks stored spans chain by chain, in position order, and reports
// every bad span with its reason. Memory stays constant (rows are read in batches); hashing and
// signature checks run on several threads while the next batch is read.
//
// Attribution: a broken link is reported only between two spans whose own hash and signature
// check out. A span whose content was altered is reported as a hash mismatch, and the link from
// its successor (which then no longer matches) is not reported again: each finding names the
// span that was changed, not its innocent neighbours.
//
// What a walk of the ledger alone cannot see is the removal of a chain's last spans: the shorter
// chain is still valid. verify_report::heads gives the last span of every chain; kept outside the
// ledger (a checkpoint, see logline/checkpoint.hpp) and passed back as
// verify_options::expected_heads, it makes truncation and a rewritten tail findings too.
#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
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
  truncated,          // the chain ends before an expected head (its last spans were removed)
  head_mismatch,  // the chain holds another span at an expected head's position (history rewritten)
};

constexpr std::string_view to_string(problem p) noexcept {
  switch (p) {
    case problem::hash_mismatch:
      return "hash mismatch";
    case problem::missing_hash:
      return "missing hash";
    case problem::bad_signature:
      return "bad signature";
    case problem::missing_signature:
      return "missing signature";
    case problem::unknown_key:
      return "unknown key";
    case problem::broken_link:
      return "broken link";
    case problem::gap:
      return "gap";
    case problem::fork:
      return "fork";
    case problem::missing_position:
      return "missing position";
    case problem::unreadable:
      return "unreadable";
    case problem::truncated:
      return "truncated";
    case problem::head_mismatch:
      return "head mismatch";
  }
  return "unknown";
}

struct finding {
  problem kind;
  uuid id;
  std::int32_t seq = 0;
  std::string chain;  // tenant_chain_name() or global_chain_name (backend.hpp)
  std::optional<std::int64_t> position;
  std::string detail;
};

// The last span of a chain, as a verification saw it.
struct verified_head {
  std::string chain;  // tenant_chain_name() or global_chain_name (backend.hpp)
  std::int64_t position = 0;
  uuid id;
  std::int32_t seq = 0;
  digest curr_hash;
  friend bool operator==(const verified_head&, const verified_head&) = default;
};

struct verify_options {
  unsigned threads = detail::default_threads();  // including the calling thread
  std::vector<public_key> trusted_keys;          // empty: any key is accepted
  std::size_t batch_rows = 1024;
  std::size_t max_findings_kept = 100000;          // findings beyond are counted, not kept
  std::function<void(const finding&)> on_finding;  // streaming report
  std::function<void(std::uint64_t spans_checked)> on_progress;
  // Heads recorded earlier (a checkpoint's): each chain must still hold that very span at that
  // position. A chain that ends before it is `truncated`; another span there is `head_mismatch`.
  // Chains not named here are checked as usual. Needs a hash-chained ledger.
  std::vector<verified_head> expected_heads;
};

struct verify_report {
  std::uint64_t spans_checked = 0;
  std::uint64_t chains = 0;
  std::uint64_t problems = 0;  // all findings, kept or not
  std::vector<finding> findings;
  std::vector<verified_head>
      heads;  // hash-chained ledgers: the last span of each chain, in chain order
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
    if constexpr (requires {
                    s.signature;
                    s.public_key;
                  })
      a.signature_ok =
          s.signature && s.public_key && ed25519::verify(*s.signature, *s.curr_hash, *s.public_key);
  }
  return a;
}

namespace detail {

struct row_check {
  bool authentic = true;  // own hash (and signature, if signed) check out
  std::vector<std::pair<problem, std::string>> problems;
};

inline void check_row(const verify_row& row, const verify_profile& profile,
                      const std::vector<public_key>& trusted, row_check& out) {
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
                                  "stored curr_hash " + row.curr_hash->to_string() +
                                      ", content hashes to " + recomputed.to_string());
      }
    }
  }
  if (profile.signed_) {
    if (!row.signature || !row.public_key || !row.curr_hash) {
      out.authentic = false;
      out.problems.emplace_back(problem::missing_signature, "signature or public_key is null");
    } else if (!ed25519::verify(*row.signature, *row.curr_hash, *row.public_key)) {
      out.authentic = false;
      out.problems.emplace_back(
          problem::bad_signature,
          "signature does not verify with public_key " + row.public_key->to_string());
    } else if (!trusted.empty() &&
               std::find(trusted.begin(), trusted.end(), *row.public_key) == trusted.end()) {
      out.authentic = false;
      out.problems.emplace_back(problem::unknown_key,
                                "public_key " + row.public_key->to_string() + " is not trusted");
    }
  }
}

}  // namespace detail

// Verifies the rows a source yields. Source: `result<bool> next_batch(std::vector<verify_row>& rows, std::size_t max)`
// sets rows to the next (up to max) rows ordered by (chain, position), reusing their storage, and
// returns false once nothing is left.
template <class Source>
result<verify_report> verify_rows(Source& source, const verify_profile& profile,
                                  const verify_options& options) {
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

  // Expected heads, by chain, and what the walk found at their positions.
  struct expectation {
    const verified_head* head = nullptr;
    bool chain_seen = false;
    bool matched = false;
    std::optional<finding> mismatch;  // the first span at the head's position that is not the head
  };
  std::map<std::string, expectation, std::less<>> expectations;
  if (!options.expected_heads.empty() && !profile.chained)
    return make_error(errc::invalid_argument,
                      "logline: expected chain heads can only be checked on a hash-chained ledger");
  for (const auto& h : options.expected_heads)
    if (!expectations.emplace(h.chain, expectation{&h}).second)
      return make_error(errc::invalid_argument,
                        "logline: the expected heads name chain '" + h.chain + "' twice");

  // Chain state carried across batches.
  std::string chain;
  expectation* expecting = nullptr;  // the current chain's, if any
  std::optional<verified_head>
      last;  // the current chain's last span, if it has a position and a hash
  bool in_chain = false;
  std::int64_t expected = 0;
  bool have_prev = false;
  std::int64_t prev_position = -1;
  std::optional<digest> prev_hash_stored;
  bool prev_authentic = true;

  // At the end of a chain: its head, and whether it still reaches its expected head.
  auto end_chain = [&] {
    if (!in_chain || !profile.chained) return;
    if (last) report.heads.push_back(*last);
    if (!expecting || expecting->matched) return;
    if (expecting->mismatch) return emit(std::move(*expecting->mismatch));
    const verified_head& h = *expecting->head;
    const std::string want = "the expected head is position " + std::to_string(h.position) +
                             " (curr_hash " + h.curr_hash.to_string() + ")";
    if (!have_prev || prev_position < h.position)
      emit(finding{problem::truncated, h.id, h.seq, h.chain, h.position,
                   (have_prev ? "the chain ends at position " + std::to_string(prev_position)
                              : std::string("the chain has no positioned span")) +
                       "; " + want});
    else
      emit(finding{problem::head_mismatch, h.id, h.seq, h.chain, h.position,
                   "no span holds position " + std::to_string(h.position) + "; " + want});
  };

  auto finalize = [&](const verify_row& row, const detail::row_check& check) {
    const bool decoded = row.unreadable.empty();
    const std::optional<std::int64_t> position = profile.chained ? row.position : std::nullopt;
    auto make = [&](problem p, std::string d) {
      return finding{p, row.id, row.seq, row.chain, position, std::move(d)};
    };
    if (!in_chain || row.chain != chain) {
      end_chain();
      chain = row.chain;
      in_chain = true;
      ++report.chains;
      expected = 0;
      have_prev = false;
      prev_authentic = true;
      last.reset();
      expecting = nullptr;
      if (auto it = expectations.find(chain); it != expectations.end()) {
        expecting = &it->second;
        expecting->chain_seen = true;
      }
    }
    for (const auto& [p, d] : check.problems) emit(make(p, d));
    if (!profile.chained) return;
    if (!row.position) {
      emit(make(problem::missing_position, "chain_position is null"));
      return;
    }
    const std::int64_t pos = *row.position;
    if (expecting && !expecting->matched && pos == expecting->head->position) {
      const verified_head& h = *expecting->head;
      if (decoded && row.curr_hash == h.curr_hash) {
        expecting->matched = true;
      } else if (!expecting->mismatch) {
        expecting->mismatch =
            make(problem::head_mismatch,
                 "the expected head at position " + std::to_string(pos) + " is " +
                     h.id.to_string() + " seq " + std::to_string(h.seq) + " with curr_hash " +
                     h.curr_hash.to_string() + "; this span is there instead");
      }
    }
    if (have_prev && pos == prev_position) {
      emit(make(problem::fork, "another span also holds position " + std::to_string(pos)));
      return;
    }
    if (pos > expected) {
      emit(make(problem::gap, expected + 1 == pos
                                  ? "position " + std::to_string(expected) + " is missing"
                                  : "positions " + std::to_string(expected) + ".." +
                                        std::to_string(pos - 1) + " are missing"));
    } else if (pos <
               expected) {  // cannot happen in position order; kept for sources that do not sort
      emit(make(problem::fork, "position " + std::to_string(pos) + " appears after position " +
                                   std::to_string(prev_position)));
    } else if (decoded && check.authentic && prev_authentic) {
      const std::optional<digest> want = have_prev ? prev_hash_stored : std::nullopt;
      if (row.prev_hash != want)
        emit(make(
            problem::broken_link,
            want ? "prev_hash does not match the curr_hash of position " + std::to_string(pos - 1)
                 : "the first span of a chain has a prev_hash"));
    }
    have_prev = true;
    prev_position = pos;
    prev_hash_stored.reset();
    if (decoded) prev_hash_stored = row.curr_hash;
    prev_authentic = decoded && check.authentic;
    expected = pos + 1;
    last.reset();
    if (decoded && row.curr_hash)
      last = verified_head{row.chain, pos, row.id, row.seq, *row.curr_hash};
  };

  auto read = [&](std::vector<verify_row>& into) -> result<bool> {
    return source.next_batch(into, batch_rows);
  };

  auto more = read(current);
  if (!more) return std::move(more).error();
  while (!current.empty()) {
    checks.resize(current.size());
    pool.start(current.size(), [&](std::size_t i) {
      detail::check_row(current[i], profile, options.trusted_keys, checks[i]);
    });
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
  end_chain();
  for (const auto& [name, e] : expectations)
    if (!e.chain_seen)
      emit(finding{problem::truncated, e.head->id, e.head->seq, name, e.head->position,
                   "no span of this chain is left; the expected head is position " +
                       std::to_string(e.head->position) + " (curr_hash " +
                       e.head->curr_hash.to_string() + ")"});
  return report;
}

}  // namespace logline
