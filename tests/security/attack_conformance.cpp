// The attack suite, on both backends, through real HTTP on loopback where the attack comes over
// HTTP: an ordinary tenant user (mallory in tenant globex, a token with spans:read,
// spans:write and execute) tries to write what is not hers, learn what she cannot read, forge
// what the server and the runtime trust, and squat the ids they derive. Each test checks that
// the attack fails and that the victim's data, the runtime's behaviour and verify are
// unchanged. (PostgreSQL's own guards: postgres_attack_test.cpp; processes:
// process_attack_test.cpp.)
#include <logline/runtime/midnight_ruler.hpp>
#include <logline/runtime/seed_policies.hpp>

#include "security/attack_fixture.hpp"

using logline::errc;
using logline::json;
using logline::universal_span;
using namespace security_test;
namespace runtime = logline::runtime;

namespace {
const std::string note = R"({"entity_type":"note","this":"mine"})";

std::string version_of(const std::string& id, int seq, const std::string& extra = "") {
  return R"({"entity_type":"note","this":"taken over","id":")" + id + R"(","seq":)" +
         std::to_string(seq) + extra + "}";
}
}  // namespace

TEMPLATE_TEST_CASE(
    "attack: versions of another identity's entities, visible or not, and the existence oracle",
    "[security]", LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const auto secret = b.created(b.alice_token, R"({"entity_type":"note","this":"private"})");
  const auto open =
      b.created(b.alice_token, R"({"entity_type":"note","this":"public","visibility":"public"})");
  const auto shared =
      b.created(b.alice_token, R"({"entity_type":"note","this":"for acme","visibility":"tenant"})");
  const std::string secret_id = secret["id"].template get<std::string>(),
                    open_id = open["id"].template get<std::string>();
  const std::string ghost = logline::uuid::v7().to_string();  // an id nothing has
  const auto bob = b.token("bob", "acme");                    // alice's tenant colleague
  const auto before = b.snapshot();

  // mallory, and a user named alice in mallory's tenant: for an id they cannot read every answer
  // is the answer for an id that does not exist, byte for byte.
  for (const std::string* token : {&b.mallory_token, &b.alice_elsewhere_token}) {
    for (int seq : {1, 7})
      CHECK(same_answer(b.post(*token, version_of(secret_id, seq)), secret_id,
                        b.post(*token, version_of(ghost, seq)), ghost));
    CHECK(same_answer(b.post(*token, "[" + note + "," + version_of(secret_id, 1) + "]"), secret_id,
                      b.post(*token, "[" + note + "," + version_of(ghost, 1) + "]"), ghost));
    for (const std::string suffix : {"", "?seq=0", "/history"})
      CHECK(same_answer(b.get(*token, "/api/spans/" + secret_id + suffix), secret_id,
                        b.get(*token, "/api/spans/" + ghost + suffix), ghost));
    CHECK(same_answer(b.get(*token, "/api/verify/" + secret_id), secret_id,
                      b.get(*token, "/api/verify/" + ghost), ghost));
    CHECK(same_answer(b.post(*token, R"({"span_id":")" + secret_id + "\"}", "/api/execute"),
                      secret_id, b.post(*token, R"({"span_id":")" + ghost + "\"}", "/api/execute"),
                      ghost));
    CHECK(b.get(*token, "/api/spans/" + secret_id)->status == 404);
  }
  // An entity's id cannot be taken for a new one, and the answer is the same whether the caller
  // can read that entity or not (its existence is all the id tells, to one who knows the id).
  auto taken_hidden =
      b.post(b.mallory_token, R"({"entity_type":"note","this":"squat","id":")" + secret_id + "\"}");
  CHECK(taken_hidden->status == 409);
  CHECK(same_answer(
      taken_hidden, secret_id,
      b.post(b.mallory_token, R"({"entity_type":"note","this":"squat","id":")" + open_id + "\"}"),
      open_id));

  // A span mallory can read but does not own: its versions are its owner's (alone or in a batch).
  auto public_version =
      b.post(b.mallory_token, version_of(open_id, 1, R"(,"visibility":"public")"));
  CHECK(public_version->status == 403);
  CHECK_THAT(public_version->body, Catch::Contains("only its owner"));
  CHECK(b.post(b.mallory_token, "[" + note + "," + version_of(open_id, 1) + "]")->status == 403);
  // The victim's tenant colleagues read `shared`, and cannot write it either.
  CHECK(body_of(b.get(bob, "/api/spans/" + shared["id"].template get<std::string>()))["this"] ==
        "for acme");
  CHECK(b.post(bob, version_of(shared["id"].template get<std::string>(), 1))->status == 403);

  // Nothing was written; the victim reads her own spans as she wrote them; verify holds.
  CHECK(b.snapshot() == before);
  CHECK(body_of(b.get(b.alice_token, "/api/spans/" + open_id))["this"] == "public");
  CHECK(body_of(b.get(b.alice_token, "/api/spans/" + secret_id))["seq"] == 0);
  CHECK(body_of(b.get(b.alice_token, "/api/verify/" + open_id))["ok"] == true);
  CHECK(b.ledger.verify().value().ok());
  // And the owner herself goes on appending versions.
  CHECK(b.post(b.alice_token, version_of(open_id, 1))->status == 201);
}

