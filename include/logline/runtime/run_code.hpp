#pragma once
// The run_code kernel (LogLineOS id …001): runs a user function span's Lua code, as its caller.
//
//   stage0.register_kernel(runtime::ids::run_code, runtime::run_code<Ledger>());
//   stage0.boot(runtime::ids::run_code, {{"span_id", fn.id.to_string()}, {"input", {...}}}, who);
//
// The function (entity_type "function", language "lua") is read as the caller and checked like
// any booted span (hash; signature when the manifest requires one; its latest version has its
// first version's owner, so nobody's code runs under another's function id). Its code runs in the Lua
// sandbox (lua.hpp) with the manifest's slow_ms as its wall-clock limit and gets `ctx`:
//
//   ctx.input         the "input" member of the kernel's input
//   ctx.env           {user_id, tenant_id} of the caller
//   ctx.now           the time of the call (RFC 3339, ms, UTC)
//   ctx.function      {id, seq, name}
//   ctx.query(q)      a timeline page visible to the caller: q = {entity_type=, status=, limit=, ...}
//   ctx.insert_span(s) appends a span as the caller (hashed, chained, signed by the ledger), held to
//                     the caller's rights (DESIGN §5; `who` is the caller's user id); returns it
//   ctx.blake3(s), ctx.uuid()
//
// Its return value is the execution's output. The function is locked for the whole run
// (Ledger::hold: an advisory lock on PostgreSQL), so two runs of one function never overlap.
//
// Quota: a tenant may boot run_code `throttle.per_tenant_daily_exec_limit` times per day, the
// day running from midnight to midnight in the tenant's time zone (manifest
// `throttle.time_zones`, default UTC). Boots are counted by their boot_event spans, this one
// included, so two boots at once can both be refused but never both pass over the limit. Over
// it, a `policy_violation` span is appended and the run is refused (errc::policy_violation),
// unless the function carries `metadata.force = {"signature": "<hex>"}`: an Ed25519 signature by
// the manifest's override key over force_message(function id, code) (make one with
// force_grant or `logline-cli force`). The function's own signature is the ledger's, so it says
// nothing about the override key.
//
// Slow runs: the Lua timeout is slow_ms; a run that still succeeds after more than slow_ms (time
// spent in host calls, which the sandbox cannot interrupt) adds a `status_patch` span with
// status "slow" for the function.
#include <chrono>
#include <functional>
#include <string>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/ed25519.hpp"
#include "logline/entity_types.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/runtime/cron.hpp"
#include "logline/runtime/lua.hpp"
#include "logline/runtime/stage0.hpp"
#include "logline/schema.hpp"

namespace logline::runtime {

// What an override grant signs: BLAKE3 of "logline.force.v1\n<function id>\n<code>".
inline digest force_message(const uuid& function_id, std::string_view code) {
  std::string m = "logline.force.v1\n" + function_id.to_string() + "\n";
  m.append(code);
  digest d;
  d.bytes = blake3(m);
  return d;
}
// The override grant for a function's code, as metadata.force.signature (hex).
inline std::string force_grant(const ed25519::key& override_key, const uuid& function_id,
                               std::string_view code) {
  return override_key.sign(force_message(function_id, code)).to_string();
}
// Whether `fn` carries a valid grant by the manifest's override key.
inline bool force_granted(const universal_span& fn, const manifest& m) {
  if (!m.override_key || !fn.metadata || !fn.metadata->is_object() || !fn.code) return false;
  auto f = fn.metadata->find("force");
  if (f == fn.metadata->end() || !f->is_object()) return false;
  auto sig = f->find("signature");
  if (sig == f->end() || !sig->is_string()) return false;
  auto parsed = signature::parse(sig->get<std::string>());
  return parsed && ed25519::verify(*parsed, force_message(fn.id, *fn.code), *m.override_key);
}

// The tenant's day holding `now`: [local midnight, next local midnight) in `tz`, as UTC instants
// (23 or 25 hours long on daylight-saving days).
struct day_bounds {
  timestamp start, end;
};
inline day_bounds day_of(timestamp now, const date::time_zone* tz) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{milliseconds(now.unix_ms)};
  const auto local = tz->to_local(t);
  const auto midnight = date::floor<date::days>(local);
  auto instant = [&](date::local_days d) {
    return timestamp{
        duration_cast<milliseconds>(tz->to_sys(d, date::choose::earliest).time_since_epoch())
            .count()};
  };
  return {instant(midnight), instant(midnight + date::days(1))};
}

