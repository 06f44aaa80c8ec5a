// Checkpoints (logline/checkpoint.hpp): their text, signature and strict parsing, and the
// expected-heads checks of verify_rows on rows made in memory. The backends' tests
// (ledger_conformance.cpp, cli_test.cpp) truncate and rewrite real ledgers.
#include <logline/checkpoint.hpp>

#include "support/catch.hpp"

using logline::checkpoint;
using logline::errc;
using logline::verified_head;

namespace {

verified_head head(std::string chain, std::int64_t position, char fill) {
  verified_head h;
  h.chain = std::move(chain);
  h.position = position;
  h.id = logline::uuid::parse("01a22968-3166-7248-86d5-b8379115bb83").value();
  h.seq = 2;
  h.curr_hash = logline::digest::parse(std::string(64, fill)).value();
  return h;
}

checkpoint sample() {
  checkpoint c;
  c.at = logline::timestamp::parse("2026-11-29T22:00:00.000Z").value();
  c.heads = {head("tenant:acme", 41, 'a'), head("tenant:null", 0, 'b')};
  return c;
}

// Rows of one chain at the given positions, each hashing to its curr_hash.
struct memory_source {
  std::vector<logline::verify_row> rows;
  std::size_t next = 0;
  logline::result<bool> next_batch(std::vector<logline::verify_row>& out, std::size_t max) {
    out.clear();
    while (next < rows.size() && out.size() < max) out.push_back(rows[next++]);
    return next < rows.size();
  }
};
memory_source chain_of(std::initializer_list<std::int64_t> positions) {
  memory_source src;
  std::optional<logline::digest> prev;
  for (auto p : positions) {
    logline::verify_row r;
    r.chain = "global";
    r.position = p;
    r.id =
        logline::uuid::parse("00000000-0000-7000-8000-0000000000" + std::to_string(10 + p)).value();
    r.canonical = "{\"n\":" + std::to_string(p) + "}";
    logline::digest d;
    d.bytes = logline::blake3(r.canonical);
    r.curr_hash = d;
    r.prev_hash = prev;
    prev = d;
    src.rows.push_back(r);
  }
  return src;
}
constexpr logline::verify_profile chained{.hashed = true, .chained = true, .signed_ = false};

}  // namespace

TEST_CASE("a checkpoint's text is canonical JSON and parses back to the same checkpoint",
          "[core][checkpoint]") {
  const auto c = sample();
  const std::string text = c.to_text();
  CHECK(text ==
        "{\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":["
        "{\"chain\":\"tenant:acme\",\"curr_hash\":\"" +
            std::string(64, 'a') +
            "\",\"id\":\"01a22968-3166-7248-86d5-b8379115bb83\",\"position\":41,\"seq\":2},"
            "{\"chain\":\"tenant:null\",\"curr_hash\":\"" +
            std::string(64, 'b') +
            "\",\"id\":\"01a22968-3166-7248-86d5-b8379115bb83\",\"position\":0,\"seq\":2}]}");
  auto back = checkpoint::parse(text).value();
  CHECK(back.at == c.at);
  CHECK(back.heads == c.heads);
  CHECK_FALSE(back.signature);
  CHECK_FALSE(back.signature_ok());
}

TEST_CASE("a signed checkpoint verifies, and any change to it is refused", "[core][checkpoint]") {
  auto c = sample();
  const auto key = logline::ed25519::key::generate();
  c.sign(key);
  REQUIRE(c.public_key == key.public_key());
  CHECK(c.signature_ok());
  const std::string text = c.to_text();
  auto back = checkpoint::parse(text).value();
  CHECK(back.signature_ok());
  CHECK(back.public_key == key.public_key());
  CHECK(back.hash() == c.hash());

  // Another position, another hash, another time, another key: the signature no longer holds.
  for (auto [from, to] : {std::pair<std::string, std::string>{"\"position\":41", "\"position\":40"},
                          {std::string(64, 'a'), std::string(64, 'c')},
                          {"22:00:00.000Z", "22:00:00.001Z"},
                          {key.public_key().to_string(),
                           logline::ed25519::key::generate().public_key().to_string()}}) {
    std::string forged = text;
    forged.replace(forged.find(from), from.size(), to);
    auto r = checkpoint::parse(forged);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::bad_signature);
  }
  // A head removed (the easiest way to hide a truncation) is a change like any other.
  auto fewer = c;
  fewer.heads.pop_back();
  auto r = checkpoint::parse(fewer.to_text());
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::bad_signature);
}

