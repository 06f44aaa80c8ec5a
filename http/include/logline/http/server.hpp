#pragma once
// logline::http::api, the HTTP API over a ledger (api.hpp), with what it is made of: the answer
// of each error kind (errors.hpp), the routes and their OpenAPI document (routes.hpp), the
// counters of /metrics (metrics.hpp), the rate limiter (rate_limit.hpp), the connection limits
// of the server (listener.hpp), the timeline stream's hub (stream_hub.hpp) and API tokens
// (tokens.hpp).
#include "logline/http/api.hpp"
