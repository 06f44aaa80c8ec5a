// Tests of logline-cli (tools/cli/), run as a real process: keygen, append, export, verify, exit
// codes, all-or-nothing appends, versions, tenancy, and tampering done behind the ledger's back
// with the sqlite3 command-line tool. postgres_cli_test.cpp runs it with --postgres.
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "backends/conformance.hpp"
#include "http/http_fixture.hpp"
#include "catch.hpp"
#include "logline/ed25519.hpp"
#include "logline/json.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/run_code.hpp"
#include "logline/schema.hpp"
#include "logline/span.hpp"
#include "logline/version.hpp"
#include "support/cli_sandbox.hpp"
#include "support/process.hpp"

using namespace cli_test;
namespace fs = std::filesystem;

TEST_CASE("logline-cli: usage, help and exit codes", "[cli]") {
  sandbox box;
  auto help = box.cli("--help");
  CHECK(help.code == 0);
  for (const char* c : {"keygen", "append", "export", "verify"}) {
    CHECK(help.out.find(c) != std::string::npos);
    auto sub = box.cli(std::string(c) + " --help");
    INFO(c);
    CHECK(sub.code == 0);
    CHECK(sub.out.find(std::string("usage: logline-cli ") + c) != std::string::npos);
  }
  // Every command on its own line, its summary at least two spaces after the longest name.
  for (const char* c : {"keygen", "checkpoint", "token issue", "token revoke", "schema"}) {
    INFO(c);
    CHECK(help.out.find(std::string("\n  ") + c + "  ") != std::string::npos);
  }
  auto version = box.cli("--version");
  CHECK(version.code == 0);
  CHECK(version.out == std::string("logline-cli ") + logline::version + "\n");
  auto token_help = box.cli("token --help");
  CHECK(token_help.code == 0);
  CHECK(token_help.out.find("  token issue   ") != std::string::npos);
  CHECK(token_help.out.find("  token revoke  ") != std::string::npos);
  auto token_alone = box.cli("token");
  CHECK(token_alone.code == 2);
  CHECK(token_alone.err.find("token issue") != std::string::npos);
  auto none = box.cli("");
  CHECK(none.code == 2);
  CHECK(none.err.find("usage:") != std::string::npos);
  auto unknown = box.cli("frobnicate");
  CHECK(unknown.code == 2);
  CHECK(unknown.err.find("unknown command 'frobnicate'") != std::string::npos);
  CHECK(unknown.err.find("usage:") != std::string::npos);
  auto bad_flag = box.cli("export --db x.db --bogus");
  CHECK(bad_flag.code == 2);
  CHECK(bad_flag.err.find("unknown option '--bogus'") != std::string::npos);
  CHECK(bad_flag.err.find("usage: logline-cli export") != std::string::npos);
  auto missing_value = box.cli("verify --db");
  CHECK(missing_value.code == 2);
  auto stray = box.cli("verify --db x.db extra");
  CHECK(stray.code == 2);
  auto bad_threads = box.cli("verify --db x.db --threads zero");
  CHECK(bad_threads.code == 2);
  auto no_key = box.cli("append --db x.db --user alice", span_line("a"));
  CHECK(no_key.code == 2);
  CHECK_FALSE(fs::exists(box.path("x.db")));
}