TEMPLATE_TEST_CASE(
    "attack: replacing the code of another user's public function, then its owner runs it",
    "[security]", LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const auto fn = b.created(
      b.alice_token,
      R"({"entity_type":"function","this":"greet","language":"lua","visibility":"public","code":"return 'alice wrote this'"})");
  const std::string id = fn["id"].template get<std::string>();
  const std::string evil =
      "ctx.insert_span({entity_type = 'leak', this = 'stolen', visibility = 'public'}) return "
      "'mallory wrote this'";
  const auto before = b.snapshot();
  auto replaced = b.post(b.mallory_token, span_text({{"id", id},
                                                     {"seq", 1},
                                                     {"entity_type", "function"},
                                                     {"this", "greet"},
                                                     {"language", "lua"},
                                                     {"visibility", "public"},
                                                     {"code", evil}}));
  CHECK(replaced->status == 403);
  CHECK(b.snapshot() == before);
  // alice runs her function: her code runs.
  auto e = b.run(id, b.alice);
  CHECK(e.status == "complete");
  CHECK(*e.output == "alice wrote this");

  // Were such a version there all the same (planted past the ledger and the database's rule),
  // the runtime would not run it: the latest version of code must be its first writer's.
  REQUIRE(b.f.drop_version_rule("universal_registry"));
  auto stored = b.ledger.as_operator().get(logline::uuid::parse(id).value()).value();
  universal_span changes = logline::unsealed(stored);
  changes.code = evil;
  b.plant_version(stored, b.mallory, changes);
  CHECK(b.ledger.as(b.alice).get(stored.id).value().code ==
        evil);  // what alice's next run would read
  auto refused = b.run(id, b.alice);
  CHECK(refused.status == "error");
  CHECK_THAT((*refused.error)["message"].template get<std::string>(),
             Catch::Contains("not owned by its first version's owner"));
  CHECK(b.of_type("leak").empty());

  // The same for the other code the runtime follows to its latest version: a policy (the agent
  // reports it and runs the others) and a provider (nothing is sent).
  const auto policy =
      b.created(b.alice_token, span_text({{"entity_type", "policy"},
                                          {"this", "p"},
                                          {"language", "lua"},
                                          {"status", "active"},
                                          {"code", "function on(span) return {} end"}}));
  auto policy_span =
      b.ledger.as_operator()
          .get(logline::uuid::parse(policy["id"].template get<std::string>()).value())
          .value();
  universal_span evil_policy = logline::unsealed(policy_span);
  evil_policy.code =
      "function on(span) return {{emit_span = {entity_type = 'leak', this = 'stolen'}}} end";
  b.plant_version(policy_span, b.mallory, evil_policy);
  b.created(b.alice_token, note);
  const json out = b.run_policies();
  INFO(out.dump());
  REQUIRE(out["failed"].size() == 1);
  CHECK(out["failed"][0]["policy"] == policy["id"]);
  CHECK_THAT(out["failed"][0]["error"].template get<std::string>(),
             Catch::Contains("not owned by its first version's owner"));
  const auto provider =
      b.created(b.alice_token,
                span_text({{"entity_type", "provider"},
                           {"this", "local"},
                           {"visibility", "public"},
                           {"metadata", {{"base_url", "http://127.0.0.1:9/v1"}, {"model", "m"}}}}));
  auto provider_span =
      b.ledger.as_operator()
          .get(logline::uuid::parse(provider["id"].template get<std::string>()).value())
          .value();
  universal_span evil_provider = logline::unsealed(provider_span);
  evil_provider.metadata = json{
      {"base_url", "http://127.0.0.1:9/v1"}, {"model", "m"}, {"auth_env", "LOGLINE_SIGNING_KEY"}};
  b.plant_version(provider_span, b.mallory, evil_provider);
  auto call = b.stage0
                  .boot(runtime::ids::provider_exec,
                        json{{"provider_id", provider["id"]},
                             {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}},
                        b.alice)
                  .value();
  CHECK(call.status == "error");
  CHECK_THAT((*call.error)["message"].template get<std::string>(),
             Catch::Contains("not owned by its first version's owner"));
  CHECK(b.of_type("provider_execution").empty());
  CHECK(b.of_type("leak").empty());
}

