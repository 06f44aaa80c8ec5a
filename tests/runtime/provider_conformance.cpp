// The provider_exec kernel on one backend (a conformance source: compiled once per backend),
// against a fake provider on 127.0.0.1: OpenAI and Ollama shapes, retries with backoff and
// Retry-After, timeouts, malformed answers, missing credentials, and the API key never on record.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <thread>

#include <logline/http/provider_client.hpp>
#include <logline/runtime/provider_exec.hpp>

#include "runtime/runtime_fixture.hpp"

namespace runtime = logline::runtime;
using logline::json;

namespace {

// An HTTP server on a free loopback port; `respond` answers the n-th request (from 1).
struct fake_provider {
  struct seen {
    std::string path, authorization, body;
    bool has_authorization = false;
  };
  using responder = std::function<void(int, const httplib::Request&, httplib::Response&)>;

  httplib::Server svr;
  int port = -1;
  std::thread thread;
  std::mutex m;
  std::condition_variable stopping_cv;
  bool stopping = false;
  std::vector<seen> requests;
  responder respond;

  explicit fake_provider(responder r) : respond(std::move(r)) {
    auto handler = [this](const httplib::Request& req, httplib::Response& res) {
      int n;
      {
        std::lock_guard lock(m);
        requests.push_back({req.path, req.get_header_value("Authorization"), req.body,
                            req.has_header("Authorization")});
        n = static_cast<int>(requests.size());
      }
      respond(n, req, res);
    };
    svr.Post("/v1/chat/completions", handler);
    svr.Post("/api/chat", handler);
    port = svr.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::yield();
  }
  ~fake_provider() {
    {
      std::lock_guard lock(m);
      stopping = true;
    }
    stopping_cv.notify_all();
    svr.stop();
    thread.join();
  }
  // Holds a request for `d` (or until the server stops).
  void stall(std::chrono::milliseconds d) {
    std::unique_lock lock(m);
    stopping_cv.wait_for(lock, d, [this] { return stopping; });
  }
  std::size_t hits() {
    std::lock_guard lock(m);
    return requests.size();
  }
  seen request(std::size_t i) {
    std::lock_guard lock(m);
    return requests.at(i);
  }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port) + path;
  }
};

json openai_answer(const std::string& content) {
  return json{{"id", "chatcmpl-1"},
              {"object", "chat.completion"},
              {"model", "gpt-test"},
              {"choices",
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", content}}},
                 {"finish_reason", "stop"}}}},
              {"usage", {{"prompt_tokens", 9}, {"completion_tokens", 3}, {"total_tokens", 12}}}};
}

// An environment variable holding a fresh key for the length of a test.
struct api_key {
  std::string name, value;
  api_key() {
    static std::atomic<int> n{0};
    const auto tag = logline::uuid::v7().to_string().substr(24);
    name = "LOGLINE_TEST_PROVIDER_KEY_" + std::to_string(n++) + "_" + tag;
    value = "sk-test-" + logline::uuid::v7().to_string();
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~api_key() { ::unsetenv(name.c_str()); }
};

template <class F>
struct provider_fixture : runtime_test::fixture<F> {
  using typename runtime_test::fixture<F>::ledger_type;
  using runtime_test::fixture<F>::ledger;
  using runtime_test::fixture<F>::stage0;
  using runtime_test::fixture<F>::alice;
  runtime::provider_exec<ledger_type> kernel;