TEST_CASE("logline-cli keygen: 0600 seed file, no overwrite, public key", "[cli]") {
  sandbox box;
  auto r = box.cli("keygen --out my.key");
  INFO(r.err);
  REQUIRE(r.code == 0);
  const std::string seed = read_file(box.path("my.key"));
  REQUIRE(seed.size() == 65);
  CHECK(is_hex(seed.substr(0, 64), 64));
  CHECK(seed.back() == '\n');
  struct stat st {};
  REQUIRE(::stat(box.path("my.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // stdout is the public key of that seed.
  auto key = logline::ed25519::key::from_file(box.path("my.key").string());
  REQUIRE(key.has_value());
  CHECK(r.out == key->public_key().to_string() + "\n");
  auto pub = box.cli("keygen --public --key my.key");
  CHECK(pub.code == 0);
  CHECK(pub.out == r.out);
  auto pub_env = box.cli("keygen --public --key-env SEED", "", "SEED=" + seed.substr(0, 64) + " ");
  CHECK(pub_env.code == 0);
  CHECK(pub_env.out == r.out);

  // No overwrite without --force; the file is left as it was.
  auto again = box.cli("keygen --out my.key");
  CHECK(again.code == 2);
  CHECK(again.out.empty());
  CHECK(again.err.find("already exists") != std::string::npos);
  CHECK(read_file(box.path("my.key")) == seed);

  // --force replaces it with a new key, still 0600 (even if the old file was wider).
  REQUIRE(::chmod(box.path("my.key").c_str(), 0644) == 0);
  auto forced = box.cli("keygen --out my.key --force");
  CHECK(forced.code == 0);
  const std::string seed2 = read_file(box.path("my.key"));
  CHECK(is_hex(seed2.substr(0, 64), 64));
  CHECK(seed2 != seed);
  CHECK(forced.out != r.out);
  REQUIRE(::stat(box.path("my.key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);

  // Two fresh keys differ; a bad seed file is refused.
  auto other = box.cli("keygen --out other.key");
  CHECK(other.code == 0);
  CHECK(read_file(box.path("other.key")) != seed2);
  write_file(box.path("bad.key"), "not a key\n");
  CHECK(box.cli("keygen --public --key bad.key").code == 2);
  CHECK(box.cli("keygen --public --key missing.key").code == 2);
  CHECK(box.cli("keygen").code == 2);
}

TEST_CASE("logline-cli append then export: a signed, linked chain", "[cli]") {
  sandbox box;
  make_key(box);
  const std::string input = span_line("first", R"(,"metadata":{"b":[1,2.5,"x"],"a":null})") +
                            "\n   \n" + span_line("second") +
                            span_line("third", R"(,"visibility":"tenant","status":"open")");
  auto appended = box.cli("append " + ledger_args, input);
  INFO(appended.err);
  REQUIRE(appended.code == 0);
  const auto stored = lines_of(appended.out);
  REQUIRE(stored.size() == 3);

  auto r = box.cli("export --db ledger.db");
  REQUIRE(r.code == 0);
  const auto lines = lines_of(r.out);
  REQUIRE(lines == stored);  // append prints exactly what is stored, in the same form
  std::string previous_hash;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    INFO(lines[i]);
    const auto j = parse(lines[i]);
    for (const char* k : {"id", "seq", "at", "curr_hash", "signature", "public_key",
                          "chain_position", "owner_id", "tenant_id"})
      CHECK(j.contains(k));
    CHECK(j.at("chain_position") == i);
    CHECK(j.at("seq") == 0);
    CHECK(j.at("owner_id") == "alice");
    CHECK(j.at("tenant_id") == "acme");
    CHECK(is_hex(j.at("curr_hash").get<std::string>(), 64));
    CHECK(is_hex(j.at("signature").get<std::string>(), 128));
    const std::string id = j.at("id").get<std::string>();
    REQUIRE(id.size() == 36);
    CHECK(id[14] == '7');                                          // UUIDv7
    CHECK(std::string("89ab").find(id[19]) != std::string::npos);  // RFC 9562 variant
    if (i == 0)
      CHECK_FALSE(j.contains("prev_hash"));
    else
      CHECK(j.at("prev_hash") == previous_hash);
    previous_hash = j.at("curr_hash").get<std::string>();

    // The export form is the span: it reads back, hashes to its curr_hash, and its keys are sorted.
    auto span = logline::span_from_json_text<logline::universal_span>(lines[i]);
    REQUIRE(span.has_value());
    CHECK(logline::span_hash(*span).to_string() == j.at("curr_hash").get<std::string>());
    CHECK(logline::span_to_json_text(*span) == lines[i]);
  }
  CHECK(parse(lines[0]).at("metadata") == parse(R"({"a":null,"b":[1,2.5,"x"]})"));
  CHECK(parse(lines[2]).at("visibility") == "tenant");

  auto v = box.cli("verify --db ledger.db");
  INFO(v.err);
  CHECK(v.code == 0);
  CHECK(v.out.empty());
  CHECK(box.cli("verify --db ledger.db --quiet").err.empty());

  // A second append continues the same chain.
  auto more = box.cli("append " + ledger_args, span_line("fourth"));
  REQUIRE(more.code == 0);
  const auto fourth = parse(more.out);
  CHECK(fourth.at("chain_position") == 3);
  CHECK(fourth.at("prev_hash") == previous_hash);
  CHECK(box.cli("verify --db ledger.db").code == 0);

  // Empty input appends nothing and succeeds.
  auto empty = box.cli("append " + ledger_args, "\n\n");
  CHECK(empty.code == 0);
  CHECK(empty.out.empty());
  CHECK(export_count(box) == 4);
}

TEST_CASE("logline-cli append: the key may come from the environment", "[cli]") {
  sandbox box;
  make_key(box);
  const std::string seed = read_file(box.path(key_file)).substr(0, 64);
  auto r = box.cli("append --db ledger.db --key-env MY_KEY --user alice", span_line("x"),
                   "MY_KEY=" + seed + " ");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto pub = box.cli(std::string("keygen --public --key ") + key_file);
  CHECK(parse(r.out).at("public_key").get<std::string>() + "\n" == pub.out);
  CHECK(box.cli("append --db ledger.db --key-env UNSET_VARIABLE_XYZ --user alice", span_line("y"))
            .code == 2);
  CHECK(box.cli("append --db ledger.db --key-env MY_KEY --key signing.key --user alice",
                span_line("y"), "MY_KEY=" + seed + " ")
            .code == 2);
  CHECK(export_count(box) == 1);
}

TEST_CASE("logline-cli append: one bad line and nothing is written", "[cli]") {
  sandbox box;
  make_key(box);
  populate(box, 3);
  REQUIRE(export_count(box) == 3);

  SECTION("a bad line among good ones") {
    const std::string input = span_line("good 1") + span_line("good 2") +
                              R"({"entity_type":"note","this":"x","colour":"red"})"
                              "\n" +
                              span_line("good 3");
    expect_refused(box, input, "line 3: unknown field 'colour'");
  }
  SECTION("unknown field") {
    expect_refused(box, span_line("x", R"(,"nonsense":1)"), "line 1: unknown field 'nonsense'");
  }
  SECTION("duplicate key (not I-JSON)") {
    expect_refused(box,
                   span_line("ok") + R"({"entity_type":"note","this":"x","this":"y"})"
                                     "\n",
                   "line 2: duplicate key");
  }
  SECTION("number that is not exact (not I-JSON)") {
    expect_refused(box, span_line("x", R"(,"metadata":{"n":12345678901234567890123})"), "line 1:");
  }
  SECTION("invalid UTF-8") { expect_refused(box, span_line("caf\xC3"), "line 1:"); }
  SECTION("wrong type") {
    expect_refused(box,
                   R"({"entity_type":7,"this":"x"})"
                   "\n",
                   "line 1: field 'entity_type'");
  }
  SECTION("wrong type of seq") {
    expect_refused(box, span_line("x", R"(,"seq":"0")"), "line 1: field 'seq'");
  }
  SECTION("null where a value is required") {
    expect_refused(box,
                   R"({"entity_type":null,"this":"x"})"
                   "\n",
                   "line 1:");
  }
  SECTION("ledger-owned fields") {
    for (const char* field :
         {"curr_hash", "prev_hash", "signature", "public_key", "chain_position", "at"}) {
      INFO(field);
      expect_refused(box,
                     span_line("ok") + span_line("x", std::string(R"(,")") + field + R"(":"0")"),
                     std::string("line 2: field '") + field + "' is set by the ledger");
    }
    // Even a well-formed value: a span exported from a ledger cannot be replayed into one.
    const auto first = lines_of(box.cli("export --db ledger.db").out).at(0);
    expect_refused(box, first + "\n", "is set by the ledger");
  }
  SECTION("not an object, not JSON, trailing garbage") {
    expect_refused(box, "[1,2]\n", "line 1: a span is a JSON object");
    expect_refused(box, span_line("a") + "{\"entity_type\":\n", "line 2:");
    expect_refused(box,
                   R"({"entity_type":"note","this":"x"} {})"
                   "\n",
                   "line 1:");
  }
  SECTION("missing key file: nothing read, nothing written") {
    const std::size_t before = export_count(box);
    auto r =
        box.cli("append --db ledger.db --key nope.key --user alice --tenant acme", span_line("x"));
    CHECK(r.code == 2);
    CHECK(export_count(box) == before);
  }
  SECTION("a line only the database refuses: the lines before it are rolled back") {
    // One scheduled request per parent (a unique index): line 3 fails inside the transaction,
    // after lines 1 and 2 were inserted.
    const std::string request = R"({"entity_type":"request","this":"run","status":"scheduled",)"
                                R"("parent_id":"01890a5d-ac96-774b-bcce-b302099a8057"})"
                                "\n";
    expect_refused(box, span_line("good") + request + request, "line 3:");
  }
  SECTION("every bad line is named") {
    auto r = box.cli("append " + ledger_args,
                     span_line("x", R"(,"a":1)") + span_line("ok") + span_line("y", R"(,"b":1)"));
    CHECK(r.code == 2);
    CHECK(r.err.find("line 1: unknown field 'a'") != std::string::npos);
    CHECK(r.err.find("line 3: unknown field 'b'") != std::string::npos);
    CHECK(r.err.find("line 2") == std::string::npos);
    CHECK(export_count(box) == 3);
  }
  CHECK(box.cli("verify --db ledger.db").code == 0);
}

// One reading of a client's span (logline/span_input.hpp) for the HTTP API and the CLI: what
// POST /api/spans refuses, append refuses with the same message, and stores nothing.
TEST_CASE("logline-cli append: what the HTTP API refuses, with its words, and nothing is stored",
          "[cli]") {
  http_test::http_fixture<conformance::sqlite_file> api;
  const auto token = api.token("alice", "acme");
  const std::size_t stored_by_api = api.stored();
  auto client = api.client();
  sandbox box;
  make_key(box);
  REQUIRE(box.cli("append " + ledger_args, span_line("kept")).code == 0);
  const std::vector<std::string> refused = {
      "{}",
      R"({"entity_type":"note"})",
      R"({"this":"x"})",
      R"({"entity_type":"note","this":"x","who":"bob"})",
      R"({"entity_type":1,"this":"x"})",
      R"({"entity_type":"note","this":"x","bogus":1})",
      "42",
      R"({"entity_type":"note","this":"x","curr_hash":")" + std::string(64, '0') + "\"}",
      R"({"entity_type":"note","this":"x","at":"2020-01-01T00:00:00.000Z"})",
  };
  for (const auto& input : refused) {
    auto posted = client.Post("/api/spans", http_test::bearer(token), input, "application/json");
    REQUIRE(posted);
    INFO(input << " -> " << posted->status << " " << posted->body);
    CHECK((posted->status == 400 || posted->status == 403));
    const std::string message =
        http_test::body_of(posted).at("error").at("message").get<std::string>();
    expect_refused(box, input + "\n", "line 1: " + message + "\n");
  }
  CHECK(api.stored() == stored_by_api);
  // Both name the first missing required field of an empty object.
  auto empty = box.cli("append " + ledger_args, "{}\n");
  CHECK_THAT(empty.err, Catch::Contains("line 1: missing required field 'entity_type'") &&
                            Catch::Contains("nothing was written"));
  CHECK(export_count(box) == 1);
}

TEST_CASE("logline-cli append: versions", "[cli]") {
  sandbox box;
  make_key(box);
  const std::string id = "01890a5d-ac96-774b-bcce-b302099a8057";
  const std::string with_id = R"({"id":")" + id + R"(","entity_type":"doc","this":")";

  // The same new id twice without seq: versions 0 and 1, in one call.
  auto r = box.cli("append " + ledger_args, with_id + "v0\"}\n" + with_id + "v1\"}\n");
  INFO(r.err);
  REQUIRE(r.code == 0);
  auto lines = lines_of(r.out);
  REQUIRE(lines.size() == 2);
  CHECK(parse(lines[0]).at("seq") == 0);
  CHECK(parse(lines[1]).at("seq") == 1);
  CHECK(parse(lines[0]).at("id") == id);

  // Without seq, the next call continues from what is stored; with seq, it must be exactly next.
  auto next = box.cli("append " + ledger_args, with_id + "v2\"}\n" + with_id +
                                                   R"(v3","seq":3})"
                                                   "\n");
  INFO(next.err);
  REQUIRE(next.code == 0);
  lines = lines_of(next.out);
  REQUIRE(lines.size() == 2);
  CHECK(parse(lines[0]).at("seq") == 2);
  CHECK(parse(lines[1]).at("seq") == 3);

  expect_refused(box,
                 with_id + R"(v9","seq":9})"
                           "\n",
                 "line 1:");  // not the next version
  expect_refused(box,
                 with_id + R"(again","seq":1})"
                           "\n",
                 "line 1:");  // already exists
  expect_refused(box,
                 with_id + "v4\"}\n" + with_id +
                     R"(v4 too","seq":4})"
                     "\n",
                 "line 2:");                                        // the batch's own line 1 is 4
  expect_refused(box, span_line("new", R"(,"seq":1)"), "line 1:");  // a new entity starts at 0
  expect_refused(box, span_line("neg", R"(,"seq":-1)"), "line 1:");

  // History is all there and intact.
  std::vector<int> seqs;
  for (const auto& s : exported(box))
    if (s.at("id") == id) seqs.push_back(s.at("seq").get<int>());
  CHECK(seqs == std::vector<int>{0, 1, 2, 3});
  CHECK(box.cli("verify --db ledger.db").code == 0);
}

