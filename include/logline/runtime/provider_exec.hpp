#pragma once
// The provider_exec kernel (LogLineOS id …005): one chat completion from an LLM provider, on record.
//
//   stage0.register_kernel(runtime::ids::provider_exec, runtime::provider_exec<Ledger>());
//   stage0.boot(runtime::ids::provider_exec,
//               {{"provider_id", "<provider span id>"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}},
//                {"options", {{"temperature", 0.2}}}}, who);
//
// The provider is a span (entity_type "provider") read as the caller and checked like any booted
// span (hash; signature when the manifest requires one). Its metadata:
//
//   {"base_url": "https://api.openai.com/v1", "model": "gpt-4o-mini", "auth_env": "OPENAI_API_KEY",
//    "kind": "openai" | "ollama", "timeout_ms": 60000, "max_retries": 3}
//
// kind "openai": POST <base_url>/v1/chat/completions (just /chat/completions when base_url's path
// already ends in /v1) with {model, messages, ...options}; the answer is choices[0].message.content.
// kind "ollama": POST <base_url>/api/chat (/chat when the path ends in /api) with {model, messages,
// stream: false, options}; the answer is message.content. Without kind: "ollama" when base_url's
// path ends in /api, else "openai".
//
// Where a call may go and with which key is the operator's word, never the span's (a user wrote
// it): provider_exec::config (egress.hpp). auth_env names a credential the operator configured
// (config.credentials: the environment variable holding it and the hosts it may be sent to);
// the key is sent as `Authorization: Bearer`, only to those hosts, and over https unless the
// operator allows plain http for the host. A name the operator did not configure, another host
// or plain http is refused (credentials_refused) before anything is sent; a configured
// credential whose variable is unset or empty is missing_credentials. Without auth_env no
// Authorization header is sent. The host is resolved and every address checked first:
// loopback, private, link-local and other non-public addresses are refused (destination_refused)
// unless the operator allows the destination (config.private_hosts); the connection goes to the
// checked address. A refused call sends nothing, so nothing comes back. The key is never
// written anywhere: every string recorded (input, output, error) has any occurrence of it
// replaced by "[redacted]".
//
// Retries: on 429, 5xx and transport errors (connection refused, reset, timeouts), up to
// max_retries more attempts (default 3), waiting base_delay, 2 base_delay, 4 base_delay, ... or
// the Retry-After seconds of a 429/503, every wait capped at max_delay. Other statuses, TLS
// failures and answers that are not the expected JSON are not retried. timeout_ms bounds the
// connection and each read and write of an attempt.
//
// Every call that reaches a valid provider span appends one `provider_execution` span owned by
// the caller (written on its behalf: the type is the operator's) (parent_id = the provider; input = the request body; output {content, usage} or error
// {code, message}; status complete or error; duration_ms; metadata {attempts, http_status, model,
// kind}); the kernel returns the output, or an error after recording it. Error codes:
// invalid_provider, invalid_config, credentials_refused, destination_refused, missing_credentials,
// tls_unavailable, tls_error, timeout, connection_failed, http_error, invalid_json,
// transport_unavailable. See docs/providers.md.
//
// The request itself goes through `transport` (provider_transport.hpp): the runtime includes no
// HTTP library. logline::http::provider_client() is cpp-httplib's (runtime::node takes it as
// options::provider_client); without one every call that gets that far is transport_unavailable.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/egress.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/provider_transport.hpp"
#include "logline/runtime/stage0.hpp"
#include "logline/span.hpp"