  // The fake providers listen on loopback: the operator allows it here (by default it is
  // refused), and a key over plain http to it.
  explicit provider_fixture(bool loopback_allowed = true) {
    runtime::seed(ledger).value();
    kernel.transport = logline::http::provider_client();
    kernel.base_delay = std::chrono::milliseconds(1);
    kernel.max_delay = std::chrono::milliseconds(250);
    if (loopback_allowed) {
      kernel.config.private_hosts = {"127.0.0.1"};
      kernel.config.http_key_hosts = {"127.0.0.1"};
    }
    stage0.register_kernel(runtime::ids::provider_exec, kernel);
  }
  void set_kernel(runtime::provider_exec<ledger_type> k) {
    kernel = std::move(k);
    if (!kernel.transport) kernel.transport = logline::http::provider_client();
    stage0.register_kernel(runtime::ids::provider_exec, kernel);
  }
  // The operator's configuration, changed.
  template <class Change>
  void configure(Change&& change) {
    change(kernel.config);
    stage0.register_kernel(runtime::ids::provider_exec, kernel);
  }
  // The operator configures `key` as a credential, for 127.0.0.1.
  void allow(const api_key& key) {
    configure([&](runtime::provider_config& c) {
      c.credentials[key.name] = {key.name, {"127.0.0.1"}};
    });
  }
  logline::uuid provider(json metadata) {
    logline::universal_span s = conformance::make_span("provider", "alice");
    s.name = "test provider";
    s.metadata = std::move(metadata);
    return ledger.as(alice).append(s).value().id;
  }
  logline::universal_span run(const logline::uuid& provider, const logline::identity& who,
                              json options = nullptr) {
    json input{{"provider_id", provider.to_string()},
               {"messages", {{{"role", "user"}, {"content", "Say hi"}}}}};
    if (!options.is_null()) input["options"] = std::move(options);
    return stage0.boot(runtime::ids::provider_exec, std::move(input), who).value();
  }
  logline::universal_span last_execution() {
    auto all = this->of_type("provider_execution");
    REQUIRE_FALSE(all.empty());
    return all.back();
  }
  // The key appears in no stored span.
  void key_nowhere(const std::string& key) {
    for (const auto& s : conformance::all_spans(ledger)) {
      INFO(s.entity_type);
      CHECK(logline::span_to_json_text(s).find(key) == std::string::npos);
    }
  }
};

}  // namespace