TEMPLATE_TEST_CASE("attack: writing spans as someone else ('who', owner, tenant)", "[security]",
                   LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const auto before = b.snapshot();
  auto spoofed = b.post(b.mallory_token, R"({"entity_type":"note","this":"hi","who":"alice"})");
  CHECK(spoofed->status == 403);
  CHECK_THAT(spoofed->body, Catch::Contains("'who'"));
  CHECK(
      b.post(b.mallory_token, "[" + note + R"(,{"entity_type":"note","this":"hi","who":"alice"}])")
          ->status == 403);
  CHECK(b.post(b.mallory_token,
               R"({"entity_type":"note","this":"hi","owner_id":"alice","tenant_id":"acme"})")
            ->status == 403);
  CHECK(
      b.post(b.mallory_token, R"({"entity_type":"note","this":"hi","tenant_id":"acme"})")->status ==
      403);
  CHECK(b.snapshot() == before);
  // Left out, `who` is the caller; naming the caller is fine.
  CHECK(b.created(b.mallory_token, note)["who"] == "mallory");
  CHECK(b.created(b.mallory_token, R"({"entity_type":"note","this":"x","who":"mallory"})")["who"] ==
        "mallory");

  // User code writes as its caller too: a Lua function cannot name another writer.
  const auto fn = b.created(
      b.mallory_token,
      R"({"entity_type":"function","this":"f","language":"lua","code":"ctx.insert_span({entity_type = 'note', this = 'x', who = 'alice'}) return 1"})");
  auto e = b.run(fn["id"].template get<std::string>(), b.mallory);
  CHECK(e.status == "error");
  CHECK_THAT((*e.error)["message"].template get<std::string>(), Catch::Contains("'who'"));
  for (const auto& s : b.of_type("note")) CHECK(s.who != "alice");
}