TEST_CASE("logline-cli append: tenant isolation through --user/--tenant", "[cli]") {
  sandbox box;
  make_key(box);
  auto own = box.cli("append " + ledger_args,
                     span_line("mine", R"(,"owner_id":"alice","tenant_id":"acme")"));
  INFO(own.err);
  REQUIRE(own.code == 0);

  expect_refused(box, span_line("ok") + span_line("theirs", R"(,"owner_id":"bob")"), "line 2:");
  expect_refused(box, span_line("elsewhere", R"(,"tenant_id":"globex")"), "line 1:");
  // bob cannot write as alice either.
  expect_refused(box, span_line("forged", R"(,"owner_id":"alice")"),
                 "line 1:", "--db ledger.db --key signing.key --user bob --tenant acme");

  const std::string alice_id = parse(own.out).at("id").get<std::string>();

  // Only an entity's owner appends its versions: bob cannot add one to alice's (which he cannot
  // read: the answer is that of an id that does not exist), nor can alice in another tenant.
  auto bobs = box.cli("append --db ledger.db --key signing.key --user bob --tenant acme",
                      R"({"id":")" + alice_id +
                          R"(","entity_type":"note","this":"bob's version","seq":1})"
                          "\n");
  CHECK(bobs.code == 2);
  CHECK_THAT(bobs.err, Catch::Contains("does not exist yet"));
  auto elsewhere = box.cli("append --db ledger.db --key signing.key --user alice --tenant globex",
                           R"({"id":")" + alice_id +
                               R"(","entity_type":"note","this":"same name, other tenant"})"
                               "\n");
  CHECK(elsewhere.code == 2);
  auto alices =
      box.cli("append " + ledger_args, R"({"id":")" + alice_id +
                                           R"(","entity_type":"note","this":"v1"})"
                                           "\n" +
                                           R"({"id":")" + alice_id +
                                           R"(","entity_type":"note","this":"v2","seq":2})"
                                           "\n");
  INFO(alices.err);
  REQUIRE(alices.code == 0);
  CHECK(parse(lines_of(alices.out).at(0)).at("seq") == 1);
  CHECK(parse(lines_of(alices.out).at(1)).at("seq") == 2);

  // Each tenant has its own chain, starting at position 0; spans default to the writer.
  auto bob = box.cli("append --db ledger.db --key signing.key --user bob --tenant globex",
                     span_line("bob's"));
  INFO(bob.err);
  REQUIRE(bob.code == 0);
  const auto j = parse(bob.out);
  CHECK(j.at("owner_id") == "bob");
  CHECK(j.at("tenant_id") == "globex");
  CHECK(j.at("chain_position") == 0);
  CHECK_FALSE(j.contains("prev_hash"));
  CHECK(export_count(box) == 4);  // export is an operator's view: every owner, every tenant
  auto v = box.cli("verify --db ledger.db");
  CHECK(v.code == 0);
  CHECK(v.err.find("2 chains") != std::string::npos);
}

