#pragma once
// The routes of the HTTP API, from one table: what /openapi.json documents and what
// api::mount() registers (a test checks that the two agree).
#include <string>
#include <vector>

#include "logline/json.hpp"

namespace logline::http {

// One route of the API: what /openapi.json documents and what mount() registers, from one table.
struct route_doc {
  const char* method;
  const char* path;   // OpenAPI path template
  const char* scope;  // required scope, "" for none
  const char* summary;
};
inline const std::vector<route_doc>& routes() {
  static const std::vector<route_doc> table = {
      {"post", "/api/spans", "spans:write",
       "Append one span (object) or a batch (array), all or nothing"},
      {"get", "/api/spans/{id}", "spans:read",
       "The latest visible version of a span (?seq= for a version)"},
      {"get", "/api/spans/{id}/history", "spans:read", "Every visible version, oldest first"},
      {"get", "/api/timeline", "spans:read",
       "A page of the timeline, newest first: {spans, next_cursor}"},
      {"get", "/api/timeline/stream", "spans:read",
       "Server-sent events: every new visible span, id = feed cursor"},
      {"get", "/api/manifest/{name}", "spans:read", "The latest manifest span of that name"},
      {"post", "/api/execute", "execute",
       "Schedule a function: appends a request span {request_id, scheduled_for}; body {span_id, "
       "key?}, a repeated key is a 409"},
      {"get", "/api/verify/{id}", "spans:read",
       "Re-checks the hash and signature of every visible version"},
      {"get", "/health", "", "Liveness and database reachability"},
      {"get", "/metrics", "", "Prometheus text metrics"},
      {"get", "/openapi.json", "", "This document"},
  };
  return table;
}

inline const std::string& openapi_document() {
  static const std::string text = [] {
    json paths = json::object();
    for (const auto& r : routes()) {
      json op{{"summary", r.summary},
              {"responses",
               {{"200", {{"description", "OK"}}},
                {"default", {{"description", "{\"error\":{\"code\",\"message\"}}"}}}}}};
      if (*r.scope) op["security"] = json::array({json{{"bearer", json::array({r.scope})}}});
      json params = json::array();
      const std::string p = r.path;
      for (const char* name : {"id", "name"})
        if (p.find(std::string("{") + name + "}") != std::string::npos)
          params.push_back({{"name", name},
                            {"in", "path"},
                            {"required", true},
                            {"schema", {{"type", "string"}}}});
      if (!params.empty()) op["parameters"] = params;
      paths[r.path][r.method] = op;
    }
    json doc{{"openapi", "3.1.0"},
             {"info",
              {{"title", "logline"},
               {"version", "0.1.0"},
               {"description", "LogLineOS's API over a logline ledger"}}},
             {"paths", paths},
             {"components",
              {{"securitySchemes", {{"bearer", {{"type", "http"}, {"scheme", "bearer"}}}}}}}};
    return doc.dump(2);
  }();
  return text;
}

}  // namespace logline::http