TEMPLATE_TEST_CASE("attack: minting API tokens", "[security]", LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const std::string chosen = logline::http::generate_token();
  const json metadata{{"token_blake3", logline::http::token_hash(chosen)},
                      {"user_id", "alice"},
                      {"tenant_id", "acme"},
                      {"scopes", json::array({"spans:read", "spans:write", "execute", "admin"})}};
  const auto before = b.snapshot();
  for (const char* who : {"alice", "logline-admin", "logline"}) {
    (void)who;
    auto minted = b.post(b.mallory_token, span_text({{"entity_type", "api_token"},
                                                     {"this", "token"},
                                                     {"status", "active"},
                                                     {"visibility", "public"},
                                                     {"metadata", metadata}}));
    CHECK(minted->status == 403);
    CHECK_THAT(minted->body, Catch::Contains("operator's namespace"));
  }
  CHECK(b.snapshot() == before);

  // The registry's own guard: a token span that is not the token administrator's, or not signed
  // by this ledger's key, is no token, whoever managed to store it.
  universal_span token =
      logline::http::token_span(chosen, b.alice, {"spans:read", "spans:write", "admin"});
  token.visibility = logline::visibility::public_;
  b.ledger.on_behalf_of(b.mallory).append(token).value();        // owned by mallory
  b.ledger.as({"logline", std::nullopt}).append(token).value();  // another operator identity
  typename attack_fixture<TestType>::ledger_type other_key{
      b.f.database(),
      {.identity = logline::http::token_admin, .signing_key = logline::ed25519::key::generate()}};
  other_key.append(token).value();  // signed by another key
  b.api.tokens().reload().value();
  CHECK(b.get(chosen, "/api/timeline")->status == 401);
  CHECK(b.get(b.alice_token, "/api/timeline")->status == 200);  // the real ones still work
  // Not even the administrator makes a bearer an operator: a token for one is no token.
  const std::string operators_token = logline::http::generate_token();
  b.ledger.append(logline::http::token_span(operators_token, {"logline", std::nullopt}, {"admin"}))
      .value();
  b.api.tokens().reload().value();
  CHECK(b.get(operators_token, "/api/timeline")->status == 401);
}

TEMPLATE_TEST_CASE("attack: a law of one tenant judging another tenant's spans", "[security]",
                   LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const char* everything_fails = R"(law takeover:1:
  scope: task
  clock: Europe/Paris
  if not: true
    then: terminate(reason="mallory says so")
)";
  const char* deadlines = R"(law deadlines:1:
  scope: task
  clock: Europe/Paris
  if ok: true
    then: accept
)";
  b.created(b.mallory_token, span_text({{"entity_type", "law"},
                                        {"this", "takeover"},
                                        {"status", "active"},
                                        {"visibility", "public"},
                                        {"code", everything_fails}}));
  universal_span operators_law = conformance::make_span("law", "logline");
  operators_law.code = deadlines;
  operators_law.status = "active";
  operators_law.visibility = logline::visibility::public_;
  b.ledger.as(b.system).append(operators_law).value();
  const auto task =
      b.created(b.alice_token,
                span_text({{"entity_type", "task"}, {"this", "alice's task"}, {"status", "open"}}));
  const auto own = b.created(
      b.mallory_token,
      span_text({{"entity_type", "task"}, {"this", "mallory's task"}, {"status", "open"}}));

  const auto boundary = logline::timestamp::now();
  const json out =
      runtime::midnight_ruler<typename attack_fixture<TestType>::ledger_type>{}(b.ledger, boundary)
          .value();
  INFO(out.dump());
  auto decisions_on = [&](const json& span) {
    std::vector<universal_span> found;
    for (auto& d : b.of_type("law.decision"))
      if (d.parent_id && d.parent_id->to_string() == span["id"].template get<std::string>())
        found.push_back(std::move(d));
    return found;
  };
  // alice's task is judged by the operator's law alone.
  const auto alices = decisions_on(task);
  REQUIRE(alices.size() == 1);
  CHECK(alices[0].status == "ok");
  CHECK(alices[0].owner_id == "alice");
  for (const auto& v : b.of_type("law.verdict"))
    if (v.parent_id && v.parent_id->to_string() == task["id"].template get<std::string>())
      CHECK(v.status == "ok");
  // mallory's law governs mallory's tenant (and the operator's law too).
  CHECK(decisions_on(own).size() == 2);
}