TEST_CASE("logline-cli export/verify: a missing or foreign database is an error, never created",
          "[cli]") {
  sandbox box;
  for (const char* cmd : {"export", "verify"}) {
    INFO(cmd);
    auto r = box.cli(std::string(cmd) + " --db missing.db");
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.find("missing.db") != std::string::npos);
    CHECK_FALSE(fs::exists(box.path("missing.db")));
  }
  write_file(box.path("empty.db"), "");
  CHECK(box.cli("verify --db empty.db").code == 2);
  CHECK(box.cli("export --db empty.db").code == 2);
  write_file(box.path("junk.db"), std::string(4096, 'x'));
  CHECK(box.cli("verify --db junk.db").code == 2);
  CHECK(box.cli("export --db junk.db").code == 2);
}

TEST_CASE("logline-cli verify: trusted keys", "[cli]") {
  sandbox box;
  make_key(box);
  const auto ids = populate(box, 4);
  const std::string pub =
      lines_of(box.cli(std::string("keygen --public --key ") + key_file).out).at(0);
  CHECK(box.cli("verify --db ledger.db --trust " + pub).code == 0);
  CHECK(box.cli(std::string("verify --db ledger.db --trust ") + key_file).code == 0);
  REQUIRE(box.cli("keygen --out stranger.key").code == 0);
  // Signed by a key that is not trusted: every span is reported.
  expect_tampered(box, std::set<std::string>(ids.begin(), ids.end()), "unknown key",
                  " --trust stranger.key");
  CHECK(box.cli("verify --db ledger.db --trust stranger.key --trust " + pub).code == 0);
  CHECK(box.cli("verify --db ledger.db --trust 1234").code == 2);
}