TEMPLATE_TEST_CASE(
    "provider_exec: an OpenAI-shaped call with the key from auth_env is a signed "
    "provider_execution",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  api_key key;
  b.allow(key);
  fake_provider server([&](int, const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Authorization") != "Bearer " + key.value) {
      res.status = 401;
      res.set_content(R"({"error":{"message":"bad key"}})", "application/json");
      return;
    }
    res.set_content(openai_answer("hi there").dump(), "application/json");
  });
  const auto p = b.provider(
      json{{"base_url", server.url("/v1/")}, {"model", "gpt-test"}, {"auth_env", key.name}});
  const auto execution = b.run(p, b.alice, json{{"temperature", 0.5}});
  INFO(execution.error.value_or(json(nullptr)).dump());
  REQUIRE(execution.status == "complete");
  CHECK((*execution.output)["content"] == "hi there");

  REQUIRE(server.hits() == 1);
  const auto sent = server.request(0);
  CHECK(sent.path == "/v1/chat/completions");  // base_url ".../v1/": not /v1/v1
  const auto body = json::parse(sent.body);
  CHECK(body["model"] == "gpt-test");
  CHECK(body["messages"][0]["content"] == "Say hi");
  CHECK(body["temperature"] == 0.5);

  const auto pe = b.last_execution();
  CHECK(pe.status == "complete");
  CHECK(pe.parent_id == p);
  CHECK(pe.owner_id == "alice");
  CHECK(pe.tenant_id == "acme");
  CHECK(pe.trace_id == execution.trace_id);
  CHECK(pe.input == body);
  CHECK((*pe.output)["content"] == "hi there");
  CHECK((*pe.output)["usage"]["total_tokens"] == 12);
  CHECK((*pe.metadata)["attempts"] == 1);
  CHECK((*pe.metadata)["http_status"] == 200);
  CHECK((*pe.metadata)["model"] == "gpt-test");
  CHECK((*pe.metadata)["kind"] == "openai");
  CHECK(pe.duration_ms.has_value());
  CHECK(provider_fixture<TestType>::authentic(pe));
  b.key_nowhere(key.value);

  // bob may not read alice's provider: nothing is sent, nothing recorded.
  const auto refused = b.run(p, b.bob);
  CHECK(refused.status == "error");
  CHECK((*refused.error)["code"] == "not_found");
  CHECK(server.hits() == 1);
  CHECK(b.of_type("provider_execution").size() == 1);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "provider_exec: the request goes through the transport it is given, and without one nothing "
    "is sent",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  api_key key;
  b.allow(key);
  // A transport of the program's own: what provider_exec decided arrives in it (the checked
  // address, the credential, the timeout), and its answers are the provider's.
  std::vector<runtime::provider_request> seen;
  auto kernel = b.kernel;
  kernel.transport = [&](const runtime::provider_request& r) {
    seen.push_back(r);
    runtime::provider_response out;
    if (seen.size() == 1) {
      out.failed = runtime::provider_response::failure::connect;
      out.failure_text = "refused";
      return out;
    }
    out.status = 200;
    out.body = openai_answer("from the transport").dump();
    return out;
  };
  b.set_kernel(kernel);
  const auto p = b.provider(json{{"base_url", "http://127.0.0.1:9/v1"},
                                 {"model", "m"},
                                 {"auth_env", key.name},
                                 {"timeout_ms", 1234}});
  const auto e = b.run(p, b.alice);
  INFO(e.error.value_or(json(nullptr)).dump());
  REQUIRE(e.status == "complete");
  CHECK((*e.output)["content"] == "from the transport");
  REQUIRE(seen.size() == 2);  // a refused connection is retried
  CHECK_FALSE(seen[0].https);
  CHECK(seen[0].host == "127.0.0.1");
  CHECK(seen[0].address == "127.0.0.1");
  CHECK(seen[0].port == 9);
  CHECK(seen[0].path == "/v1/chat/completions");
  CHECK(seen[0].timeout == std::chrono::milliseconds(1234));
  CHECK(json::parse(seen[0].body)["model"] == "m");
  CHECK(std::count(seen[0].headers.begin(), seen[0].headers.end(),
                   std::pair<std::string, std::string>("Authorization", "Bearer " + key.value)) ==
        1);
  CHECK((*b.last_execution().metadata)["attempts"] == 2);
  b.key_nowhere(key.value);

  // Without a transport: an error on record, and nothing sent.
  b.kernel.transport = nullptr;
  b.stage0.register_kernel(runtime::ids::provider_exec, b.kernel);
  CHECK(b.run(p, b.alice).status == "error");
  const auto pe = b.last_execution();
  CHECK((*pe.error)["code"] == "transport_unavailable");
  CHECK((*pe.metadata)["attempts"] == 0);
  CHECK(seen.size() == 2);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE(
    "provider_exec: Ollama's /api/chat shape, by kind or by a base_url ending in /api",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  fake_provider server([](int, const httplib::Request& req, httplib::Response& res) {
    const auto body = json::parse(req.body);
    if (body["stream"] != false) {
      res.status = 400;
      return;
    }
    res.set_content(json{{"model", body["model"]},
                         {"message", {{"role", "assistant"}, {"content", "llama says hi"}}},
                         {"done", true},
                         {"prompt_eval_count", 5},
                         {"eval_count", 7}}
                        .dump(),
                    "application/json");
  });
  const auto by_kind =
      b.provider(json{{"base_url", server.url()}, {"model", "llama3"}, {"kind", "ollama"}});
  const auto by_path = b.provider(json{{"base_url", server.url("/api")}, {"model", "llama3"}});
  for (const auto& p : {by_kind, by_path}) {
    const auto execution = b.run(p, b.alice, json{{"temperature", 0}});
    INFO(execution.error.value_or(json(nullptr)).dump());
    REQUIRE(execution.status == "complete");
    CHECK((*execution.output)["content"] == "llama says hi");
    const auto pe = b.last_execution();
    CHECK(pe.status == "complete");
    CHECK((*pe.output)["usage"] == json{{"prompt_eval_count", 5}, {"eval_count", 7}});
    CHECK((*pe.metadata)["kind"] == "ollama");
  }
  REQUIRE(server.hits() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto sent = server.request(i);
    CHECK(sent.path == "/api/chat");
    CHECK_FALSE(sent.has_authorization);  // no auth_env: no header
    const auto body = json::parse(sent.body);
    CHECK(body["stream"] == false);
    CHECK(body["options"] == json{{"temperature", 0}});
  }
}