namespace logline::runtime {

namespace detail {

// base_url, split. path has no trailing slash ("" for the root).
struct endpoint {
  bool https = false;
  std::string host;
  int port = 0;
  std::string path;
};

inline std::optional<endpoint> parse_base_url(std::string_view url) {
  endpoint e;
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return std::nullopt;
  std::string scheme(url.substr(0, sep));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  if (scheme != "http" && scheme != "https") return std::nullopt;
  e.https = scheme == "https";
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#@ ") != std::string_view::npos)
    return std::nullopt;  // no query, fragment or userinfo
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  e.path = std::string(path);
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // [IPv6]
    const auto close = authority.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    e.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return std::nullopt;
    if (!after.empty()) port = after.substr(1);
  } else {
    const auto colon = authority.find(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (e.host.empty()) return std::nullopt;
  e.port = e.https ? 443 : 80;
  if (!port.empty() || authority.ends_with(':')) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      return std::nullopt;
    e.port = std::stoi(std::string(port));
    if (e.port < 1 || e.port > 65535) return std::nullopt;
  }
  return e;
}

// Replaces every occurrence of `secret` in `s`.
inline void redact(std::string& s, const std::string& secret) {
  if (secret.empty()) return;
  for (auto p = s.find(secret); p != std::string::npos; p = s.find(secret, p + 10))
    s.replace(p, secret.size(), "[redacted]");
}
inline void redact(json& j, const std::string& secret) {
  if (secret.empty()) return;
  if (j.is_string())
    redact(j.get_ref<std::string&>(), secret);
  else if (j.is_structured())
    for (auto& v : j) redact(v, secret);
}

// At most `max` bytes of untrusted text, as valid UTF-8 without U+0000 (what a span may hold).
inline std::string excerpt(std::string_view text, std::size_t max = 300) {
  std::string out;
  const bool cut = text.size() > max;
  text = text.substr(0, max);
  while (!text.empty()) {
    const auto bad = logline::detail::first_invalid_utf8(text);
    const auto good = bad == logline::detail::utf8_ok ? text.size() : bad;
    out.append(text.substr(0, good));
    if (good == text.size()) break;
    out.push_back('?');
    text.remove_prefix(good + 1);
  }
  std::replace(out.begin(), out.end(), '\0', '?');
  if (cut) out += "...";
  return out;
}

// The error message a provider put in its error body ({"error": {"message"}} or {"error": "..."}),
// else the body itself.
inline std::string error_text(const std::string& body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end()) {
      if (e->is_string()) return excerpt(e->get<std::string>());
      if (e->is_object())
        if (auto m = e->find("message"); m != e->end() && m->is_string())
          return excerpt(m->get<std::string>());
    }
  }
  return excerpt(body);
}

}  // namespace detail