// Checkpoints: removing the last spans of a chain leaves a valid, shorter chain, which only a
// record of the chain heads kept elsewhere can reveal.
TEST_CASE("logline-cli checkpoint: the heads of a verified ledger, and verify --checkpoint",
          "[cli]") {
  sandbox box;
  make_key(box);
  const auto ids = populate(box, 10);
  REQUIRE(box.cli("keygen --out auditor.key").code == 0);

  auto taken = box.cli("checkpoint --db ledger.db --key auditor.key");
  INFO(taken.err);
  REQUIRE(taken.code == 0);
  REQUIRE(lines_of(taken.out).size() == 1);
  const auto cp = parse(taken.out);
  REQUIRE(cp.at("heads").size() == 1);
  CHECK(cp.at("heads")[0].at("chain") == "tenant:acme");
  CHECK(cp.at("heads")[0].at("position") == 9);
  CHECK(cp.at("heads")[0].at("id") == ids[9]);
  CHECK(cp.at("public_key") == box.cli("keygen --public --key auditor.key").out.substr(0, 64));
  CHECK_THAT(taken.err, Catch::Contains("1 chain head of 10 verified spans"));
  write_file(box.path("cp.json"), taken.out);
  // Unsigned, --quiet: the checkpoint alone.
  auto plain = box.cli("checkpoint --db ledger.db --quiet");
  REQUIRE(plain.code == 0);
  CHECK(plain.err.empty());
  CHECK_FALSE(parse(plain.out).contains("signature"));

  // The ledger grows: the checkpoint still holds.
  REQUIRE(box.cli("append " + ledger_args, span_line("later")).code == 0);
  auto grown =
      box.cli("verify --db ledger.db --checkpoint cp.json --trust auditor.key --trust signing.key");
  INFO(grown.out << grown.err);
  CHECK(grown.code == 0);
  CHECK_THAT(grown.err, Catch::Contains("the checkpoint's 1 chain heads"));

  // The last three spans removed behind the ledger's back.
  box.sql("ledger.db",
          "DROP TRIGGER universal_registry_no_delete; DELETE FROM universal_registry WHERE "
          "chain_position >= 8");
  CHECK(box.cli("verify --db ledger.db").code == 0);  // what the chain alone shows
  auto cut = box.cli("verify --db ledger.db --checkpoint cp.json");
  INFO(cut.out << cut.err);
  REQUIRE(cut.code == 1);
  const auto f = findings(cut.out);
  CHECK(ids_of(f) == std::set<std::string>{ids[9]});
  CHECK(reasons_of(f) == std::set<std::string>{"truncated"});
  CHECK_THAT(cut.out, Catch::Contains("the chain ends at position 7"));

  // A damaged ledger gets no checkpoint: its problems on stderr, nothing on stdout.
  box.sql("ledger.db",
          "DROP TRIGGER universal_registry_no_update; UPDATE universal_registry SET name = 'x' "
          "WHERE chain_position = 3");
  auto refused = box.cli("checkpoint --db ledger.db");
  CHECK(refused.code == 1);
  CHECK(refused.out.empty());
  CHECK_THAT(refused.err,
             Catch::Contains(ids[3] + " 0 hash mismatch") && Catch::Contains("not taken"));

  // Bad checkpoints are refused (exit 2) before anything is verified.
  const std::string text = read_file(box.path("cp.json"));
  write_file(box.path("forged.json"),
             std::string(text).replace(text.find("\"position\":9"), 12, "\"position\":7"));
  write_file(box.path("junk.json"), "{\"at\":1}");
  for (const auto& [args, message] : std::vector<std::pair<std::string, std::string>>{
           {"--checkpoint forged.json", "the signature does not verify"},
           {"--checkpoint junk.json", "'at' must be a timestamp string"},
           {"--checkpoint missing.json", "cannot open"},
           {"--checkpoint cp.json --trust signing.key",
            "not signed by a key given with --trust"}}) {
    auto r = box.cli("verify --db ledger.db " + args);
    INFO(args << ": " << r.err);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
    CHECK_THAT(r.err, Catch::Contains(message));
  }
}

// Tampering: an attacker with write access to the database file (but not the signing key)
// changes history with the sqlite3 tool. The append_only triggers stop casual UPDATE/DELETE, so
// they are dropped first. verify must exit 1 and name exactly the spans touched.
TEST_CASE("logline-cli verify: tampering is caught at exactly the tampered span", "[cli]") {
  sandbox box;
  make_key(box);
  const auto ids = populate(box, 20);
  REQUIRE(box.cli("verify --db ledger.db").code == 0);
  const std::string unlock =
      "DROP TRIGGER universal_registry_no_update; DROP TRIGGER universal_registry_no_delete; ";
  auto at = [](int position) { return " WHERE chain_position = " + std::to_string(position); };

  SECTION("(a) one changed column") {
    box.sql("ledger.db", unlock + "UPDATE universal_registry SET name = 'x'" + at(7));
    expect_tampered(box, {ids[7]}, "hash mismatch");
    expect_tampered(box, {ids[7]}, "hash mismatch", " --threads 1");
  }
  SECTION("(a) one changed value inside a JSON payload") {
    box.sql("ledger.db",
            unlock +
                R"(UPDATE universal_registry SET metadata = '{"amount":1000,"tags":["a","b"]}')" +
                at(13));
    expect_tampered(box, {ids[13]}, "hash mismatch");
  }
  SECTION("(a) the first and the last span") {
    box.sql("ledger.db", unlock + "UPDATE universal_registry SET \"this\" = 'forged'" + at(0) +
                             "; UPDATE universal_registry SET who = 'mallory'" + at(19));
    expect_tampered(box, {ids[0], ids[19]}, "hash mismatch");
  }
  SECTION("(a) a changed owner (moving a span to another user)") {
    box.sql("ledger.db", unlock + "UPDATE universal_registry SET owner_id = 'mallory'" + at(4));
    expect_tampered(box, {ids[4]}, "hash mismatch");
  }
  SECTION("(b) a deleted middle row: reported at the span after the gap") {
    box.sql("ledger.db", unlock + "DELETE FROM universal_registry" + at(10));
    expect_tampered(box, {ids[11]}, "gap");
    CHECK(export_count(box) == 19);
  }
  SECTION("(b) several deleted rows in a row: one gap") {
    box.sql("ledger.db",
            unlock + "DELETE FROM universal_registry WHERE chain_position BETWEEN 5 AND 8");
    expect_tampered(box, {ids[9]}, "gap");
  }
  SECTION("(c) two spans swapped in history") {
    // Reordering history means moving span 5 to where span 12 was and span 12 to where span 5
    // was: every column travels with its span except the position in the chain. That is the
    // same as swapping the two rows' chain_position values (the unique index on the position
    // needs a free slot in between). chain_position is hashed, so both spans are reported as
    // changed, and nothing else is: the links around them are not blamed on their neighbours.
    // (Swapping the rows including their positions would change nothing the chain depends on:
    // only SQLite's physical row order, which is not history.)
    box.sql("ledger.db", unlock + "UPDATE universal_registry SET chain_position = 1000" + at(5) +
                             "; UPDATE universal_registry SET chain_position = 5" + at(12) +
                             "; UPDATE universal_registry SET chain_position = 12" + at(1000));
    expect_tampered(box, {ids[5], ids[12]}, "hash mismatch");
  }
  SECTION("(c) two spans' payloads swapped, positions and ids kept") {
    box.sql("ledger.db", unlock +
                             "CREATE TEMP TABLE snap AS SELECT chain_position AS p, name, "
                             "metadata, \"this\" FROM universal_registry; "
                             "UPDATE universal_registry SET (name, metadata, \"this\") = "
                             "(SELECT name, metadata, \"this\" FROM snap WHERE p = CASE "
                             "universal_registry.chain_position WHEN 3 THEN 16 ELSE 3 END)"
                             " WHERE chain_position IN (3, 16)");
    // The swap took effect (read behind the ledger's back: export stops at a tampered span).
    CHECK(box.shell(
                 "sqlite3 ledger.db 'SELECT name FROM universal_registry WHERE chain_position = 3'")
              .out == "n16\n");
    expect_tampered(box, {ids[3], ids[16]}, "hash mismatch");
  }
  SECTION("(d) a signature replaced by another span's (valid-looking) signature") {
    box.sql(
        "ledger.db",
        unlock +
            "UPDATE universal_registry SET signature = (SELECT signature FROM universal_registry" +
            at(2) + ")" + at(9));
    expect_tampered(box, {ids[9]}, "bad signature");
  }
  SECTION("(d) a signature replaced by random hex") {
    box.sql(
        "ledger.db",
        unlock + "UPDATE universal_registry SET signature = lower(hex(randomblob(64)))" + at(15));
    expect_tampered(box, {ids[15]}, "bad signature");
  }
  SECTION("(d) content changed and re-hashed, but it cannot be re-signed") {
    // The attacker changes a span and stores the matching curr_hash (BLAKE3 is public), leaving
    // the next span's prev_hash as it was. Without the signing key the forged span fails its
    // signature; its successor's link is not blamed on the successor.
    std::string line;
    for (const auto& l : lines_of(box.cli("export --db ledger.db").out))
      if (parse(l).at("chain_position") == 6) line = l;
    auto span = logline::span_from_json_text<logline::universal_span>(line);
    REQUIRE(span.has_value());
    span->name = "forged";
    const std::string forged_hash = logline::span_hash(*span).to_string();
    box.sql("ledger.db", unlock + "UPDATE universal_registry SET name = 'forged', curr_hash = '" +
                             forged_hash + "'" + at(6));
    expect_tampered(box, {ids[6]}, "bad signature");
  }
}