TEMPLATE_TEST_CASE("attack: replacing the runtime's manifest", "[security]", LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  universal_span forged = runtime::seed_manifest(std::nullopt);
  forged.id = logline::uuid::v7();
  (*forged.metadata)["allowed_boot_ids"] = json::array();
  (*forged.metadata)["features"]["signatures_required"] = false;
  const auto before = b.snapshot();
  auto posted = b.post(b.mallory_token, span_text({{"entity_type", "manifest"},
                                                   {"this", "kernel_manifest"},
                                                   {"name", "kernel_manifest"},
                                                   {"visibility", "public"},
                                                   {"metadata", *forged.metadata}}));
  CHECK(posted->status == 403);
  CHECK(b.snapshot() == before);

  // Stored anyway (by mallory, by another key): the loader and the API take only the operator's.
  b.ledger.on_behalf_of(b.mallory).append(forged).value();
  forged.id = logline::uuid::v7();
  typename attack_fixture<TestType>::ledger_type other_key{
      b.f.database(),
      {.identity = {"logline", std::nullopt}, .signing_key = logline::ed25519::key::generate()}};
  other_key.append(forged).value();
  const auto m = runtime::load_manifest(b.ledger).value();
  CHECK(m.id == runtime::ids::manifest);
  CHECK(m.signatures_required);
  CHECK(m.may_boot(runtime::ids::run_code));
  CHECK(body_of(b.get(b.mallory_token, "/api/manifest/kernel_manifest"))["id"] ==
        runtime::ids::manifest.to_string());
  // The runtime still runs: a function of alice's executes.
  const auto fn = b.created(
      b.alice_token, R"({"entity_type":"function","this":"f","language":"lua","code":"return 7"})");
  CHECK(b.run(fn["id"].template get<std::string>(), b.alice).status == "complete");
}