template <class Ledger>
struct provider_exec {
  using call = typename stage0<Ledger>::call;
  std::chrono::milliseconds base_delay{500};    // the first retry's wait; doubles with each retry
  std::chrono::milliseconds max_delay{30'000};  // cap on any one wait, backoff or Retry-After
  std::int64_t default_timeout_ms = 60'000;     // when the provider has no timeout_ms
  int default_max_retries = 3;                  // when the provider has no max_retries
  // The operator's configuration: the credentials a provider may name and where calls may go
  // (egress.hpp). The default: no credentials, public destinations only.
  provider_config config;
  // What sends the request (logline::http::provider_client()); none: transport_unavailable.
  provider_transport transport;

  result<json> operator()(call& c) const {
    // The input: checked before anything is read or recorded.
    const json& in = c.input;
    if (!in.is_object() || !in.contains("provider_id") || !in["provider_id"].is_string() ||
        !in.contains("messages") || !in["messages"].is_array() || in["messages"].empty())
      return make_error(errc::invalid_argument,
                        "provider_exec: the input must be {\"provider_id\": \"<provider span "
                        "id>\", \"messages\": [{\"role\": ..., \"content\": ...}, ...], "
                        "\"options\": {...}}");
    for (const auto& m : in["messages"])
      if (!m.is_object())
        return make_error(errc::invalid_argument,
                          "provider_exec: every message must be an object {\"role\", \"content\"}");
    json options = json::object();
    if (auto o = in.find("options"); o != in.end() && !o->is_null()) {
      if (!o->is_object())
        return make_error(errc::invalid_argument, "provider_exec: options must be an object");
      for (const char* reserved : {"model", "messages", "stream"})
        if (o->contains(reserved))
          return make_error(errc::invalid_argument,
                            std::string("provider_exec: options may not set '") + reserved + "'");
      options = *o;
    }
    auto id = uuid::parse(in["provider_id"].template get<std::string>());
    if (!id) return make_error(errc::invalid_argument, "provider_exec: provider_id is not a uuid");
    LOGLINE_TRY(provider, c.as.get(*id));
    if (provider.entity_type != entity::provider)
      return make_error(errc::invalid_argument, "provider_exec: span " + id->to_string() +
                                                    " is a " + provider.entity_type +
                                                    ", not a provider");
    LOGLINE_TRY_VOID(stage0<Ledger>::authentic(provider, c.manifest.signatures_required));
    LOGLINE_TRY_VOID(check_owner_continuity(c.ledger, provider));

    const auto started = std::chrono::steady_clock::now();
    outcome o = execute(provider, in["messages"], options);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();

    universal_span s;
    s.entity_type = entity::provider_execution;
    s.who = "provider_exec";
    s.did = "executed";
    s.this_ = provider.name.value_or(provider.id.to_string());
    s.parent_id = provider.id;
    s.trace_id = c.trace_id;
    s.input = o.request.is_null() ? in : o.request;
    detail::redact(*s.input, o.key);
    s.duration_ms = took;
    s.metadata = json{{"attempts", o.attempts},
                      {"http_status", o.http_status ? json(o.http_status) : json(nullptr)},
                      {"model", o.model.empty() ? json(nullptr) : json(o.model)},
                      {"kind", o.kind.empty() ? json(nullptr) : json(o.kind)}};
    if (o.code.empty()) {
      detail::redact(o.output, o.key);
      s.status = "complete";
      s.output = o.output;
    } else {
      detail::redact(o.message, o.key);
      s.status = "error";
      s.error = json{{"code", o.code}, {"message", o.message}};
    }
    LOGLINE_TRY_VOID(c.records.append(std::move(s)));
    if (!o.code.empty())
      return make_error(o.code == "invalid_json" ? errc::invalid_json : errc::execution_failed,
                        "provider_exec: " + o.code + ": " + o.message);
    return std::move(o.output);
  }

 private:
  // What a call came to: output, or code + message.
  struct outcome {
    json request;  // the body sent (null when the call failed before building it)
    json output;
    std::string code, message;
    int attempts = 0;
    int http_status = 0;
    std::string model, kind;
    std::string key;  // the API key, for redaction only
  };

  static outcome fail(outcome o, std::string code, std::string message) {
    o.code = std::move(code);
    o.message = std::move(message);
    return o;
  }

  outcome execute(const universal_span& provider, const json& messages, const json& options) const {
    outcome o;
    const json md =
        provider.metadata && provider.metadata->is_object() ? *provider.metadata : json::object();
    auto text = [&](const char* field) -> std::optional<std::string> {
      auto it = md.find(field);
      return it != md.end() && it->is_string() && !it->get<std::string>().empty()
                 ? std::optional(it->get<std::string>())
                 : std::nullopt;
    };
    auto integer = [&](const char* field, std::int64_t fallback, std::int64_t lo,
                       std::int64_t hi) -> std::optional<std::int64_t> {
      auto it = md.find(field);
      if (it == md.end() || it->is_null()) return fallback;
      if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
        return std::nullopt;
      return it->get<std::int64_t>();
    };
    const auto base_url = text("base_url");
    const auto model = text("model");
    if (!base_url || !model)
      return fail(std::move(o), "invalid_provider",
                  "the provider's metadata needs base_url and model (strings)");
    o.model = *model;
    const auto ep = detail::parse_base_url(*base_url);
    if (!ep)
      return fail(
          std::move(o), "invalid_provider",
          "base_url must be http(s)://host[:port][/path], without query, fragment or credentials");
    if (auto k = md.find("kind"); k != md.end() && !k->is_null()) {
      if (!k->is_string() || (*k != "openai" && *k != "ollama"))
        return fail(std::move(o), "invalid_provider", "kind must be \"openai\" or \"ollama\"");
      o.kind = k->get<std::string>();
    } else {
      o.kind = ep->path.ends_with("/api") ? "ollama" : "openai";
    }
    const auto timeout_ms = integer("timeout_ms", default_timeout_ms, 1, 3'600'000);
    if (!timeout_ms)
      return fail(std::move(o), "invalid_provider",
                  "timeout_ms must be an integer from 1 to 3600000");
    const auto max_retries = integer("max_retries", default_max_retries, 0, 10);
    if (!max_retries)
      return fail(std::move(o), "invalid_provider", "max_retries must be an integer from 0 to 10");

    const bool ollama = o.kind == "ollama";
    std::string path = ep->path;
    if (ollama)
      path += path.ends_with("/api") ? "/chat" : "/api/chat";
    else
      path += path.ends_with("/v1") ? "/chat/completions" : "/v1/chat/completions";
    o.request = json{{"model", *model}, {"messages", messages}};
    if (ollama) {
      o.request["stream"] = false;
      if (!options.empty()) o.request["options"] = options;
    } else {
      for (const auto& [k, v] : options.items()) o.request[k] = v;
    }

    // The operator's word on where this may go and with which key (egress.hpp): checked before
    // anything is sent.
    for (const auto* list : {&config.allowed_hosts, &config.private_hosts, &config.http_key_hosts})
      if (auto bad = egress::first_malformed(*list))
        return fail(std::move(o), "invalid_config",
                    "the operator's destination '" + *bad + "' is malformed");
    std::vector<std::pair<std::string, std::string>> headers;
    if (auto a = md.find("auth_env"); a != md.end() && !a->is_null()) {
      const auto name = text("auth_env");
      if (!name)
        return fail(std::move(o), "invalid_provider",
                    "auth_env must be the name of a credential the operator configured");
      const auto cred = config.credentials.find(*name);
      if (cred == config.credentials.end())
        return fail(std::move(o), "credentials_refused",
                    "auth_env names no credential the operator configured for providers");
      if (!egress::listed(cred->second.hosts, ep->host, ep->port))
        return fail(std::move(o), "credentials_refused",
                    "the operator's credential " + *name + " is not for " + ep->host + ":" +
                        std::to_string(ep->port));
      if (!ep->https && !egress::listed(config.http_key_hosts, ep->host, ep->port))
        return fail(
            std::move(o), "credentials_refused",
            "a key is sent over https only (the operator allows plain http for no such host)");
      const std::string var = cred->second.env.empty() ? *name : cred->second.env;
      const char* key = std::getenv(var.c_str());
      if (!key || !*key)
        return fail(std::move(o), "missing_credentials",
                    "the operator's credential " + *name +
                        " is not set (its environment variable is empty)");
      o.key = key;
      headers.emplace_back("Authorization", "Bearer " + o.key);
    }
    auto addresses = egress::checked_destination(config, ep->host, ep->port);
    if (!addresses) {
      if (addresses.error() == errc::permission_denied)
        return fail(std::move(o), "destination_refused", addresses.error().message());
      return fail(std::move(o), "connection_failed", addresses.error().message());
    }

    if (!transport)
      return fail(std::move(o), "transport_unavailable",
                  "this process has no HTTP client for providers "
                  "(runtime::node::options::provider_client)");
    provider_request request;
    request.https = ep->https;
    request.host = ep->host;
    request.port = ep->port;
    request.path = path;
    request.headers = std::move(headers);
    request.body = o.request.dump();
    request.timeout = std::chrono::milliseconds(*timeout_ms);

    const std::string where = ep->host + ":" + std::to_string(ep->port) + path;
    for (;;) {
      // Connect to an address that was checked, whatever the host name resolves to by now; each
      // attempt the next one (a name with an IPv6 and an IPv4 address, one of them not served).
      request.address =
          (*addresses)[static_cast<std::size_t>(o.attempts) % addresses->size()].to_string();
      const auto sent = std::chrono::steady_clock::now();
      const provider_response res = transport(request);
      const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - sent)
                              .count();
      std::optional<std::chrono::milliseconds> retry_after;
      bool retry = false;
      using failure = provider_response::failure;
      // A client without TLS sent nothing: not an attempt.
      if (res.failed == failure::tls_unavailable)
        return fail(std::move(o), "tls_unavailable", res.failure_text);
      ++o.attempts;
      if (res.failed != failure::none) {
        o.http_status = 0;
        if (res.failed == failure::tls)
          return fail(std::move(o), "tls_error",
                      "TLS with " + where + " failed: " + res.failure_text);
        retry = res.failed == failure::connect || res.failed == failure::connect_timeout ||
                res.failed == failure::read || res.failed == failure::write;
        const bool timed_out = res.failed == failure::connect_timeout || waited >= *timeout_ms;
        o.code = timed_out ? "timeout" : "connection_failed";
        o.message = timed_out ? "no answer from " + where + " within timeout_ms " +
                                    std::to_string(*timeout_ms)
                              : "POST " + where + " failed: " + res.failure_text;
      } else {
        o.http_status = res.status;
        if (res.status >= 200 && res.status < 300) {
          o.code.clear();
          o.message.clear();
          return answer(std::move(o), res.body, ollama);
        }
        retry = res.status == 429 || res.status >= 500;
        o.code = "http_error";
        o.message = "the provider answered HTTP " + std::to_string(res.status) + ": " +
                    detail::error_text(res.body);
        if (const auto& ra = res.retry_after;
            !ra.empty() && ra.size() <= 9 &&
            std::all_of(ra.begin(), ra.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
          retry_after = std::chrono::seconds(std::stoll(ra));
      }
      if (!retry || o.attempts > *max_retries) {
        if (o.attempts > 1) o.message += " (after " + std::to_string(o.attempts) + " attempts)";
        return o;
      }
      auto wait = retry_after ? *retry_after
                              : base_delay * (std::int64_t{1} << std::min(o.attempts - 1, 20));
      std::this_thread::sleep_for(std::min(wait, max_delay));
    }
  }

  // A 2xx answer: its assistant message and usage, or invalid_json.
  static outcome answer(outcome o, const std::string& body, bool ollama) {
    auto j = parse_json(body);
    if (!j)
      return fail(std::move(o), "invalid_json",
                  "the provider's answer is not JSON: " + j.error().message());
    const json* content = nullptr;
    if (ollama) {
      if (j->is_object())
        if (auto m = j->find("message"); m != j->end() && m->is_object())
          if (auto t = m->find("content"); t != m->end() && t->is_string()) content = &*t;
      if (!content)
        return fail(std::move(o), "invalid_json",
                    "the provider's answer has no message.content (Ollama /api/chat shape)");
    } else {
      if (j->is_object())
        if (auto ch = j->find("choices");
            ch != j->end() && ch->is_array() && !ch->empty() && (*ch)[0].is_object())
          if (auto m = (*ch)[0].find("message"); m != (*ch)[0].end() && m->is_object())
            if (auto t = m->find("content"); t != m->end() && t->is_string()) content = &*t;
      if (!content)
        return fail(std::move(o), "invalid_json",
                    "the provider's answer has no choices[0].message.content (OpenAI chat "
                    "completion shape)");
    }
    o.output = json{{"content", *content}};
    if (ollama) {
      json usage = json::object();
      for (const char* k : {"prompt_eval_count", "eval_count", "total_duration", "load_duration",
                            "prompt_eval_duration", "eval_duration"})
        if (auto it = j->find(k); it != j->end() && it->is_number()) usage[k] = *it;
      if (!usage.empty()) o.output["usage"] = std::move(usage);
    } else if (auto u = j->find("usage"); u != j->end() && u->is_object()) {
      o.output["usage"] = *u;
    }
    return o;
  }
};

}  // namespace logline::runtime
