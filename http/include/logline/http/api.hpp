#pragma once
// logline::http::api: LogLineOS's HTTP API (DESIGN §8) over a ledger of universal spans, mounted
// on a cpp-httplib server: the handlers. What they are made of has a header each (server.hpp
// lists them).
//
//   Ledger ledger{db, {.identity = logline::http::token_admin, .signing_key = key}};
//   logline::http::api<Ledger> api(ledger, {});
//   logline::http::server svr;        // cpp-httplib's server with connection limits (listener.hpp)
//   api.mount(svr);
//   logline::http::bind_exclusive(svr, "127.0.0.1", 8080);
//   svr.listen_after_bind();
//
// Every request runs as the identity of its bearer token (ledger.as(identity)), so the tenancy
// and write rules hold through HTTP (DESIGN §5): a span's `who` is the caller's user id, an id
// the caller cannot read answers as one that does not exist. Errors are JSON
// {"error":{"code","message"}} with the status of their kind, never the storage engine's words
// (those go to the access log with the request id); a failed request stores nothing.
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "logline/backend.hpp"
#include "logline/ed25519.hpp"
#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/http/errors.hpp"
#include "logline/http/listener.hpp"
#include "logline/http/metrics.hpp"
#include "logline/http/rate_limit.hpp"
#include "logline/http/routes.hpp"
#include "logline/http/stream_hub.hpp"
#include "logline/http/tokens.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/operator_namespace.hpp"
#include "logline/schema.hpp"
#include "logline/span.hpp"
#include "logline/span_input.hpp"
#include "logline/verify.hpp"

namespace logline::http {

struct server_options {
  std::size_t max_body_bytes = 1 << 20;  // larger bodies: 413
  std::size_t max_batch = 1000;          // spans in one POST
  double rate_per_second = 200;          // per token (token bucket); over it: 429
  double rate_burst = 400;
  std::chrono::seconds keep_alive{15};  // SSE comment interval
  std::size_t stream_queue = 4096;  // events queued for one SSE client; beyond it the stream ends
  std::size_t max_streams = 1200;   // open SSE streams in total; beyond: 503 + Retry-After
  std::size_t max_streams_per_token =
      16;  // open SSE streams of one token; beyond: 429 + Retry-After
  std::chrono::milliseconds stream_recheck{
      1000};  // how often a stream re-checks its token (revocation, scope)
  std::size_t max_stream_catchups =
      2;  // streams reading past entries at once (one per token); the others wait
  std::optional<std::string> cors_origin;              // none by default; "*" allows every origin
  std::function<void(const std::string&)> access_log;  // one JSON line per request
};

// The identity of a request without a token (the routes that need no scope: health, metrics):
// not an operator, no tenant.
inline const logline::identity anonymous{"anonymous", std::nullopt};

template <class Ledger>
class api {
  static_assert(std::is_same_v<typename Ledger::span_type, universal_span>,
                "logline: the HTTP API serves ledgers of logline::universal_span");

 public:
  using view = typename Ledger::view;

  api(Ledger& ledger, server_options o = {})
      : ledger_(ledger),
        options_(std::move(o)),
        tokens_(ledger),
        limiter_(options_.rate_per_second, options_.rate_burst) {}

  metrics& stats() noexcept { return metrics_; }
  token_registry<Ledger>& tokens() noexcept { return tokens_; }
  // Ends open streams (call before httplib::Server::stop, e.g. on SIGTERM).
  void stop() {
    stopping_ = true;
    hub_.stop();
  }