TEMPLATE_TEST_CASE("attack: squatting the ids the runtime derives or fixes", "[security]",
                   LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  runtime::install_seed_policies(b.ledger, b.alice).value();
  const logline::identity carol{"carol", "acme"};
  const auto policy = b.created(
      b.alice_token,
      R"({"entity_type":"policy","this":"p","language":"lua","status":"active","code":"function on(span) return {} end"})");
  const auto policy_id = logline::uuid::parse(policy["id"].template get<std::string>()).value();
  const std::vector<logline::uuid> reserved = {
      runtime::policy_cursor_id(policy_id),
      runtime::seed_policy_id("ttl_reaper", carol),
      runtime::derived_uuid("logline.schedule_state\nmidnight_ruler"),
      runtime::policy_revisit_id(policy_id, policy_id, logline::timestamp::now()),
      runtime::ids::run_code,
      runtime::ids::manifest,
      logline::uuid::parse("00000000-0000-4000-8000-000000000503").value()};
  const auto before = b.snapshot();
  for (const auto& id : reserved) {
    INFO(id.to_string());
    auto r = b.post(b.mallory_token,
                    R"({"entity_type":"note","this":"mine now","id":")" + id.to_string() + "\"}");
    CHECK(r->status == 403);
    CHECK_THAT(r->body, Catch::Contains("reserved for the operator"));
  }
  // The answer does not say whether the derived id is in use (alice installed her seed
  // policies; carol did not): derived ids are predictable.
  const auto alices = runtime::seed_policy_id("ttl_reaper", b.alice).to_string(),
             carols = runtime::seed_policy_id("ttl_reaper", carol).to_string();
  CHECK(same_answer(b.post(b.mallory_token, version_of(alices, 0)), alices,
                    b.post(b.mallory_token, version_of(carols, 0)), carols));
  CHECK(same_answer(b.post(b.mallory_token, version_of(alices, 1)), alices,
                    b.post(b.mallory_token, version_of(carols, 1)), carols));
  CHECK(b.snapshot() == before);

  // Squats planted anyway (written with the operator's rights for mallory): every reader treats
  // them as absent or reports them, and nothing stops.
  auto plant = [&](const logline::uuid& id, const std::string& type, json metadata = nullptr) {
    universal_span s = conformance::make_span(type, "mallory");
    s.id = id;
    s.visibility = logline::visibility::public_;
    if (!metadata.is_null()) s.metadata = std::move(metadata);
    b.ledger.on_behalf_of(b.mallory).append(s).value();
  };
  // The seed installer says so, and installs nothing.
  plant(runtime::seed_policy_id("ttl_reaper", carol), "policy");
  auto installed = runtime::install_seed_policies(b.ledger, carol);
  REQUIRE_FALSE(installed);
  CHECK(installed.error() == errc::integrity_violation);
  CHECK_THAT(installed.error().message(), Catch::Contains("squatted"));
  CHECK(b.ledger.as_operator().get(runtime::seed_policy_id("slow_execution", carol)).error() ==
        errc::not_found);
  // A job's state that is not the operator's is no state.
  plant(runtime::derived_uuid("logline.schedule_state\nmidnight_ruler"), "schedule_state",
        json{{"job", "midnight_ruler"}, {"next_due", "2001-01-01T00:00:00.000Z"}});
  runtime::ledger_state<typename attack_fixture<TestType>::ledger_type> state(b.ledger,
                                                                              {"midnight_ruler"});
  CHECK_FALSE(state.next_due("midnight_ruler").has_value());
  // A squatted policy cursor stops that policy (reported), not the agent nor anyone else's.
  plant(runtime::policy_cursor_id(policy_id), "policy_cursor", json{{"cursor", "999999999"}});
  b.created(b.alice_token, R"({"entity_type":"note","this":"x","metadata":{"ttl_minutes":60}})");
  const json out = b.run_policies();
  INFO(out.dump());
  REQUIRE(out["failed"].size() == 1);
  CHECK(out["failed"][0]["policy"] == policy_id.to_string());
  CHECK(out["evaluated"].template get<int>() >= 1);  // alice's seed policies ran
  // Seeding a ledger whose kernel id is squatted is refused, naming it.
  TestType g;
  typename attack_fixture<TestType>::ledger_type fresh{
      g.database(),
      {.identity = {"logline", std::nullopt}, .signing_key = conformance::test_key()}};
  universal_span kernel = conformance::make_span("function", "mallory");
  kernel.id = runtime::ids::observer_bot;
  fresh.on_behalf_of(b.mallory).append(kernel).value();
  auto seeded = runtime::seed(fresh);
  REQUIRE_FALSE(seeded);
  CHECK(seeded.error() == errc::integrity_violation);
  CHECK_THAT(seeded.error().message(), Catch::Contains(runtime::ids::observer_bot.to_string()));
}

TEMPLATE_TEST_CASE("attack: forging the runtime's records and a request's outcome", "[security]",
                   LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  const auto fn = b.created(
      b.alice_token, R"({"entity_type":"function","this":"f","language":"lua","code":"return 1"})");
  auto scheduled =
      b.post(b.alice_token, R"({"span_id":")" + fn["id"].template get<std::string>() + "\"}",
             "/api/execute");
  REQUIRE(scheduled->status == 202);
  const std::string request_id = body_of(scheduled)["request_id"].template get<std::string>();
  const auto before = b.snapshot();
  // Its owner cannot write its outcome: a request's later versions are the runtime's.
  auto faked = b.post(b.alice_token,
                      span_text({{"id", request_id},
                                 {"seq", 1},
                                 {"entity_type", "request"},
                                 {"this", "done"},
                                 {"status", "complete"},
                                 {"parent_id", fn["id"]},
                                 {"output", {{"execution_id", logline::uuid::v7().to_string()}}}}));
  CHECK(faked->status == 403);
  CHECK_THAT(faked->body, Catch::Contains("written by the runtime"));
  for (const char* type :
       {"execution", "boot_event", "policy_cursor", "policy_revisit", "policy_error",
        "policy_violation", "schedule_state", "ledger_state", "provider_execution", "law.decision",
        "law.verdict", "manifest", "api_token"}) {
    INFO(type);
    CHECK(b.post(b.alice_token, span_text({{"entity_type", type},
                                           {"this", "forged"},
                                           {"parent_id", fn["id"]},
                                           {"status", "complete"}}))
              ->status == 403);
  }
  // Nor can her code.
  const auto sneaky = b.created(
      b.alice_token,
      R"({"entity_type":"function","this":"g","language":"lua","code":"ctx.insert_span({entity_type = 'execution', this = 'x', status = 'complete'}) return 1"})");
  const auto e = b.run(sneaky["id"].template get<std::string>(), b.alice);
  CHECK(e.status == "error");
  CHECK_THAT((*e.error)["message"].template get<std::string>(),
             Catch::Contains("operator's namespace"));
  auto after = b.snapshot();
  after.resize(before.size());
  CHECK(after == before);  // (the run above appended its own boot_event and execution after them)
}