// Boots of run_code in `tenant` during `day`, counted up to `stop_at` (an operator count).
template <class Ledger>
result<std::int64_t> boots_in(Ledger& ledger, const std::string& tenant, const day_bounds& day,
                              std::int64_t stop_at) {
  timeline_query q;
  q.entity_type = entity::boot_event;
  q.tenant_id = tenant;
  q.parent_id = ids::run_code;
  q.since = day.start;
  q.until = day.end;
  return ledger.as_operator().count(q, stop_at);
}

// ctx.query's argument: {entity_type=, status=, owner_id=, trace_id=, limit=} (all optional).
inline result<timeline_query> query_of(const json& q) {
  timeline_query out;
  if (q.is_null()) return out;
  if (!q.is_object())
    return make_error(errc::invalid_argument, "query: expects a table of filters");
  for (const auto& [k, v] : q.items()) {
    if (k == "limit" && v.is_number_integer() && v.get<std::int64_t>() > 0)
      out.limit = std::min<std::size_t>(v.get<std::size_t>(), timeline_query::max_limit);
    else if (k == "entity_type" && v.is_string())
      out.entity_type = v.get<std::string>();
    else if (k == "status" && v.is_string())
      out.status = v.get<std::string>();
    else if (k == "owner_id" && v.is_string())
      out.owner_id = v.get<std::string>();
    else if (k == "trace_id" && v.is_string())
      out.trace_id = v.get<std::string>();
    else
      return make_error(errc::invalid_argument,
                        "query: unknown or mistyped filter '" + k.substr(0, 40) + "'");
  }
  return out;
}

template <class Ledger>
struct run_code {
  using call = typename stage0<Ledger>::call;
  lua_limits limits{};  // timeout is replaced by the manifest's slow_ms
  // Adds host functions or values to ctx before a run (e.g. ctx.fetch of your own).
  std::function<void(lua_context&, call&)> extend;

