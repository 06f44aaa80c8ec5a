#pragma once
// Checkpoints: the heads of a ledger's chains, kept outside the ledger.
//
// A walk of the ledger alone cannot tell that a chain's last spans were removed: the shorter
// chain is still valid. A checkpoint records, for every chain, its last span (position, id, seq,
// curr_hash) at some moment. Verifying later against it (verify_options::expected_heads) reports
// a chain that no longer reaches its recorded head as `truncated`, and one that holds another
// span there as `head_mismatch`: history cut or rewritten since the checkpoint.
//
// Its text is one canonical JSON object (RFC 8785):
//   {"at":"2026-11-29T22:00:00.000Z",
//    "heads":[{"chain":"tenant:acme","curr_hash":"<64 hex>","id":"<uuid>","position":41,"seq":0},...],
//    "public_key":"<64 hex>","signature":"<128 hex>"}
// heads in chain order. public_key and signature are optional, and go together: an Ed25519
// signature over the 32 bytes of BLAKE3-256 of the canonical form of every other member
// (public_key included), as for spans. parse() refuses anything else, and a signature that does
// not verify.
#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "logline/blake3.hpp"
#include "logline/ed25519.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/types.hpp"
#include "logline/verify.hpp"

namespace logline {

struct checkpoint {
  timestamp at;
  std::vector<verified_head> heads;
  std::optional<logline::public_key> public_key;
  std::optional<logline::signature> signature;

  // The heads a verification saw. Take them from a report that is ok(): a checkpoint of a
  // damaged ledger vouches for the damage.
  static checkpoint of(const verify_report& report, timestamp at = timestamp::now()) {
    return {at, report.heads, std::nullopt, std::nullopt};
  }

  // Sets public_key, then signs everything else.
  void sign(const ed25519::key& key) {
    public_key = key.public_key();
    signature = key.sign(hash());
  }

  // BLAKE3-256 of the canonical form without the signature.
  digest hash() const {
    digest d;
    d.bytes = blake3(canonical(body()));
    return d;
  }

  // Signed, and the signature verifies with public_key.
  bool signature_ok() const {
    return signature && public_key && ed25519::verify(*signature, hash(), *public_key);
  }

  json to_json() const {
    json j = body();
    if (signature) j["signature"] = signature->to_string();
    return j;
  }
  std::string to_text() const { return canonical(to_json()); }

  static result<checkpoint> parse(std::string_view text) {
    auto parsed = parse_json(text, 8);
    if (!parsed) return make_error(errc::invalid_json, "checkpoint: " + parsed.error().message());
    const json& j = *parsed;
    if (!j.is_object()) return refuse("not a JSON object");
    for (const auto& [key, value] : j.items())
      if (key != "at" && key != "heads" && key != "public_key" && key != "signature")
        return refuse("unknown member '" + key + "'");
    checkpoint c;
    const auto at = j.find("at");
    if (at == j.end() || !at->is_string()) return refuse("'at' must be a timestamp string");
    auto t = timestamp::parse(at->get_ref<const std::string&>());
    if (!t) return refuse("'at': " + t.error().message());
    c.at = *t;
    const auto heads = j.find("heads");
    if (heads == j.end() || !heads->is_array()) return refuse("'heads' must be an array");
    std::set<std::string, std::less<>> chains;
    for (std::size_t i = 0; i < heads->size(); ++i) {
      auto head = parse_head((*heads)[i]);
      if (!head) return refuse("heads[" + std::to_string(i) + "]: " + head.error().message());
      if (!chains.insert(head->chain).second)
        return refuse("heads[" + std::to_string(i) + "]: chain '" + head->chain +
                      "' is named twice");
      c.heads.push_back(std::move(*head));
    }
    if (j.contains("public_key") != j.contains("signature"))
      return refuse("'public_key' and 'signature' go together");
    if (j.contains("public_key")) {
      LOGLINE_TRY(pk, hex_member<logline::public_key>(j["public_key"], "public_key"));
      LOGLINE_TRY(sig, hex_member<logline::signature>(j["signature"], "signature"));
      c.public_key = pk;
      c.signature = sig;
      if (!c.signature_ok())
        return make_error(errc::bad_signature,
                          "checkpoint: the signature does not verify with its public_key");
    }
    return c;
  }

 private:
  json body() const {
    json hs = json::array();
    for (const auto& h : heads)
      hs.push_back({{"chain", h.chain},
                    {"position", h.position},
                    {"id", h.id.to_string()},
                    {"seq", h.seq},
                    {"curr_hash", h.curr_hash.to_string()}});
    json j{{"at", at.to_string()}, {"heads", std::move(hs)}};
    if (public_key) j["public_key"] = public_key->to_string();
    return j;
  }

  static error_info refuse(std::string why) {
    return error_info(errc::invalid_argument, "checkpoint: " + std::move(why));
  }

  template <class Hex>
  static result<Hex> hex_member(const json& v, const char* name) {
    if (!v.is_string()) return refuse(std::string("'") + name + "' must be a hex string");
    auto parsed = Hex::parse(v.get_ref<const std::string&>());
    if (!parsed) return refuse(std::string("'") + name + "': " + parsed.error().message());
    return *parsed;
  }

  static result<verified_head> parse_head(const json& v) {
    auto no = [](std::string why) { return error_info(errc::invalid_argument, std::move(why)); };
    if (!v.is_object()) return no("not an object");
    if (v.size() != 5)
      return no("expected exactly the members chain, position, id, seq and curr_hash");
    verified_head h;
    const auto chain = v.find("chain");
    if (chain == v.end() || !chain->is_string() || chain->get_ref<const std::string&>().empty())
      return no("'chain' must be a non-empty string");
    h.chain = chain->get<std::string>();
    const auto position = v.find("position");
    if (position == v.end() || !position->is_number_integer() || position->get<std::int64_t>() < 0)
      return no("'position' must be an integer >= 0");
    h.position = position->get<std::int64_t>();
    const auto seq = v.find("seq");
    if (seq == v.end() || !seq->is_number_integer() || seq->get<std::int64_t>() < 0 ||
        seq->get<std::int64_t>() > std::numeric_limits<std::int32_t>::max())
      return no("'seq' must be an integer from 0 to 2147483647");
    h.seq = static_cast<std::int32_t>(seq->get<std::int64_t>());
    const auto id = v.find("id");
    if (id == v.end() || !id->is_string()) return no("'id' must be a uuid string");
    auto u = uuid::parse(id->get_ref<const std::string&>());
    if (!u) return no("'id': " + u.error().message());
    h.id = *u;
    const auto hash = v.find("curr_hash");
    if (hash == v.end() || !hash->is_string()) return no("'curr_hash' must be a hex string");
    auto d = digest::parse(hash->get_ref<const std::string&>());
    if (!d) return no("'curr_hash': " + d.error().message());
    h.curr_hash = *d;
    return h;
  }
};

}  // namespace logline