TEST_CASE("logline-cli get, tail, export --since and import", "[cli]") {
  sandbox box;
  make_key(box);
  const auto ids = populate(box, 6);
  // get: a span, a version, a history; operator reads (every owner).
  auto one = box.cli("get --db ledger.db --id " + ids[2]);
  REQUIRE(one.code == 0);
  CHECK(parse(one.out)["id"] == ids[2]);
  auto v = box.cli("append " + ledger_args,
                   R"({"entity_type":"note","this":"v1","id":")" + ids[2] + "\"}\n");
  REQUIRE(v.code == 0);
  CHECK(parse(box.cli("get --db ledger.db --id " + ids[2]).out)["seq"] == 1);
  CHECK(parse(box.cli("get --db ledger.db --id " + ids[2] + " --seq 0").out)["seq"] == 0);
  CHECK(lines_of(box.cli("get --db ledger.db --id " + ids[2] + " --history").out).size() == 2);
  CHECK(box.cli("get --db ledger.db --id 00000000-0000-4000-8000-000000000001").code == 2);

  // tail: the feed in order, resumable from a cursor.
  auto all = box.cli("tail --db ledger.db --cursors");
  REQUIRE(all.code == 0);
  const auto lines = lines_of(all.out);
  REQUIRE(lines.size() == 7);
  const std::string third_cursor = lines[2].substr(0, lines[2].find('\t'));
  auto rest = lines_of(box.cli("tail --db ledger.db --after " + third_cursor).out);
  REQUIRE(rest.size() == 4);
  CHECK(parse(rest[0])["id"] == ids[3]);
  CHECK(box.cli("tail --db ledger.db --after nonsense").code == 2);

  // export --since: nothing after the far future, everything since the epoch.
  CHECK(lines_of(box.cli("export --db ledger.db --since 2099-01-01T00:00:00.000Z").out).empty());
  CHECK(lines_of(box.cli("export --db ledger.db --since 1970-01-01T00:00:00.000Z").out).size() ==
        7);
  CHECK(box.cli("export --db ledger.db --since yesterday").code == 2);

  // import: an export goes into a fresh database as it is, and verifies.
  const std::string exported_text = box.cli("export --db ledger.db").out;
  auto imported = box.cli("import --db copy.db", exported_text);
  INFO(imported.err);
  REQUIRE(imported.code == 0);
  CHECK(box.cli("export --db copy.db").out == exported_text);
  CHECK(box.cli("verify --db copy.db").code == 0);
  // Importing again: every span is already there; nothing changes.
  auto again = box.cli("import --db copy.db", exported_text);
  CHECK(again.code == 2);
  CHECK(box.cli("export --db copy.db").out == exported_text);
  // One altered span, a broken link or a bad signature anywhere: nothing is imported.
  auto tampered = exported_text;
  tampered.replace(tampered.find("\"this\":\"span 4\""), 15, "\"this\":\"span X\"");
  auto bad = box.cli("import --db other.db", tampered);
  CHECK(bad.code == 2);
  CHECK_THAT(bad.err, Catch::Contains("does not hash to its curr_hash"));
  auto skip = lines_of(exported_text);
  skip.erase(skip.begin() + 3);  // a gap in the chain
  std::string gapped;
  for (const auto& l : skip) gapped += l + "\n";
  auto gap = box.cli("import --db other.db", gapped);
  CHECK(gap.code == 2);
  CHECK_THAT(gap.err, Catch::Contains("chain"));
  CHECK(box.cli("export --db other.db").out.empty());
}