  result<json> operator()(typename stage0<Ledger>::call& c) const {
    if (!c.input.is_object() || !c.input.contains("span_id") || !c.input["span_id"].is_string())
      return make_error(
          errc::invalid_argument,
          "run_code: the input must be {\"span_id\": \"<function id>\", \"input\": ...}");
    auto id = uuid::parse(c.input["span_id"].template get<std::string>());
    if (!id) return make_error(errc::invalid_argument, "run_code: span_id is not a uuid");
    LOGLINE_TRY(function, c.as.get(*id));
    if (function.entity_type != entity::function || function.language != "lua" || !function.code)
      return make_error(errc::invalid_argument,
                        "run_code: span " + id->to_string() +
                            " is not a Lua function (entity_type function, language lua, code)");
    LOGLINE_TRY_VOID(stage0<Ledger>::authentic(function, c.manifest.signatures_required));
    LOGLINE_TRY_VOID(check_owner_continuity(c.ledger, function));
    LOGLINE_TRY_VOID(within_quota(c, function));
    // One run of a function at a time, for the whole run (LogLineOS released its lock at once).
    LOGLINE_TRY(held, ledger_plumbing::hold(c.ledger, "function:" + id->to_string()));

    lua_context ctx;
    ctx.values["input"] = c.input.contains("input") ? c.input["input"] : json(nullptr);
    const auto& who = c.as.identity();
    ctx.values["env"] = json{{"user_id", who.user_id},
                             {"tenant_id", who.tenant_id ? json(*who.tenant_id) : json(nullptr)}};
    ctx.values["now"] = timestamp::now().to_string();
    ctx.values["function"] = json{{"id", function.id.to_string()},
                                  {"seq", function.seq},
                                  {"name", function.name.value_or("")}};
    auto& as = c.as;
    ctx.functions["query"] = [&as](const json& args) -> result<json> {
      LOGLINE_TRY(query, query_of(args.empty() ? json(nullptr) : args[0]));
      auto page = as.timeline(query);
      if (!page) return for_user_code(page.error());
      json spans = json::array();
      for (const auto& s : page->spans) {
        LOGLINE_TRY(span_json, parse_json(span_to_json_text(s)));
        spans.push_back(std::move(span_json));
      }
      return spans;
    };
    ctx.functions["insert_span"] = [&as](const json& args) -> result<json> {
      if (args.empty() || !args[0].is_object())
        return make_error(errc::invalid_span, "insert_span: expects one table");
      LOGLINE_TRY(span, span_from_json<universal_span>(args[0]));
      LOGLINE_TRY_VOID(bind_who(span, as.identity()));
      auto stored = as.append(std::move(span));
      if (!stored) return for_user_code(stored.error());
      return parse_json(span_to_json_text(*stored));
    };
    if (extend) extend(ctx, c);
    lua_limits l = limits;
    l.timeout = std::chrono::milliseconds(c.manifest.slow_ms);
    const auto started = std::chrono::steady_clock::now();
    auto out = run_lua(*function.code, ctx, l);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
    if (out && took > c.manifest.slow_ms) {
      universal_span patch =
          about_function(function, entity::status_patch, "run_code", "flagged slow", c.trace_id);
      patch.status = "slow";
      patch.metadata = json{{"duration_ms", took}, {"slow_ms", c.manifest.slow_ms}};
      LOGLINE_TRY_VOID(c.records.append(std::move(patch)));
    }
    return out;
  }

 private:
  // An error as user code sees it (and its execution records it): without the storage engine's
  // words.
  static error_info for_user_code(const error_info& e) {
    return error_info(e.code(), public_message(e));
  }

  // The per-tenant daily quota (see the top of this file).
  static result<void> within_quota(call& c, const universal_span& function) {
    const auto& tenant = c.as.identity().tenant_id;
    if (!tenant) return {};  // identities without a tenant (operators) have no quota
    const std::int64_t limit = c.manifest.per_tenant_daily_exec_limit;
    std::string zone = "UTC";
    if (auto z = c.manifest.tenant_time_zones.find(*tenant);
        z != c.manifest.tenant_time_zones.end())
      zone = z->second;
    LOGLINE_TRY(tz, find_time_zone(zone));
    const day_bounds day = day_of(timestamp::now(), tz);
    LOGLINE_TRY(boots, boots_in(c.ledger, *tenant, day, limit + 1));
    if (boots <= limit) return {};
    const bool forced = force_granted(function, c.manifest);
    universal_span v = about_function(function, entity::policy_violation, "run_code",
                                      forced ? "overridden" : "refused", c.trace_id);
    v.status = forced ? "overridden" : "refused";
    v.metadata = json{{"policy", "per_tenant_daily_exec_limit"},
                      {"limit", limit},
                      {"tenant_id", *tenant},
                      {"time_zone", zone},
                      {"day_start", day.start.to_string()},
                      {"forced", forced}};
    LOGLINE_TRY_VOID(c.records.append(std::move(v)));
    if (forced) return {};
    return make_error(errc::policy_violation, "tenant '" + *tenant +
                                                  "' is over its daily quota of " +
                                                  std::to_string(limit) + " runs (day from " +
                                                  day.start.to_string() + ", " + zone + ")");
  }
};

}  // namespace logline::runtime