TEMPLATE_TEST_CASE("attack: a policy emitting into the operator's namespace or as someone else",
                   "[security]", LOGLINE_BACKENDS) {
  attack_fixture<TestType> b;
  b.created(b.alice_token,
            span_text({{"entity_type", "policy"},
                       {"this", "p"},
                       {"language", "lua"},
                       {"status", "active"},
                       {"code", R"(
    function on(span)
      if span.this == "token" then return {{emit_span = {entity_type = "api_token", this = "t", metadata = {user_id = "alice"}}}} end
      if span.this == "id" then return {{emit_span = {entity_type = "note", id = ")" +
                                    runtime::ids::manifest.to_string() + R"(", this = "x"}}} end
      if span.this == "who" then return {{emit_span = {entity_type = "note", who = "bob", this = "x"}}} end
      if span.this == "fine" then return {{emit_span = {entity_type = "alert", this = "ok"}}} end
      return {}
    end)"}}));
  for (const char* what : {"token", "id", "who", "fine"})
    b.created(b.alice_token, span_text({{"entity_type", "event"}, {"this", what}}));
  const json out = b.run_policies();
  INFO(out.dump());
  CHECK(out["policy_errors"] == 3);
  CHECK(b.of_type("api_token").size() ==
        3);  // the three of the fixture's tokens, and none of the policy's
  CHECK(b.of_type("alert").size() == 1);
  for (const auto& s : b.of_type("note")) CHECK(s.who != "bob");
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "attack: errors never carry the storage engine's words; bad UTF-8 in a query is a 400",
    "[security]", LOGLINE_BACKENDS) {
  http_test::access_log log;
  logline::http::server_options o;
  o.access_log = log.sink();
  attack_fixture<TestType> b(o);
  auto bad = b.get(b.alice_token, "/api/timeline?entity_type=%FF%FE");
  CHECK(bad->status == 400);
  CHECK_THAT(bad->body, Catch::Contains("not valid UTF-8"));
  httplib::Headers cursor = bearer(b.alice_token);
  cursor.emplace("Last-Event-ID", std::string("1\xff\xfe"));
  auto bad_cursor = b.c.Get("/api/timeline/stream", cursor);
  REQUIRE(bad_cursor);
  CHECK(bad_cursor->status == 400);
  CHECK(logline::is_valid_utf8(bad_cursor->body));

  REQUIRE(b.f.refuse_inserts("universal_registry"));
  auto refused = b.post(b.alice_token, note);
  REQUIRE(refused);
  INFO(refused->body);
  CHECK(refused->status >= 400);
  for (const char* engine_word : {"SQLSTATE", "refuse_all", "universal_registry", "logline_app",
                                  "permission denied for", "SQLite", "sqlite"})
    CHECK_THAT(refused->body, !Catch::Contains(engine_word));
  const std::string request_id = refused->get_header_value("X-Request-Id");
  CHECK_THAT(refused->body, Catch::Contains("request " + request_id));
  // The operator's log has the engine's words, under the request's id.
  const std::string line = log.find("\"request_id\":\"" + request_id + "\"");
  REQUIRE(!line.empty());
  CHECK_THAT(line, Catch::Contains("\"error\":"));
}