TEMPLATE_TEST_CASE(
    "provider_exec: 5xx and 429 are retried with backoff; Retry-After is honoured up to max_delay",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  api_key key;
  b.allow(key);
  fake_provider flaky([](int n, const httplib::Request&, httplib::Response& res) {
    if (n == 1) {
      res.status = 500;
      res.set_content("upstream exploded", "text/plain");
      return;
    }
    res.set_content(openai_answer("second time lucky").dump(), "application/json");
  });
  const auto p =
      b.provider(json{{"base_url", flaky.url()}, {"model", "gpt-test"}, {"auth_env", key.name}});
  const auto execution = b.run(p, b.alice);
  REQUIRE(execution.status == "complete");
  CHECK(flaky.hits() == 2);
  auto pe = b.last_execution();
  CHECK(pe.status == "complete");
  CHECK((*pe.metadata)["attempts"] == 2);
  CHECK((*pe.metadata)["http_status"] == 200);
  CHECK((*pe.output)["content"] == "second time lucky");

  // 429 with Retry-After: 1 waits min(1 s, max_delay = 250 ms), not the 1 ms base delay.
  fake_provider limited([](int n, const httplib::Request&, httplib::Response& res) {
    if (n == 1) {
      res.status = 429;
      res.set_header("Retry-After", "1");
      res.set_content(R"({"error":{"message":"slow down"}})", "application/json");
      return;
    }
    res.set_content(openai_answer("ok").dump(), "application/json");
  });
  const auto p2 =
      b.provider(json{{"base_url", limited.url()}, {"model", "gpt-test"}, {"auth_env", key.name}});
  CHECK(b.run(p2, b.alice).status == "complete");
  pe = b.last_execution();
  CHECK((*pe.metadata)["attempts"] == 2);
  CHECK(*pe.duration_ms >= 250);
  CHECK(*pe.duration_ms < 1000);

  // Always 503: max_retries more attempts, then an error span.
  fake_provider down(
      [](int, const httplib::Request&, httplib::Response& res) { res.status = 503; });
  const auto p3 =
      b.provider(json{{"base_url", down.url()}, {"model", "gpt-test"}, {"max_retries", 2}});
  const auto failed = b.run(p3, b.alice);
  CHECK(failed.status == "error");
  CHECK((*failed.error)["code"] == "execution_failed");
  CHECK(down.hits() == 3);
  pe = b.last_execution();
  CHECK(pe.status == "error");
  CHECK((*pe.error)["code"] == "http_error");
  CHECK((*pe.metadata)["attempts"] == 3);
  CHECK((*pe.metadata)["http_status"] == 503);
  CHECK_FALSE(pe.output);
  b.key_nowhere(key.value);
  CHECK(b.ledger.verify().value().ok());
}

TEMPLATE_TEST_CASE("provider_exec: 400 is not retried, and a key the provider echoes is redacted",
                   "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  api_key key;
  b.allow(key);
  fake_provider server([](int, const httplib::Request& req, httplib::Response& res) {
    res.status = 400;
    res.set_content(
        json{{"error", {{"message", "bad request from " + req.get_header_value("Authorization")}}}}
            .dump(),
        "application/json");
  });
  const auto p =
      b.provider(json{{"base_url", server.url()}, {"model", "gpt-test"}, {"auth_env", key.name}});
  const auto execution = b.run(p, b.alice);
  CHECK(execution.status == "error");
  CHECK(server.hits() == 1);
  const auto pe = b.last_execution();
  CHECK(pe.status == "error");
  CHECK((*pe.error)["code"] == "http_error");
  CHECK_THAT((*pe.error)["message"].template get<std::string>(),
             Catch::Contains("HTTP 400: bad request from Bearer [redacted]"));
  CHECK((*pe.metadata)["attempts"] == 1);
  CHECK((*pe.metadata)["http_status"] == 400);
  b.key_nowhere(key.value);
}

