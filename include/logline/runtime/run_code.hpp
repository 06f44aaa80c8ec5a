#pragma once
// The run_code kernel (LogLineOS id …001): runs a user function span's Lua code, as its caller.
//
//   stage0.register_kernel(runtime::ids::run_code, runtime::run_code<Ledger>());
//   stage0.boot(runtime::ids::run_code, {{"span_id", fn.id.to_string()}, {"input", {...}}}, who);
//
// The function (entity_type "function", language "lua") is read as the caller and checked like
// any booted span (hash; signature when the manifest requires one). Its code runs in the Lua
// sandbox (lua.hpp) with the manifest's slow_ms as its wall-clock limit and gets `ctx`:
//
//   ctx.input         the "input" member of the kernel's input
//   ctx.env           {user_id, tenant_id} of the caller
//   ctx.now           the time of the call (RFC 3339, ms, UTC)
//   ctx.function      {id, seq, name}
//   ctx.query(q)      a timeline page visible to the caller: q = {entity_type=, status=, limit=, ...}
//   ctx.insert_span(s) appends a span as the caller (hashed, chained, signed by the ledger); returns it
//   ctx.blake3(s), ctx.uuid()
//
// Its return value is the execution's output. The function is locked for the whole run
// (Ledger::hold: an advisory lock on PostgreSQL), so two runs of one function never overlap.
// Still to come (see CHANGELOG): the per-tenant daily quota and the slow status patch.
#include <string>

#include "logline/backend.hpp"
#include "logline/json.hpp"
#include "logline/runtime/lua.hpp"
#include "logline/runtime/stage0.hpp"
#include "logline/schema.hpp"

namespace logline::runtime {

// ctx.query's argument: {entity_type=, status=, owner_id=, trace_id=, limit=} (all optional).
inline result<timeline_query> query_of(const json& q) {
  timeline_query out;
  if (q.is_null()) return out;
  if (!q.is_object()) return make_error(errc::invalid_argument, "query: expects a table of filters");
  for (const auto& [k, v] : q.items()) {
    if (k == "limit" && v.is_number_integer() && v.get<std::int64_t>() > 0)
      out.limit = std::min<std::size_t>(v.get<std::size_t>(), timeline_query::max_limit);
    else if (k == "entity_type" && v.is_string()) out.entity_type = v.get<std::string>();
    else if (k == "status" && v.is_string()) out.status = v.get<std::string>();
    else if (k == "owner_id" && v.is_string()) out.owner_id = v.get<std::string>();
    else if (k == "trace_id" && v.is_string()) out.trace_id = v.get<std::string>();
    else return make_error(errc::invalid_argument, "query: unknown or mistyped filter '" + k.substr(0, 40) + "'");
  }
  return out;
}

template <class Ledger>
struct run_code {
  lua_limits limits{};  // timeout is replaced by the manifest's slow_ms

  result<json> operator()(typename stage0<Ledger>::call& c) const {
    if (!c.input.is_object() || !c.input.contains("span_id") || !c.input["span_id"].is_string())
      return make_error(errc::invalid_argument, "run_code: the input must be {\"span_id\": \"<function id>\", \"input\": ...}");
    auto id = uuid::parse(c.input["span_id"].template get<std::string>());
    if (!id) return make_error(errc::invalid_argument, "run_code: span_id is not a uuid");
    auto function = c.as.get(*id);
    if (!function) return std::move(function).error();
    if (function->entity_type != "function" || function->language != "lua" || !function->code)
      return make_error(errc::invalid_argument, "run_code: span " + id->to_string() + " is not a Lua function (entity_type function, language lua, code)");
    if (auto ok = stage0<Ledger>::authentic(*function, c.manifest.signatures_required); !ok) return std::move(ok).error();
    // One run of a function at a time, for the whole run (LogLineOS released its lock at once).
    auto held = c.ledger.hold("function:" + id->to_string());
    if (!held) return std::move(held).error();

    lua_context ctx;
    ctx.values["input"] = c.input.contains("input") ? c.input["input"] : json(nullptr);
    const auto& who = c.as.identity();
    ctx.values["env"] = json{{"user_id", who.user_id}, {"tenant_id", who.tenant_id ? json(*who.tenant_id) : json(nullptr)}};
    ctx.values["now"] = timestamp::now().to_string();
    ctx.values["function"] = json{{"id", function->id.to_string()}, {"seq", function->seq}, {"name", function->name.value_or("")}};
    auto& as = c.as;
    ctx.functions["query"] = [&as](const json& args) -> result<json> {
      auto q = query_of(args.empty() ? json(nullptr) : args[0]);
      if (!q) return std::move(q).error();
      auto page = as.timeline(*q);
      if (!page) return std::move(page).error();
      json spans = json::array();
      for (const auto& s : page->spans) {
        auto j = parse_json(span_to_json_text(s));
        if (!j) return std::move(j).error();
        spans.push_back(std::move(*j));
      }
      return spans;
    };
    ctx.functions["insert_span"] = [&as](const json& args) -> result<json> {
      if (args.empty() || !args[0].is_object()) return make_error(errc::invalid_span, "insert_span: expects one table");
      auto span = span_from_json<universal_span>(args[0]);
      if (!span) return std::move(span).error();
      auto stored = as.append(std::move(*span));
      if (!stored) return std::move(stored).error();
      return parse_json(span_to_json_text(*stored));
    };
    lua_limits l = limits;
    l.timeout = std::chrono::milliseconds(c.manifest.slow_ms);
    return run_lua(*function->code, ctx, l);
  }
};

}  // namespace logline::runtime
