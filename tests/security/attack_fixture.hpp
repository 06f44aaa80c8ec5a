#pragma once
// The attack suite's fixture: the HTTP API and a seeded runtime (Stage-0 with run_code and the
// policy agent) over one of the conformance backends, a victim (alice in tenant acme), an
// attacker (mallory in tenant globex) and a user of the victim's name in the attacker's tenant
// (alice in globex), each with an ordinary token; and the means to compare two answers and to
// plant what only a bug or tampering could write.
#include <algorithm>
#include <string>
#include <vector>

#include <logline/runtime/manifest.hpp>
#include <logline/runtime/policy_agent.hpp>
#include <logline/runtime/provider_exec.hpp>
#include <logline/runtime/run_code.hpp>
#include <logline/runtime/stage0.hpp>

#include "http/http_fixture.hpp"

namespace security_test {

using http_test::bearer;
using http_test::body_of;
using logline::json;

template <class F>
struct attack_fixture : http_test::http_fixture<F> {
  using base = http_test::http_fixture<F>;
  using base::ledger;
  using typename base::ledger_type;
  logline::runtime::stage0<ledger_type> stage0{ledger};
  const logline::identity alice{"alice", "acme"}, mallory{"mallory", "globex"},
      alice_elsewhere{"alice", "globex"};
  const logline::identity system{"logline", std::nullopt};  // the operator the kernels boot as
  std::string alice_token, mallory_token, alice_elsewhere_token;
  httplib::Client c;
  std::int64_t planted = 0;  // versions planted so far (plant_version)

  attack_fixture() : attack_fixture(logline::http::server_options{}) {}
  explicit attack_fixture(logline::http::server_options o) : base(std::move(o)), c(this->client()) {
    logline::runtime::seed(ledger).value();
    logline::runtime::run_code<ledger_type> code;
    stage0.register_kernel(logline::runtime::ids::run_code, code);
    logline::runtime::policy_agent<ledger_type> agent;
    agent.limits.instructions = 2'000'000;
    stage0.register_kernel(logline::runtime::ids::policy_agent, agent);
    stage0.register_kernel(logline::runtime::ids::provider_exec,
                           logline::runtime::provider_exec<ledger_type>{});
    alice_token = this->token(alice.user_id, alice.tenant_id);
    mallory_token = this->token(mallory.user_id, mallory.tenant_id);
    alice_elsewhere_token = this->token(alice_elsewhere.user_id, alice_elsewhere.tenant_id);
  }

  httplib::Result post(const std::string& token, const std::string& body,
                       const std::string& path = "/api/spans") {
    return c.Post(path.c_str(), bearer(token), body, "application/json");
  }
  // Posts a span as `token`; it must be stored. Returns it.
  json created(const std::string& token, const std::string& body) {
    auto r = post(token, body);
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 201);
    return body_of(r);
  }
  httplib::Result get(const std::string& token, const std::string& path) {
    return c.Get(path.c_str(), bearer(token));
  }

  // Every stored row as text, in commit order (the operator's view): equal before and after an
  // attack when the attack wrote nothing.
  std::vector<std::string> snapshot() {
    std::vector<std::string> out;
    for (const auto& s : conformance::all_spans(ledger))
      out.push_back(logline::span_to_json_text(s));
    return out;
  }
  std::vector<logline::universal_span> of_type(const std::string& type) {
    std::vector<logline::universal_span> out;
    for (auto& s : conformance::all_spans(ledger))
      if (s.entity_type == type) out.push_back(std::move(s));
    return out;
  }

  // Runs a function as `who` through run_code: the execution span.
  logline::universal_span run(const std::string& function_id, const logline::identity& who) {
    return stage0
        .boot(logline::runtime::ids::run_code, json{{"span_id", function_id}, {"input", nullptr}},
              who)
        .value();
  }
  // Boots the policy agent as the operator: its output.
  json run_policies() {
    auto e = stage0.boot(logline::runtime::ids::policy_agent, nullptr, system).value();
    INFO(logline::span_to_json_text(e));
    REQUIRE(e.status == "complete");
    return *e.output;
  }

  // A later version of `victim` owned by someone else, sealed (hashed, signed by the ledger's
  // key) and inserted through the store, past the ledger's checks; the database's own version
  // rule must be off (F::drop_version_rule) for it to go in. What a bug or tampering could leave.
  logline::universal_span plant_version(const logline::universal_span& victim,
                                        const logline::identity& owner,
                                        logline::universal_span changes) {
    logline::universal_span forged = std::move(changes);
    forged.id = victim.id;
    forged.seq = victim.seq + 1;
    forged.owner_id = owner.user_id;
    forged.tenant_id = owner.tenant_id;
    forged.at = logline::timestamp::now();
    forged.chain_position =
        1'000'000 + planted++;  // far past the chain's head: verify reports the gap
    forged.public_key = conformance::test_key().public_key();
    forged.curr_hash = logline::span_hash(forged);
    forged.signature = conformance::test_key().sign(*forged.curr_hash);
    logline::ledger_plumbing::store(ledger)
        .write(nullptr, true, [&](auto& tx) { return tx.insert(forged); })
        .value();
    return forged;
  }
};

// Whether two answers are the same but for the ids they name: the same status and, with each id
// replaced by <id>, byte for byte the same body.
inline bool same_answer(const httplib::Result& a, const std::string& a_id, const httplib::Result& b,
                        const std::string& b_id) {
  REQUIRE(a);
  REQUIRE(b);
  auto blank = [](std::string body, const std::string& id) {
    for (std::size_t at; (at = body.find(id)) != std::string::npos;)
      body.replace(at, id.size(), "<id>");
    return body;
  };
  INFO(a->status << " " << a->body << "\n" << b->status << " " << b->body);
  CHECK(a->status == b->status);
  CHECK(blank(a->body, a_id) == blank(b->body, b_id));
  return a->status == b->status && blank(a->body, a_id) == blank(b->body, b_id);
}

// A span as JSON text with these fields (values are JSON).
inline std::string span_text(std::initializer_list<std::pair<const char*, json>> fields) {
  json j = json::object();
  for (const auto& [k, v] : fields) j[k] = v;
  return logline::canonical(j);
}

}  // namespace security_test