TEMPLATE_TEST_CASE(
    "provider_exec: timeouts, malformed answers, TLS failures and missing keys are error spans",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b;
  api_key key;
  fake_provider slow([&](int, const httplib::Request&, httplib::Response& res) {
    slow.stall(std::chrono::milliseconds(2000));
    res.set_content(openai_answer("too late").dump(), "application/json");
  });
  const auto timed = b.provider(json{
      {"base_url", slow.url()}, {"model", "gpt-test"}, {"timeout_ms", 100}, {"max_retries", 1}});
  CHECK(b.run(timed, b.alice).status == "error");
  auto pe = b.last_execution();
  CHECK(pe.status == "error");
  CHECK((*pe.error)["code"] == "timeout");
  CHECK((*pe.metadata)["attempts"] == 2);  // a timeout is retried like a connection error
  CHECK((*pe.metadata)["http_status"] == nullptr);
  CHECK(slow.hits() == 2);

  // Nothing listens: connection errors are retried, then recorded.
  const auto refused = b.provider(
      json{{"base_url", "http://127.0.0.1:1"}, {"model", "gpt-test"}, {"max_retries", 2}});
  CHECK(b.run(refused, b.alice).status == "error");
  pe = b.last_execution();
  CHECK((*pe.error)["code"] == "connection_failed");
  CHECK((*pe.metadata)["attempts"] == 3);

  for (const std::string bad : {"{\"choices\": [", "not json at all", R"({"choices": []})",
                                R"({"object": "chat.completion"})"}) {
    INFO(bad);
    fake_provider broken([&](int, const httplib::Request&, httplib::Response& res) {
      res.set_content(bad, "application/json");
    });
    const auto p = b.provider(json{{"base_url", broken.url()}, {"model", "gpt-test"}});
    const auto execution = b.run(p, b.alice);
    CHECK(execution.status == "error");
    CHECK((*execution.error)["code"] == "invalid_json");
    pe = b.last_execution();
    CHECK(pe.status == "error");
    CHECK((*pe.error)["code"] == "invalid_json");
    CHECK((*pe.metadata)["attempts"] == 1);
    CHECK((*pe.metadata)["http_status"] == 200);
  }

  // https to a plain-HTTP port: the TLS handshake fails; not retried.
  fake_provider plain([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(openai_answer("x").dump(), "application/json");
  });
  const auto tls = b.provider(
      json{{"base_url", "https://127.0.0.1:" + std::to_string(plain.port)}, {"model", "gpt-test"}});
  CHECK(b.run(tls, b.alice).status == "error");
  pe = b.last_execution();
  CHECK((*pe.error)["code"] == "tls_error");
  CHECK((*pe.metadata)["attempts"] == 1);
  CHECK(plain.hits() == 0);

  // auth_env names an operator's credential whose variable is not set: nothing is sent.
  const std::string unset = key.name + "_UNSET";
  b.configure([&](runtime::provider_config& c) {
    c.credentials["unset_key"] = {unset, {"127.0.0.1"}};
  });
  const auto no_key =
      b.provider(json{{"base_url", plain.url()}, {"model", "gpt-test"}, {"auth_env", "unset_key"}});
  const auto execution = b.run(no_key, b.alice);
  CHECK(execution.status == "error");
  CHECK_THAT((*execution.error)["message"].template get<std::string>(),
             Catch::Contains("unset_key"));
  pe = b.last_execution();
  CHECK((*pe.error)["code"] == "missing_credentials");
  CHECK((*pe.metadata)["attempts"] == 0);
  CHECK(plain.hits() == 0);

  // A provider without base_url, or with credentials in it: invalid_provider, nothing sent.
  for (const auto& md : {json{{"model", "gpt-test"}},
                         json{{"base_url", "http://user:pw@127.0.0.1:1"}, {"model", "m"}},
                         json{{"base_url", plain.url()}, {"model", "m"}, {"kind", "anthropic"}}}) {
    CHECK(b.run(b.provider(md), b.alice).status == "error");
    CHECK((*b.last_execution().error)["code"] == "invalid_provider");
  }
  CHECK(plain.hits() == 0);

  // Bad input: refused before anything is read or recorded.
  const auto before = b.of_type("provider_execution").size();
  for (const auto& input : {json{{"provider_id", timed.to_string()}},
                            json{{"provider_id", "nope"}, {"messages", {{{"role", "user"}}}}},
                            json{{"provider_id", timed.to_string()},
                                 {"messages", {{{"role", "user"}}}},
                                 {"options", {{"stream", true}}}}}) {
    const auto e = b.stage0.boot(runtime::ids::provider_exec, input, b.alice).value();
    CHECK(e.status == "error");
  }
  CHECK(b.of_type("provider_execution").size() == before);
  b.key_nowhere(key.value);
  CHECK(b.ledger.verify().value().ok());
}