  // Mounts the routes on svr. On a logline::http::server (listener.hpp) every body is bounded
  // while it is read, whatever its transfer encoding; a plain httplib::Server cannot bound a
  // chunked body (cpp-httplib 0.11 reads it whole), so there chunked bodies are refused (411).
  void mount(httplib::Server& svr) {
    svr.set_payload_max_length(options_.max_body_bytes);
    svr.set_tcp_nodelay(true);  // responses go out in two writes: no Nagle + delayed-ACK stalls
    listener_ = dynamic_cast<server*>(&svr);
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      return admit_body(req, res);
    });
    svr.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                      httplib::Response& res) {
      if (auto* conn = detail::current_connection) {
        // A read that failed because the request broke its connection's limits (cpp-httplib
        // says 400 for every failed read): say which limit.
        if (conn->over_limit()) {
          res.status = 413;
          res.body.clear();
        } else if (conn->timed_out()) {
          res.status = 408;
          res.body.clear();
          res.set_header("Connection", "close");
        }
      }
      if (res.status == 404 &&
          res.body.empty()) {  // no route matched (a handler's 404 has its body)
        if (const auto allowed = methods_for(req.path); !allowed.empty()) {
          res.status = 405;
          res.set_header("Allow", allowed);
        }
      }
      if (res.body.empty()) {
        const std::string msg =
            res.status == 404   ? "no route " + req.method + " " + req.path
            : res.status == 405 ? req.method + " is not allowed on " + req.path +
                                      " (allowed: " + res.get_header_value("Allow") + ")"
            : res.status == 413
                ? "the body is larger than " + std::to_string(options_.max_body_bytes) + " bytes"
            : res.status == 408
                ? std::string("the request did not arrive within the server's request deadline")
                : "HTTP " + std::to_string(res.status);
        res.set_content(error_body(res.status, msg), "application/json");
        log(req, res, "-", 0, "");
      }
      return httplib::Server::HandlerResponse::Handled;
    }));
    svr.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          res.status = 500;
          res.set_content(error_body(500, "internal error"), "application/json");
        });
    if (options_.cors_origin) {
      svr.set_post_routing_handler([this](const httplib::Request&, httplib::Response& res) {
        res.set_header("Access-Control-Allow-Origin", *options_.cors_origin);
        res.set_header("Access-Control-Allow-Headers",
                       "Authorization, Content-Type, Last-Event-ID");
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      });
      svr.Options(R"(/.*)",
                  [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
    }

    handle(svr, "post", "/api/spans", R"(/api/spans)",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             post_spans(req, res, s);
           });
    handle(svr, "get", "/api/spans/{id}/history", R"(/api/spans/([^/]+)/history)",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             auto id = parse_id(req.matches[1]);
             auto rows = s.history(id);
             if (!rows) return fail(res, rows.error());
             if (rows->empty())
               return fail(res,
                           make_error(errc::not_found, "span " + id.to_string() + " not found"));
             send_spans(res, *rows, 200);
           });
    handle(svr, "get", "/api/spans/{id}", R"(/api/spans/([^/]+))",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             auto id = parse_id(req.matches[1]);
             result<universal_span> r = make_error(errc::not_found, "");
             if (req.has_param("seq"))
               r = s.get(id,
                         parse_int<std::int32_t>(req.get_param_value("seq"), "seq", 0, INT32_MAX));
             else
               r = s.get(id);
             if (!r) return fail(res, r.error());
             res.set_content(span_to_json_text(*r), "application/json");
           });
    handle(svr, "get", "/api/timeline", R"(/api/timeline)",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             auto page = s.timeline(timeline_from(req));
             if (!page) return fail(res, page.error());
             std::string body = "{\"next_cursor\":";
             if (page->next_cursor.empty())
               body += "null";
             else
               write_canonical_string(body, page->next_cursor);
             body += ",\"spans\":[";
             for (std::size_t i = 0; i < page->spans.size(); ++i) {
               if (i) body += ',';
               body += span_to_json_text(page->spans[i]);
             }
             body += "]}";
             res.set_content(body, "application/json");
           });
    handle(svr, "get", "/api/timeline/stream", R"(/api/timeline/stream)",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             stream(req, res, s);
           });
    handle(
        svr, "get", "/api/manifest/{name}", R"(/api/manifest/([^/]+))",
        [this](const httplib::Request& req, httplib::Response& res, view& s) {
          timeline_query q;
          q.entity_type = entity::manifest;
          q.limit = timeline_query::max_limit;
          const std::string name = req.matches[1];
          for (;;) {
            auto page = s.timeline(q);
            if (!page) return fail(res, page.error());
            for (const auto& m : page->spans)  // newest first; a manifest is the operator's or none
              if (m.name == name && ledger_.operator_wrote(m))
                return res.set_content(span_to_json_text(m), "application/json");
            if (page->next_cursor.empty()) break;
            q.cursor = page->next_cursor;
          }
          fail(res, make_error(errc::not_found, "no manifest named '" + name + "'"));
        });
    handle(svr, "post", "/api/execute", R"(/api/execute)",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             execute(req, res, s);
           });
    handle(svr, "get", "/api/verify/{id}", R"(/api/verify/([^/]+))",
           [this](const httplib::Request& req, httplib::Response& res, view& s) {
             verify(req, res, s);
           });
    handle(svr, "get", "/health", R"(/health)",
           [this](const httplib::Request&, httplib::Response& res, view& s) {
             timeline_query q;
             q.limit = 1;
             auto probe = s.timeline(q);
             if (!probe) {
               internal_error_ = probe.error().message();
               return reply_error(
                   res, 503,
                   "database unreachable (request " + res.get_header_value("X-Request-Id") + ")");
             }
             res.set_content("{\"status\":\"ok\"}", "application/json");
           });
    handle(svr, "get", "/metrics", R"(/metrics)",
           [this](const httplib::Request&, httplib::Response& res, view&) {
             res.set_content(metrics_.text() + connection_metrics(), "text/plain; version=0.0.4");
           });
    handle(svr, "get", "/openapi.json", R"(/openapi.json)",
           [](const httplib::Request&, httplib::Response& res, view&) {
             res.set_content(openapi_document(), "application/json");
           });
  }

 private:
  // Runs after the headers, before any body is read. A request with a body is refused here when
  // the body could not be accepted anyway: too large by its Content-Length, chunked where its
  // size cannot be bounded, or from a caller without a valid token (a body costs memory; an
  // unauthenticated one never gets to spend it). Otherwise the connection may read the body's
  // bytes and no more. A refusal closes the connection: the unread body must not be taken for
  // the next request.
  httplib::Server::HandlerResponse admit_body(const httplib::Request& req, httplib::Response& res) {
    using R = httplib::Server::HandlerResponse;
    const bool chunked = req.has_header("Transfer-Encoding");
    const std::string length_text = req.get_header_value("Content-Length");
    if (!chunked && (length_text.empty() || length_text == "0")) return R::Unhandled;
    auto* conn = detail::current_connection;
    auto refuse = [&](int status, std::string_view message) {
      if (conn) conn->close_after_response();
      res.set_header("Connection", "close");
      res.set_header("X-Request-Id", std::to_string(++request_counter_));
      reply_error(res, status, message);
      log(req, res, res.get_header_value("X-Request-Id"), 0, "-");
      return R::Handled;
    };
    std::size_t length = 0;
    if (!chunked) {
      if (length_text.size() > 18 ||
          length_text.find_first_not_of("0123456789") != std::string::npos)
        return refuse(400, "Content-Length is not a number");
      length = static_cast<std::size_t>(std::stoull(length_text));
      if (length > options_.max_body_bytes)
        return refuse(
            413, "the body is larger than " + std::to_string(options_.max_body_bytes) + " bytes");
    } else if (!conn) {
      return refuse(411, "a chunked body is not accepted here: send Content-Length");
    }
    if (!bearer_record(req))
      return refuse(
          401, "a request with a body needs a valid bearer token (Authorization: Bearer <token>)");
    // A chunked body: its payload is checked against the limit after decoding; its encoding may
    // add an eighth (chunk sizes, extensions, trailers) before the read itself fails.
    if (conn)
      conn->allow_body(chunked ? options_.max_body_bytes + options_.max_body_bytes / 8 + 4096
                               : length);
    return R::Unhandled;
  }

  std::optional<token_record> bearer_record(const httplib::Request& req) {
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) != 0) return std::nullopt;
    return tokens_.find(std::string_view(auth).substr(7));
  }

  // "GET, POST" for a path some route serves with another method; "" for none.
  static std::string methods_for(const std::string& path) {
    std::string out;
    for (const auto& r : routes()) {
      if (!std::regex_match(path, std::regex(route_pattern(r.path)))) continue;
      std::string m = r.method;
      for (auto& ch : m) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (out.find(m) != std::string::npos) continue;
      if (!out.empty()) out += ", ";
      out += m;
    }
    return out;
  }
  // The regex of an OpenAPI path template ("{id}" matches one segment).
  static std::string route_pattern(std::string_view path) {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
      if (path[i] == '{') {
        i = path.find('}', i);
        out += "[^/]+";
      } else {
        out += path[i];
      }
    }
    return out;
  }

  // A request error thrown by parsing helpers inside a handler.
  struct bad_request {
    error_info error;
  };
  using handler = std::function<void(const httplib::Request&, httplib::Response&, view&)>;

  const route_doc& doc(std::string_view method, std::string_view path) const {
    for (const auto& r : routes())
      if (method == r.method && path == r.path) return r;
    LOGLINE_ASSERT(false, "every mounted route is documented in http::routes()");
    return routes().front();
  }

  void handle(httplib::Server& svr, const char* method, const char* path, const char* pattern,
              handler h) {
    const route_doc& d = doc(method, path);
    auto wrapped = [this, &d, h = std::move(h)](const httplib::Request& req,
                                                httplib::Response& res) {
      const auto start = std::chrono::steady_clock::now();
      const std::string request_id = std::to_string(++request_counter_);
      res.set_header("X-Request-Id", request_id);
      internal_error_.clear();
      current_token_.reset();
      std::string user = "-";
      [&] {
        if (auto bad = invalid_utf8_in(req)) return reply_error(res, 400, *bad);
        logline::identity who =
            anonymous;  // the routes without a scope only read, and as no one in particular
        if (*d.scope) {
          const std::string auth = req.get_header_value("Authorization");
          if (auth.rfind("Bearer ", 0) != 0)
            return reply_error(res, 401, "missing bearer token (Authorization: Bearer <token>)");
          const std::string token = auth.substr(7);
          auto record = tokens_.find(token);
          if (!record) return reply_error(res, 401, "unknown or revoked token");
          user = record->identity.user_id;
          if (!record->allows(d.scope))
            return reply_error(res, 403,
                               std::string("this token lacks the scope '") + d.scope + "'");
          if (!limiter_.allow(record->id.to_string())) {  // one bucket per token
            res.set_header("Retry-After", "1");
            return reply_error(res, 429, "rate limit of this token exceeded");
          }
          who = record->identity;
          current_token_ = std::move(record);
        }
        if (req.body.size() > options_.max_body_bytes)  // a chunked body, once decoded
          return reply_error(
              res, 413,
              "the body is larger than " + std::to_string(options_.max_body_bytes) + " bytes");
        if (std::string_view(d.method) == "post") {
          const std::string type = req.get_header_value("Content-Type");
          if (type.rfind("application/json", 0) != 0)
            return reply_error(res, 415, "the body must be application/json");
        }
        auto s = ledger_.as(who);
        try {
          h(req, res, s);
        } catch (const bad_request& e) {
          fail(res, e.error);
        }
      }();
      if (res.status == -1) res.status = 200;
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.observe(d.path, res.status, seconds);
      log(req, res, request_id, seconds, user);
    };
    if (std::string_view(method) == "post")
      svr.Post(pattern, wrapped);
    else
      svr.Get(pattern, wrapped);
  }

  void log(const httplib::Request& req, const httplib::Response& res, const std::string& request_id,
           double seconds, const std::string& user) {
    if (!options_.access_log) return;
    json line{
        {"ts", timestamp::now().to_string()},
        {"request_id", request_id},
        {"method", req.method},
        {"path", req.path},
        {"status", res.status},
        {"duration_ms", static_cast<double>(static_cast<std::int64_t>(seconds * 1e6)) / 1000.0},
        {"user", user},
        {"remote", req.remote_addr}};
    if (!internal_error_.empty())
      line["error"] = internal_error_;  // the storage engine's words: for the operator only
    options_.access_log(canonical(line));
  }

  // A path, query parameter or cursor header that is not UTF-8 is the client's error, said
  // before anything reads it (and before it can reach a database that refuses it with its own
  // words, or an error message that would echo it into a JSON body).
  static std::optional<std::string> invalid_utf8_in(const httplib::Request& req) {
    if (!is_valid_utf8(req.path)) return "the path is not valid UTF-8";
    for (const auto& [key, value] : req.params)
      if (!is_valid_utf8(key) || !is_valid_utf8(value))
        return "a query parameter is not valid UTF-8";
    if (!is_valid_utf8(req.get_header_value("Last-Event-ID")))
      return "Last-Event-ID is not valid UTF-8";
    return std::nullopt;
  }

  static void reply_error(httplib::Response& res, int status, std::string_view message) {
    reply(res, status, code_of(status), message);
  }
  static void reply(httplib::Response& res, int status, std::string_view code,
                    std::string_view message) {
    res.status = status;
    res.set_content(error_body(code, message), "application/json");
  }
  // A failure of the storage engine: its words belong in the operator's log, not to a client.
  static bool storage_failure(const error_info& e) {
    return e.from_storage() || e == errc::storage_error || e == errc::busy;
  }
  // What a client is told of an error (a response body, a stream's error event).
  static std::string client_message(const error_info& e, std::string_view request_id) {
    if (!storage_failure(e)) return e.message();
    return public_message(e) + " (request " + std::string(request_id) + ")";
  }
  void fail(httplib::Response& res, const error_info& e) {
    const http_answer a = answer_for(e);
    if (e == errc::integrity_violation) metrics_.verify_failures++;
    if (storage_failure(e)) internal_error_ = e.message();
    reply(res, a.status, a.code, client_message(e, res.get_header_value("X-Request-Id")));
  }

  static uuid parse_id(const std::string& text) {
    auto id = uuid::parse(text);
    if (!id)
      throw bad_request{
          make_error(errc::invalid_argument, "'" + text.substr(0, 40) + "' is not a uuid")};
    return *id;
  }
  template <class Int>
  static Int parse_int(const std::string& text, const char* name, std::int64_t lo,
                       std::int64_t hi) {
    std::int64_t v = 0;
    bool ok = !text.empty() && text.size() <= 18 &&
              text.find_first_not_of("0123456789") == std::string::npos;
    if (ok) v = std::stoll(text);
    if (!ok || v < lo || v > hi)
      throw bad_request{make_error(errc::invalid_argument,
                                   std::string(name) + " must be an integer in [" +
                                       std::to_string(lo) + ", " + std::to_string(hi) + "]")};
    return static_cast<Int>(v);
  }

  static timeline_query timeline_from(const httplib::Request& req) {
    timeline_query q;
    for (const auto& [key, value] : req.params) {
      if (key == "entity_type")
        q.entity_type = value;
      else if (key == "status")
        q.status = value;
      else if (key == "owner_id")
        q.owner_id = value;
      else if (key == "tenant_id")
        q.tenant_id = value;
      else if (key == "trace_id")
        q.trace_id = value;
      else if (key == "parent_id")
        q.parent_id = parse_id(value);
      else if (key == "since" || key == "until") {
        auto t = timestamp::parse(value);
        if (!t)
          throw bad_request{make_error(errc::invalid_argument, key + ": " + t.error().message())};
        (key == "since" ? q.since : q.until) = *t;
      } else if (key == "visibility") {
        auto v = parse_visibility(value);
        if (!v)
          throw bad_request{
              make_error(errc::invalid_argument, "visibility: " + v.error().message())};
        q.visibility = *v;
      } else if (key == "limit")
        q.limit = parse_int<std::size_t>(value, "limit", 1, timeline_query::max_limit);
      else if (key == "cursor")
        q.cursor = value;
      else
        throw bad_request{make_error(errc::invalid_argument,
                                     "unknown query parameter '" + key.substr(0, 40) + "'")};
    }
    return q;
  }

  static void send_spans(httplib::Response& res, const std::vector<universal_span>& spans,
                         int status) {
    std::string body = "[";
    for (std::size_t i = 0; i < spans.size(); ++i) {
      if (i) body += ',';
      body += span_to_json_text(spans[i]);
    }
    body += ']';
    res.status = status;
    res.set_content(body, "application/json");
  }

  // A span from a request object, read as every entry point reads one (span_input.hpp).
  static universal_span span_from(const json& j, const std::string& where,
                                  const logline::identity& caller) {
    auto s = span_from_input(j, where, caller);
    if (!s) throw bad_request{s.error()};
    return std::move(*s);
  }

  void post_spans(const httplib::Request& req, httplib::Response& res, view& s) {
    auto body = parse_json(req.body);
    if (!body) return fail(res, body.error());
    if (body->is_array()) {
      if (body->empty()) return fail(res, make_error(errc::invalid_span, "an empty batch"));
      if (body->size() > options_.max_batch)
        return fail(res,
                    make_error(errc::too_large, "a batch holds at most " +
                                                    std::to_string(options_.max_batch) + " spans"));
      std::vector<universal_span> spans;
      std::vector<bool> next;
      spans.reserve(body->size());
      for (std::size_t i = 0; i < body->size(); ++i) {
        spans.push_back(
            span_from((*body)[i], "span #" + std::to_string(i) + " of the batch: ", s.identity()));
        next.push_back(false);
      }
      auto stored = s.append_batch(std::move(spans), std::move(next));
      if (!stored) return fail(res, stored.error());
      metrics_.appends += stored->size();
      return send_spans(res, *stored, 201);
    }
    auto span = span_from(*body, "", s.identity());
    auto stored = s.append(std::move(span));
    if (!stored) return fail(res, stored.error());
    ++metrics_.appends;
    res.status = 201;
    res.set_content(span_to_json_text(*stored), "application/json");
  }

  void execute(const httplib::Request& req, httplib::Response& res, view& s) {
    auto body = parse_json(req.body);
    if (!body) return fail(res, body.error());
    if (!body->is_object() || !body->contains("span_id") || !(*body)["span_id"].is_string())
      return fail(
          res, make_error(
                   errc::invalid_span,
                   "expected {\"span_id\": \"<uuid>\", \"key\": \"<optional idempotency key>\"}"));
    for (const auto& [k, v] : body->items())
      if (k != "span_id" && k != "key")
        return fail(res, make_error(errc::invalid_span, "unknown field '" + k.substr(0, 40) + "'"));
    // The request key (the unique index's third column): the client's idempotency key, or a fresh
    // one, so every call without a key enqueues a run.
    std::string key;
    if (auto k = body->find("key"); k != body->end()) {
      if (!k->is_string() || k->get<std::string>().empty() || k->get<std::string>().size() > 200)
        return fail(res,
                    make_error(errc::invalid_span, "key must be a string of 1 to 200 characters"));
      key = "api:" + k->get<std::string>();
    } else {
      key = "api:" + uuid::v7().to_string();
    }
    const uuid target = parse_id((*body)["span_id"].get<std::string>());
    auto function = s.get(target);
    if (!function) return fail(res, function.error());
    if (function->entity_type != entity::function)
      return fail(res, make_error(errc::invalid_argument,
                                  "span " + target.to_string() + " is a '" +
                                      function->entity_type.substr(0, 40) +
                                      "', not a function: only a function can be executed"));
    const timestamp scheduled_for = timestamp::now();
    universal_span request;
    request.entity_type = entity::request;
    request.who = s.identity().user_id;
    request.did = "scheduled";
    request.this_ = "execute " + target.to_string();
    request.status = "scheduled";
    request.parent_id = target;
    request.trace_id = function->trace_id;
    request.metadata = json{{"scheduled_for", scheduled_for.to_string()}, {"request_key", key}};
    auto stored = s.append(std::move(request));
    if (!stored) {
      if (stored.error() == errc::version_conflict)
        return fail(
            res, make_error(errc::version_conflict,
                            "span " + target.to_string() + " already has a request with this key"));
      return fail(res, stored.error());
    }
    ++metrics_.appends;
    res.status = 202;
    res.set_content(canonical(json{{"request_id", stored->id.to_string()},
                                   {"scheduled_for", scheduled_for.to_string()}}),
                    "application/json");
  }

  void verify(const httplib::Request& req, httplib::Response& res, view& s) {
    const uuid id = parse_id(req.matches[1]);
    auto rows = s.history(id);
    bool ok = true;
    json versions = json::array();
    if (!rows) {
      if (!(rows.error() == errc::integrity_violation)) return fail(res, rows.error());
      ++metrics_.verify_failures;
      res.set_content(
          canonical(json{{"id", id.to_string()}, {"ok", false}, {"error", rows.error().message()}}),
          "application/json");
      return;
    }
    if (rows->empty())
      return fail(res, make_error(errc::not_found, "span " + id.to_string() + " not found"));
    for (const auto& v : *rows) {
      const auto a = authenticity_of(v);
      ok = ok && a.hash_ok && a.signature_ok;
      versions.push_back(
          {{"seq", v.seq}, {"hash_ok", a.hash_ok}, {"signature_ok", a.signature_ok}});
    }
    if (!ok) ++metrics_.verify_failures;
    res.set_content(canonical(json{{"id", id.to_string()}, {"ok", ok}, {"versions", versions}}),
                    "application/json");
  }

  // Server-sent events: every new visible span (optionally of one entity_type), id = its feed
  // cursor. Resumes after Last-Event-ID (or ?after=) with no loss and no duplicate. A stream
  // reads the feed as its caller until it has caught up, then takes events from the hub (one
  // reader per identity, a bounded queue per stream; see stream_hub.hpp). A stream that falls
  // `stream_queue` events behind is ended; its client resumes from its last event id.
  // Streams are capped per token and in total (each holds a connection and its thread); a stream
  // re-checks its token every `stream_recheck` and ends with an error event once the token is
  // revoked or has lost its scope. A span that fails its integrity check ends the stream with an
  // error event (and a line in the access log), never silently.
  void stream(const httplib::Request& req, httplib::Response& res, view& s) {
    std::optional<std::string> entity_type;
    std::string cursor = req.get_header_value("Last-Event-ID");
    for (const auto& [key, value] : req.params) {
      if (key == "entity_type")
        entity_type = value;
      else if (key == "after")
        cursor = value;
      else
        throw bad_request{make_error(errc::invalid_argument,
                                     "unknown query parameter '" + key.substr(0, 40) + "'")};
    }
    LOGLINE_ASSERT(current_token_.has_value(), "the stream route requires a token");
    const token_record token = *current_token_;
    switch (streams_.acquire(token.id, options_.max_streams, options_.max_streams_per_token)) {
      case token_slots::verdict::too_many:
        res.set_header("Retry-After", "5");
        return reply_error(res, 503,
                           "the server has " + std::to_string(options_.max_streams) +
                               " open streams, the most it serves; retry later");
      case token_slots::verdict::too_many_for_token:
        res.set_header("Retry-After", "5");
        return reply_error(res, 429,
                           "this token has " + std::to_string(options_.max_streams_per_token) +
                               " open streams, the most allowed");
      case token_slots::verdict::admitted:
        break;
    }
    // The cursor is checked before the stream starts: a malformed one is a 400. The probe reads
    // one entry of the operator's view (an index seek; as the caller it could scan every entry
    // the caller cannot see) and shows nothing of it. (A span that fails its integrity check is
    // the stream's to report, in an error event.)
    if (auto probe = ledger_.as_operator().changes(cursor, 1);
        !probe && !(probe.error() == errc::integrity_violation)) {
      streams_.release(token.id);
      return fail(res, probe.error());
    }
    struct state {
      view s;
      std::string cursor;
      std::shared_ptr<stream_client> client;
      token_record token;
      std::string request_id;
      bool live = false;
      std::chrono::steady_clock::time_point last_write, last_check;
    };
    const auto now = std::chrono::steady_clock::now();
    auto st = std::make_shared<state>(
        state{s, cursor, std::make_shared<stream_client>(entity_type, options_.stream_queue), token,
              res.get_header_value("X-Request-Id"), false, now, now});
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    ++metrics_.sse_clients;
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, st](std::size_t, httplib::DataSink& sink) {
          // Ends the stream with an error event.
          auto end_with = [&](const std::string& event, std::string_view why) {
            sink.write(event.data(), event.size());
            log_stream_end(*st, why);
            sink.done();
            return true;
          };
          const auto now = std::chrono::steady_clock::now();
          if (now - st->last_check >= options_.stream_recheck) {
            st->last_check = now;
            auto current = tokens_.find_by_id(st->token.id);
            if (!current || !current->allows("spans:read") ||
                current->identity.user_id != st->token.identity.user_id ||
                current->identity.tenant_id != st->token.identity.tenant_id)
              return end_with(
                  stream_error_text(
                      "unauthorized",
                      "the token of this stream was revoked or lost the scope spans:read"),
                  "token revoked");
          }
          std::string out;
          bool overflowed = false;
          if (!st->live) {
            // Catching up: the feed as the caller, a page at a time; one page read at a time per
            // token and a few in total, so that replays of long histories cannot take the
            // server's readers and cores from other requests (the others wait their turn).
            // A stream waiting for its turn sleeps until a slot is released (or 200 ms, to
            // write its keep-alive and notice a stop).
            auto slot = catchups_.wait_for(st->token.id,
                                           std::max<std::size_t>(options_.max_stream_catchups, 1),
                                           1, std::chrono::milliseconds(200));
            if (!slot) {
              if (stopping_) {
                sink.done();
                return true;
              }
              if (now - st->last_write >= options_.keep_alive) {
                if (!sink.write(": keep-alive\n\n", 14)) return false;
                st->last_write = now;
              }
              return true;
            }
            const auto seen = ledger_plumbing::commits(ledger_);
            auto batch = st->s.feed(st->cursor, hub_page);
            slot.reset();
            if (!batch) {
              if (batch.error() == errc::integrity_violation) ++metrics_.verify_failures;
              return end_with(stream_error_text(answer_for(batch.error()).code,
                                                client_message(batch.error(), st->request_id)),
                              batch.error().message());
            }
            for (const auto& c : batch->changes)
              if (st->client->wants(c.span.entity_type)) out += stream_event_text(c);
            st->cursor = batch->next;
            if (batch->changes.size() < hub_page) {
              st->client->set_after(st->cursor);
              st->live = hub_.join(st->s.identity(), st->client);
              // Not joined (the hub's reader of this identity is past its cursor by more than
              // the hub remembers, or its cursor lies ahead of the feed): go on reading alone.
              if (!st->live && !stopping_)
                ledger_plumbing::wait_for_commit(ledger_, seen, std::chrono::milliseconds(500));
            }
          } else {
            auto taken = st->client->take(std::chrono::milliseconds(500));
            for (const auto& e : taken.events) out += e->text;
            if (taken.failure) {
              ++metrics_.verify_failures;
              if (!out.empty() && !sink.write(out.data(), out.size())) return false;
              return end_with(*taken.failure, "integrity violation in the feed");
            }
            overflowed = taken.overflowed;
            if (overflowed) ++metrics_.sse_overflows;
          }
          if (out.empty() && now - st->last_write >= options_.keep_alive) out = ": keep-alive\n\n";
          if (!out.empty()) {
            if (!sink.write(out.data(), out.size())) return false;
            st->last_write = now;
          }
          if (overflowed) {
            const std::string bye = ": this stream fell behind by more than " +
                                    std::to_string(options_.stream_queue) +
                                    " events; reconnect with Last-Event-ID\n\n";
            sink.write(bye.data(), bye.size());
          }
          if (overflowed || stopping_) {
            sink.done();
            return true;
          }
          return true;
        },
        [this, st](bool) {
          if (st->live) hub_.leave(st->s.identity(), st->client);
          streams_.release(st->token.id);
          --metrics_.sse_clients;
        });
  }

  // The listener's counters, when mounted on a logline::http::server.
  std::string connection_metrics() const {
    if (!listener_) return {};
    const auto& c = listener_->stats();
    auto counter = [](const char* name, const char* help, std::uint64_t v,
                      const char* type = "counter") {
      return std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
             name + " " + std::to_string(v) + "\n";
    };
    return counter("logline_http_connections", "Open connections.", listener_->open_connections(),
                   "gauge") +
           counter("logline_http_connections_refused_total",
                   "Connections answered 503 because a connection cap was reached.",
                   c.refused.load()) +
           counter("logline_http_connections_refused_per_address_total",
                   "Of those, refused by the per-address cap.", c.refused_per_address.load()) +
           counter("logline_http_request_deadline_exceeded_total",
                   "Requests cut off by the request deadline.", c.deadline_exceeded.load()) +
           counter("logline_http_request_too_large_total",
                   "Requests that read past their body allowance.", c.too_large.load());
  }

  // One access-log line for a stream that the server ended (the request's own line was written
  // when the stream started).
  template <class State>
  void log_stream_end(const State& st, std::string_view why) {
    if (!options_.access_log) return;
    options_.access_log(canonical(json{{"ts", timestamp::now().to_string()},
                                       {"request_id", st.request_id},
                                       {"event", "stream_ended"},
                                       {"user", st.token.identity.user_id},
                                       {"error", std::string(why)}}));
  }

  // Slots counted per token and in total: open streams, and streams reading their catch-up.
  class token_slots {
   public:
    enum class verdict { admitted, too_many, too_many_for_token };
    verdict acquire(const uuid& token, std::size_t max_total, std::size_t max_per_token) {
      std::lock_guard lock(mutex_);
      return admit(token, max_total, max_per_token);
    }
    void release(const uuid& token) {
      {
        std::lock_guard lock(mutex_);
        auto it = per_token_.find(token);
        if (it != per_token_.end() && --it->second == 0) per_token_.erase(it);
        --total_;
      }
      freed_.notify_all();
    }
    // A slot held until the guard goes or reset() (an empty guard holds none).
    class held {
     public:
      held() = default;
      held(token_slots& slots, const uuid& token) : slots_(&slots), token_(token) {}
      held(held&& o) noexcept : slots_(std::exchange(o.slots_, nullptr)), token_(o.token_) {}
      held& operator=(held&&) = delete;
      ~held() { reset(); }
      explicit operator bool() const noexcept { return slots_ != nullptr; }
      void reset() {
        if (slots_) std::exchange(slots_, nullptr)->release(token_);
      }

     private:
      token_slots* slots_ = nullptr;
      uuid token_{};
    };
    // Waits up to `timeout` for a slot (woken when one is released); an empty guard if it
    // stayed taken.
    held wait_for(const uuid& token, std::size_t max_total, std::size_t max_per_token,
                  std::chrono::milliseconds timeout) {
      std::unique_lock lock(mutex_);
      // (The predicate takes the slot when it is free.)
      if (!freed_.wait_for(lock, timeout, [&] {
            return admit(token, max_total, max_per_token) == verdict::admitted;
          }))
        return {};
      return held(*this, token);
    }

   private:
    verdict admit(const uuid& token, std::size_t max_total, std::size_t max_per_token) {
      if (total_ >= max_total) return verdict::too_many;
      const auto it = per_token_.find(token);
      if ((it == per_token_.end() ? 0 : it->second) >= max_per_token)
        return verdict::too_many_for_token;
      ++per_token_[token];
      ++total_;
      return verdict::admitted;
    }
    std::mutex mutex_;
    std::condition_variable freed_;
    std::size_t total_ = 0;
    std::map<uuid, std::size_t> per_token_;
  };

  Ledger& ledger_;
  server_options options_;
  token_registry<Ledger> tokens_;
  rate_limiter limiter_;
  metrics metrics_;
  token_slots streams_;
  token_slots catchups_;
  const server* listener_ = nullptr;
  std::atomic<std::uint64_t> request_counter_{0};
  std::atomic<bool> stopping_{false};
  // The storage engine's words of the error of the request this thread serves (access log only).
  static inline thread_local std::string internal_error_;
  // The token of the request this thread serves (none for the routes without a scope).
  static inline thread_local std::optional<token_record> current_token_;
  static constexpr std::size_t hub_page = 256;
  stream_hub<Ledger> hub_{ledger_, {.recent = 1024, .page = hub_page}};
};

}  // namespace logline::http