TEST_CASE("a malformed checkpoint is refused with a sentence that names the problem",
          "[core][checkpoint]") {
  const std::string good_head =
      "{\"chain\":\"global\",\"curr_hash\":\"" + std::string(64, 'a') +
      "\",\"id\":\"01a22968-3166-7248-86d5-b8379115bb83\",\"position\":1,\"seq\":0}";
  auto with_heads = [](const std::string& heads) {
    return "{\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":[" + heads + "]}";
  };
  REQUIRE(checkpoint::parse(with_heads(good_head)));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"[]", "not a JSON object"},
      {"{\"heads\":[]}", "'at'"},
      {"{\"at\":\"yesterday\",\"heads\":[]}", "'at'"},
      {"{\"at\":\"2026-11-29T22:00:00.000Z\"}", "'heads' must be an array"},
      {"{\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":[],\"note\":1}", "unknown member 'note'"},
      {"{\"at\":\"2026-11-29T22:00:00.000Z\",\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":[]}",
       "duplicate"},
      {with_heads(good_head + "," + good_head), "chain 'global' is named twice"},
      {with_heads("{\"chain\":\"global\"}"), "exactly the members"},
      {with_heads(
           std::string(good_head).replace(good_head.find("\"position\":1"), 12, "\"position\":-1")),
       "'position'"},
      {with_heads(std::string(good_head).replace(good_head.find("\"position\":1"), 12,
                                                 "\"position\":1.5")),
       "'position'"},
      {with_heads(
           std::string(good_head).replace(good_head.find("\"seq\":0"), 7, "\"seq\":4294967296")),
       "'seq'"},
      {with_heads(std::string(good_head).replace(good_head.find("\"chain\":\"global\""), 16,
                                                 "\"chain\":\"\"")),
       "'chain'"},
      {with_heads(std::string(good_head).replace(good_head.find("aaaa"), 4, "zzzz")),
       "'curr_hash'"},
      {with_heads(std::string(good_head).replace(good_head.find("01a2"), 4, "xyz!")), "'id'"},
      {"{\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":[],\"public_key\":\"" +
           std::string(64, '0') + "\"}",
       "go together"},
      {"{\"at\":\"2026-11-29T22:00:00.000Z\",\"heads\":[],\"public_key\":\"00\",\"signature\":"
       "\"00\"}",
       "'public_key'"},
      {"not json", "checkpoint:"},
  };
  for (const auto& [text, why] : bad) {
    CAPTURE(text);
    auto r = checkpoint::parse(text);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message(), Catch::StartsWith("checkpoint:") && Catch::Contains(why));
  }
}

TEST_CASE("verify_rows checks expected heads: reached, passed, truncated, replaced, gone",
          "[core][checkpoint]") {
  auto walk = [](memory_source src, std::vector<verified_head> expected, std::size_t batch = 2) {
    logline::verify_options o;
    o.expected_heads = std::move(expected);
    o.batch_rows = batch;
    o.threads = 1;
    return logline::verify_rows(src, chained, o).value();
  };
  auto full = walk(chain_of({0, 1, 2, 3}), {});
  REQUIRE(full.ok());
  REQUIRE(full.heads.size() == 1);
  const verified_head at3 = full.heads[0];
  CHECK(at3.position == 3);
  auto at1 = at3;
  {
    auto src = chain_of({0, 1, 2, 3});
    at1.position = 1;
    at1.id = src.rows[1].id;
    at1.curr_hash = *src.rows[1].curr_hash;
  }
  CHECK(walk(chain_of({0, 1, 2, 3}), {at3}).ok());
  CHECK(walk(chain_of({0, 1, 2, 3}), {at1}, 1).ok());  // the chain went on past it

  auto cut = walk(chain_of({0, 1}), {at3});
  REQUIRE(cut.findings.size() == 1);
  CHECK(cut.findings[0].kind == logline::problem::truncated);
  CHECK(cut.findings[0].id == at3.id);
  CHECK(cut.findings[0].position == 3);
  CHECK(cut.findings[0].detail ==
        "the chain ends at position 1; the expected head is position 3 (curr_hash " +
            at3.curr_hash.to_string() + ")");

  auto other = at3;
  other.curr_hash = logline::digest::parse(std::string(64, 'f')).value();
  auto replaced = walk(chain_of({0, 1, 2, 3}), {other});
  REQUIRE(replaced.findings.size() == 1);
  CHECK(replaced.findings[0].kind == logline::problem::head_mismatch);
  CHECK(replaced.findings[0].id == full.heads[0].id);  // the span that holds the position now

  auto gone = other;
  gone.chain = "tenant:nobody";
  auto missing = walk(chain_of({0, 1, 2, 3}), {at3, gone});
  REQUIRE(missing.findings.size() == 1);
  CHECK(missing.findings[0].kind == logline::problem::truncated);
  CHECK(missing.findings[0].chain == "tenant:nobody");

  // Only a hash-chained ledger has heads to expect.
  auto src = chain_of({0});
  logline::verify_options o;
  o.expected_heads = {at3};
  auto unchained = logline::verify_rows(src, logline::verify_profile{.hashed = true}, o);
  REQUIRE_FALSE(unchained);
  CHECK(unchained.error() == errc::invalid_argument);
}