namespace {

// An environment variable set to `value` for the length of a test, then put back.
struct env_override {
  std::string name;
  std::optional<std::string> before;
  env_override(std::string n, const std::string& value) : name(std::move(n)) {
    if (const char* v = std::getenv(name.c_str())) before = v;
    ::setenv(name.c_str(), value.c_str(), 1);
  }
  ~env_override() {
    if (before)
      ::setenv(name.c_str(), before->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

TEMPLATE_TEST_CASE(
    "provider_exec attack: a user's provider span cannot send the process's secrets, nor reach "
    "loopback",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b(false);  // the operator allows nothing: the defaults
  const std::string secret = "seed-" + logline::uuid::v7().to_string();
  env_override signing_key("LOGLINE_SIGNING_KEY", secret);
  fake_provider listener([](int, const httplib::Request& req, httplib::Response& res) {
    res.set_content(openai_answer("echo: " + req.get_header_value("Authorization")).dump(),
                    "application/json");
  });
  auto refused = [&](const json& metadata, const std::string& code, const std::string& words) {
    INFO(metadata.dump());
    const auto execution = b.run(b.provider(metadata), b.alice);
    CHECK(execution.status == "error");
    const auto pe = b.last_execution();
    CHECK(pe.status == "error");
    CHECK((*pe.error)["code"] == code);
    CHECK_THAT((*pe.error)["message"].template get<std::string>(), Catch::Contains(words));
    CHECK((*pe.metadata)["attempts"] == 0);
    CHECK_FALSE(pe.output);
  };
  const json stealing{
      {"base_url", listener.url("/v1")}, {"model", "m"}, {"auth_env", "LOGLINE_SIGNING_KEY"}};
  refused(stealing, "credentials_refused", "no credential the operator configured");
  // Without a key, loopback is refused too: nothing is sent, nothing comes back.
  refused(json{{"base_url", listener.url("/v1")}, {"model", "m"}}, "destination_refused",
          "loopback");
  // The operator allows loopback (and plain http for it): still no such credential.
  b.configure([](runtime::provider_config& c) {
    c.private_hosts = {"127.0.0.1"};
    c.http_key_hosts = {"127.0.0.1"};
  });
  refused(stealing, "credentials_refused", "no credential the operator configured");
  // A credential the operator configured for another host is not sent here.
  api_key key;
  b.configure([&](runtime::provider_config& c) {
    c.credentials["OPENAI_API_KEY"] = {key.name, {"api.openai.com"}};
  });
  refused(json{{"base_url", listener.url("/v1")}, {"model", "m"}, {"auth_env", "OPENAI_API_KEY"}},
          "credentials_refused", "not for 127.0.0.1");
  // Nor over plain http to a host the operator has not named for it.
  b.configure([&](runtime::provider_config& c) {
    c.credentials["LOCAL"] = {key.name, {"127.0.0.1"}};
    c.http_key_hosts.clear();
  });
  refused(json{{"base_url", listener.url("/v1")}, {"model", "m"}, {"auth_env", "LOCAL"}},
          "credentials_refused", "https only");
  CHECK(listener.hits() == 0);
  b.key_nowhere(secret);
  b.key_nowhere(key.value);

  // With the operator's allowance, the same listener is reached (so the refusals above were the
  // rules, not a dead listener), with the operator's key.
  b.configure([&](runtime::provider_config& c) {
    c.http_key_hosts = {"127.0.0.1:" + std::to_string(listener.port)};
  });
  const auto allowed = b.run(
      b.provider(json{{"base_url", listener.url("/v1")}, {"model", "m"}, {"auth_env", "LOCAL"}}),
      b.alice);
  INFO(allowed.error.value_or(json(nullptr)).dump());
  CHECK(allowed.status == "complete");
  REQUIRE(listener.hits() == 1);
  CHECK(listener.request(0).authorization == "Bearer " + key.value);
  b.key_nowhere(key.value);  // the echo is redacted
  b.key_nowhere(secret);
}

TEMPLATE_TEST_CASE(
    "provider_exec attack: private, link-local and loopback destinations are refused unless the "
    "operator allows them",
    "[runtime][provider]", LOGLINE_BACKENDS) {
  provider_fixture<TestType> b(false);
  for (const std::string url :
       {"http://10.1.2.3/v1", "http://169.254.169.254/latest", "http://[::1]:8080",
        "http://localhost:11434/api", "http://0.0.0.0:80", "http://[::ffff:127.0.0.1]/v1",
        "http://100.64.0.1", "http://192.168.1.1", "http://172.16.0.1", "http://[fe80::1]",
        "http://[fc00::1]", "http://224.0.0.1", "https://127.1.2.3"}) {
    INFO(url);
    CHECK(b.run(b.provider(json{{"base_url", url}, {"model", "m"}}), b.alice).status == "error");
    const auto pe = b.last_execution();
    CHECK((*pe.error)["code"] == "destination_refused");
    CHECK((*pe.metadata)["attempts"] == 0);
  }

  // Allowed by the operator for one port: that port is reached, another is not.
  fake_provider local([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(openai_answer("local").dump(), "application/json");
  });
  fake_provider other([](int, const httplib::Request&, httplib::Response& res) {
    res.set_content(openai_answer("other").dump(), "application/json");
  });
  b.configure([&](runtime::provider_config& c) {
    c.private_hosts = {"127.0.0.1:" + std::to_string(local.port)};
  });
  CHECK(b.run(b.provider(json{{"base_url", local.url()}, {"model", "m"}}), b.alice).status ==
        "complete");
  CHECK(b.run(b.provider(json{{"base_url", other.url()}, {"model", "m"}}), b.alice).status ==
        "error");
  CHECK((*b.last_execution().error)["code"] == "destination_refused");
  CHECK(local.hits() == 1);
  CHECK(other.hits() == 0);
  // A name allowed as an address: localhost resolves to loopback addresses only; with both
  // allowed it goes to the checked one.
  b.configure([&](runtime::provider_config& c) {
    c.private_hosts = {"localhost:" + std::to_string(local.port)};
  });
  const auto by_name =
      b.run(b.provider(json{{"base_url", "http://localhost:" + std::to_string(local.port)},
                            {"model", "m"}}),
            b.alice);
  INFO(by_name.error.value_or(json(nullptr)).dump());
  CHECK(by_name.status == "complete");
  CHECK(local.hits() == 2);
  // allowed_hosts, when set, is the whole list.
  b.configure([&](runtime::provider_config& c) {
    c.private_hosts = {"127.0.0.1"};
    c.allowed_hosts = {"api.openai.com"};
  });
  CHECK(b.run(b.provider(json{{"base_url", local.url()}, {"model", "m"}}), b.alice).status ==
        "error");
  CHECK_THAT((*b.last_execution().error)["message"].template get<std::string>(),
             Catch::Contains("not among the destinations"));
  CHECK(local.hits() == 2);
  // A malformed operator entry is an error, not a wider allowance.
  b.configure([&](runtime::provider_config& c) {
    c.allowed_hosts.clear();
    c.private_hosts = {"127.0.0.1:notaport"};
  });
  CHECK(b.run(b.provider(json{{"base_url", local.url()}, {"model", "m"}}), b.alice).status ==
        "error");
  CHECK((*b.last_execution().error)["code"] == "invalid_config");
  CHECK(local.hits() == 2);
}
