// The independent test vectors (tests/data/span-vectors.ndjson, copied from shared/vectors):
// canonical text, BLAKE3 curr_hash and Ed25519 signature reproduced byte for byte.
#include <fstream>
#include <string>
#include <vector>

#include <logline/logline.hpp>

#include "support/catch.hpp"

namespace {

struct vector_case {
  std::string name;
  logline::json input;
  std::string canonical, curr_hash, public_key, signature;
};

std::vector<vector_case> load_vectors() {
  std::ifstream in(std::string(LOGLINE_TEST_DATA_DIR) + "/span-vectors.ndjson");
  REQUIRE(in);
  std::vector<vector_case> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto j = logline::json::parse(line);
    out.push_back({j.at("name").get<std::string>(), j.at("input"),
                   j.at("canonical").get<std::string>(), j.at("curr_hash").get<std::string>(),
                   j.at("public_key").get<std::string>(), j.at("signature").get<std::string>()});
  }
  return out;
}

// RFC 8032 §7.1 test 1 secret key (the seed the vectors were made with).
constexpr const char* rfc8032_seed =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

}  // namespace

TEST_CASE("every span vector is reproduced byte for byte", "[core][vectors]") {
  const auto cases = load_vectors();
  REQUIRE(cases.size() == 6);
  const auto key = logline::ed25519::key::from_seed_hex(rfc8032_seed).value();
  for (const auto& c : cases) {
    INFO("vector " << c.name);
    // The input goes through the same path as any JSON span: I-JSON parse, typed decode.
    auto span = logline::span_from_json_text<logline::universal_span>(c.input.dump()).value();
    span.public_key = key.public_key();
    REQUIRE(span.public_key->to_string() == c.public_key);
    REQUIRE(logline::validate_span(span));
    CHECK(logline::canonical_span(span) == c.canonical);
    const auto hash = logline::span_hash(span);
    CHECK(hash.to_string() == c.curr_hash);
    const auto sig = key.sign(hash);
    CHECK(sig.to_string() == c.signature);
    CHECK(logline::ed25519::verify(sig, hash, key.public_key()));
    // The export form adds exactly curr_hash and signature.
    span.curr_hash = hash;
    span.signature = sig;
    auto exported = logline::parse_json(logline::span_to_json_text(span)).value();
    auto canonical = logline::parse_json(c.canonical).value();
    canonical["curr_hash"] = c.curr_hash;
    canonical["signature"] = c.signature;
    CHECK(exported == canonical);
  }
}

TEST_CASE("a one-character change to a vector changes its hash and breaks its signature",
          "[core][vectors]") {
  const auto cases = load_vectors();
  const auto key = logline::ed25519::key::from_seed_hex(rfc8032_seed).value();
  auto span =
      logline::span_from_json_text<logline::universal_span>(cases.front().input.dump()).value();
  span.public_key = key.public_key();
  const auto hash = logline::span_hash(span);
  const auto sig = key.sign(hash);
  span.who += "!";
  const auto changed = logline::span_hash(span);
  CHECK(changed != hash);
  CHECK_FALSE(logline::ed25519::verify(sig, changed, key.public_key()));
}