// Every reader reports a span that does not hold up the same way: get and tail refuse it, and
// export stops at it (naming its id and version) with exit 2, after the spans before it.
TEST_CASE("logline-cli export: a tampered span stops the export, like get and tail", "[cli]") {
  sandbox box;
  make_key(box);
  const auto ids = populate(box, 5);
  box.sql("ledger.db",
          "DROP TRIGGER universal_registry_no_update; UPDATE universal_registry SET \"this\" = "
          "'forged' WHERE chain_position = 2");
  const std::string expected = "span " + ids[2] + " version 0 does not match its curr_hash";

  auto ex = box.cli("export --db ledger.db");
  INFO(ex.err);
  CHECK(ex.code == 2);
  CHECK_THAT(ex.err, Catch::Contains(expected));
  const auto lines = lines_of(ex.out);
  REQUIRE(lines.size() == 2);  // the spans committed before it, then nothing
  CHECK(parse(lines[0]).at("id") == ids[0]);
  CHECK(parse(lines[1]).at("id") == ids[1]);
  // --since does not skip the check: a span's `at` means something only once its hash holds.
  auto since = box.cli("export --db ledger.db --since 2099-01-01T00:00:00.000Z");
  CHECK(since.code == 2);
  CHECK(since.out.empty());
  CHECK_THAT(since.err, Catch::Contains(expected));

  auto got = box.cli("get --db ledger.db --id " + ids[2]);
  CHECK(got.code == 2);
  CHECK_THAT(got.err, Catch::Contains(expected));
  auto tailed = box.cli("tail --db ledger.db");
  CHECK(tailed.code == 2);
  CHECK_THAT(tailed.err, Catch::Contains(expected));
  // The other spans still read.
  CHECK(box.cli("get --db ledger.db --id " + ids[3]).code == 0);
}

TEST_CASE("logline-cli seed: LogLineOS's manifest and kernels, signed, once", "[cli]") {
  sandbox box;
  make_key(box);
  auto first = box.cli("seed --db ledger.db --key signing.key");
  INFO(first.err);
  REQUIRE(first.code == 0);
  CHECK_THAT(first.err, Catch::Contains("6 spans appended"));
  auto again = box.cli("seed --db ledger.db --key signing.key");
  REQUIRE(again.code == 0);
  CHECK_THAT(again.err, Catch::Contains("nothing appended"));
  CHECK(lines_of(box.cli("export --db ledger.db").out).size() == 6);
  CHECK(box.cli("verify --db ledger.db --quiet").code == 0);
  auto manifest =
      parse(box.cli("get --db ledger.db --id 00000000-0000-4000-8000-0000000000aa").out);
  CHECK(manifest.at("entity_type") == "manifest");
  CHECK(manifest.at("visibility") == "public");
  CHECK(manifest.at("metadata").at("kernels").at("run_code") ==
        "00000000-0000-4000-8000-000000000001");
  CHECK(manifest.at("metadata").at("override_pubkey_hex") == manifest.at("public_key"));
  auto kernel = parse(box.cli("get --db ledger.db --id 00000000-0000-4000-8000-000000000005").out);
  CHECK(kernel.at("name") == "provider_exec");
  CHECK(kernel.at("entity_type") == "function");
  // Without a key: a clear error, nothing written.
  auto keyless = box.cli("seed --db other.db");
  CHECK(keyless.code == 2);
  CHECK_FALSE(fs::exists(box.path("other.db")));
}

TEST_CASE("logline-cli seed --policies: the seed policies for one owner and tenant, once",
          "[cli]") {
  sandbox box;
  make_key(box);
  REQUIRE(box.cli("seed --db ledger.db --key signing.key").code == 0);
  auto first = box.cli("seed --db ledger.db --key signing.key --policies --user ops --tenant acme");
  INFO(first.err);
  REQUIRE(first.code == 0);
  CHECK_THAT(first.err, Catch::Contains("2 spans appended"));
  auto ids = lines_of(first.out);
  REQUIRE(ids.size() == 2);
  CHECK(ids[0].rfind("ttl_reaper ", 0) == 0);
  auto again = box.cli("seed --db ledger.db --key signing.key --policies --user ops --tenant acme");
  CHECK(again.code == 0);
  CHECK_THAT(again.err, Catch::Contains("nothing appended"));
  CHECK(again.out == first.out);
  auto policy = parse(
      box.cli("get --db ledger.db --id " + ids[0].substr(std::string("ttl_reaper ").size())).out);
  CHECK(policy.at("entity_type") == "policy");
  CHECK(policy.at("name") == "ttl_reaper");
  CHECK(policy.at("owner_id") == "ops");
  CHECK(policy.at("tenant_id") == "acme");
  CHECK(policy.at("status") == "active");
  CHECK(box.cli("verify --db ledger.db --quiet").code == 0);
  // Usage errors, nothing written: no owner; --sql; --user without --policies.
  const auto before = lines_of(box.cli("export --db ledger.db").out).size();
  CHECK(before == 8);
  for (const char* args : {"seed --db ledger.db --key signing.key --policies",
                           "seed --sql sqlite --key signing.key --policies --user ops",
                           "seed --db ledger.db --key signing.key --user ops"})
    CHECK(box.cli(args).code == 2);
  CHECK(lines_of(box.cli("export --db ledger.db").out).size() == before);
}

TEST_CASE("logline-cli seed --sql sqlite: a script that seeds an empty ledger, all or nothing",
          "[cli]") {
  sandbox box;
  make_key(box);
  auto script = box.cli("seed --sql sqlite --key signing.key");
  INFO(script.err);
  REQUIRE(script.code == 0);
  CHECK_THAT(script.out, Catch::StartsWith("--") &&
                             Catch::Contains("\nBEGIN;\nINSERT INTO \"universal_registry\" (") &&
                             Catch::EndsWith(";\nCOMMIT;\n"));

  // An empty ledger made from the DDL alone (sql/sqlite/0001_universal_registry.sql, which also
  // records the table in logline_schema): read-only commands open it as it is.
  auto ddl = box.cli("schema");
  REQUIRE(ddl.code == 0);
  auto created = box.shell("sqlite3 ledger.db", ddl.out);
  INFO(created.err);
  REQUIRE(created.code == 0);
  auto applied = box.shell("sqlite3 ledger.db", script.out);
  INFO(applied.err);
  REQUIRE(applied.code == 0);

  auto v = box.cli("verify --db ledger.db");
  INFO(v.out << v.err);
  CHECK(v.code == 0);
  CHECK_THAT(v.err, Catch::Contains("6 spans in 1 chain"));
  const auto spans = exported(box);
  REQUIRE(spans.size() == 6);
  const std::string pub = lines_of(box.cli("keygen --public --key signing.key").out).at(0);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    CHECK(spans[i].at("chain_position") == i);
    CHECK(spans[i].at("public_key") == pub);
    CHECK(spans[i].at("owner_id") == "logline");
    CHECK_FALSE(spans[i].contains("tenant_id"));
  }
  const auto manifest = spans.back();
  CHECK(manifest.at("id") == "00000000-0000-4000-8000-0000000000aa");
  CHECK(manifest.at("metadata").at("override_pubkey_hex") == pub);
  // What `seed --db` would have appended, apart from the time and what is hashed over it.
  auto direct = box.cli("seed --db direct.db --key signing.key");
  REQUIRE(direct.code == 0);
  const auto expected = exported(box, "direct.db");
  REQUIRE(expected.size() == spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    auto a = spans[i], b = expected[i];
    for (const char* k : {"at", "prev_hash", "curr_hash", "signature"}) a.erase(k), b.erase(k);
    CHECK(a == b);
  }
  // `seed --db` on the scripted ledger finds everything there already.
  auto reseed = box.cli("seed --db ledger.db --key signing.key");
  CHECK(reseed.code == 0);
  CHECK_THAT(reseed.err, Catch::Contains("nothing appended"));

  // Applied again: the script fails and changes nothing.
  const std::string before = box.cli("export --db ledger.db").out;
  auto again = box.shell("sqlite3 ledger.db", script.out);
  CHECK(again.code != 0);
  CHECK_THAT(again.err, Catch::Contains("UNIQUE constraint failed"));
  CHECK(box.cli("export --db ledger.db").out == before);
  // On a ledger whose chain without a tenant has a span (other ids): fails on the chain index,
  // and none of the six rows goes in.
  REQUIRE(box.cli("append --db other.db --key signing.key --user bob", span_line("first")).code ==
          0);
  auto taken = box.shell("sqlite3 other.db", script.out);
  CHECK(taken.code != 0);
  CHECK_THAT(taken.err, Catch::Contains("universal_registry_chain"));
  CHECK(exported(box, "other.db").size() == 1);

  // Bad usage: exit 2, nothing printed, nothing created.
  for (const char* args :
       {"seed --sql mysql --key signing.key", "seed --sql sqlite",
        "seed --sql sqlite --db x.db --key signing.key", "seed --sql postgres --key missing.key"}) {
    INFO(args);
    auto r = box.cli(args);
    CHECK(r.code == 2);
    CHECK(r.out.empty());
  }
  CHECK_FALSE(fs::exists(box.path("x.db")));
}

TEST_CASE("logline-cli force: the override grant for a function's code", "[cli]") {
  sandbox box;
  make_key(box);
  REQUIRE(box.cli("keygen --out override.key").code == 0);
  REQUIRE(box.cli("seed --db ledger.db --key override.key").code ==
          0);  // the manifest's override key
  auto fn_line =
      box.cli("append " + ledger_args,
              R"({"entity_type":"function","this":"f","language":"lua","code":"return 42"})"
              "\n");
  INFO(fn_line.err);
  REQUIRE(fn_line.code == 0);
  auto fn = logline::span_from_json_text<logline::universal_span>(lines_of(fn_line.out).at(0));
  REQUIRE(fn.has_value());
  auto manifest_span = logline::span_from_json_text<logline::universal_span>(
      lines_of(box.cli("get --db ledger.db --id 00000000-0000-4000-8000-0000000000aa").out).at(0));
  REQUIRE(manifest_span.has_value());
  auto manifest = logline::runtime::manifest::from_span(*manifest_span);
  REQUIRE(manifest.has_value());

  auto r = box.cli("force --db ledger.db --key override.key --function " + fn->id.to_string());
  INFO(r.err);
  REQUIRE(r.code == 0);
  CHECK_THAT(r.err, !Catch::Contains("warning"));
  const auto grant = parse(r.out);
  const auto key = logline::ed25519::key::from_file(box.path("override.key").string()).value();
  CHECK(grant ==
        logline::json{
            {"force", {{"signature", logline::runtime::force_grant(key, fn->id, "return 42")}}}});
  fn->metadata = grant;
  CHECK(logline::runtime::force_granted(*fn, *manifest));
  fn->code = "return 43";  // other code: the grant no longer holds
  CHECK_FALSE(logline::runtime::force_granted(*fn, *manifest));

  // A key that is not the manifest's: a grant, with a warning, that run_code would refuse.
  auto other = box.cli("force --db ledger.db --key signing.key --function " + fn->id.to_string());
  CHECK(other.code == 0);
  CHECK_THAT(other.err, Catch::Contains("warning"));
  fn->code = "return 42";
  fn->metadata = parse(other.out);
  CHECK_FALSE(logline::runtime::force_granted(*fn, *manifest));

  // Refused, exit 2, nothing on stdout: no such span, not a function, a function without code,
  // bad usage, a missing database (not created).
  auto no_code = box.cli("append " + ledger_args, R"({"entity_type":"function","this":"empty"})"
                                                  "\n");
  REQUIRE(no_code.code == 0);
  const std::string no_code_id = parse(no_code.out).at("id").get<std::string>();
  const std::pair<std::string, std::string> refusals[] = {
      {"--db ledger.db --key override.key --function 00000000-0000-4000-8000-0000000000ff",
       "not found"},
      {"--db ledger.db --key override.key --function 00000000-0000-4000-8000-0000000000aa",
       "is not a function"},
      {"--db ledger.db --key override.key --function " + no_code_id, "has no code"},
      {"--db ledger.db --key override.key --function nonsense", "--function"},
      {"--db ledger.db --function " + fn->id.to_string(), "--key"},
      {"--db missing.db --key override.key --function " + fn->id.to_string(), "missing.db"},
  };
  for (const auto& [args, message] : refusals) {
    INFO(args);
    auto bad = box.cli("force " + args);
    CHECK(bad.code == 2);
    CHECK(bad.out.empty());
    CHECK_THAT(bad.err, Catch::Contains(message));
  }
  CHECK_FALSE(fs::exists(box.path("missing.db")));
}
