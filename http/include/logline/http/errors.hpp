#pragma once
// How the HTTP API answers an error: the status and `code` of each error kind, the `code` of a
// status, and the JSON body {"error":{"code","message"}}.
#include <string>
#include <string_view>

#include "logline/error.hpp"
#include "logline/json.hpp"

namespace logline::http {

// How an error is answered: the HTTP status and the `code` of the body. One entry per error kind
// (the switch has no default, so a new errc does not compile without its answer). A kind a client
// fixes in its request keeps its status's code ("bad_request", "conflict"); a kind a status does
// not say by itself is named (a quota refusal is 429 `policy_violation`, not 500).
struct http_answer {
  int status;
  std::string_view code;
};
inline http_answer answer_for(const error_info& e) {
  if (e.code().category() != logline_category()) return {500, "internal_error"};
  switch (static_cast<errc>(e.code().value())) {
    case errc::invalid_span:
    case errc::invalid_json:
    case errc::invalid_argument:
    case errc::invalid_key:
      return {400, "bad_request"};
    case errc::bad_signature:
      return {400, "bad_signature"};
    case errc::not_found:
      return {404, "not_found"};
    case errc::version_conflict:
      return {409, "conflict"};
    case errc::permission_denied:
    case errc::unknown_key:
      return {403, "forbidden"};
    case errc::too_large:
      return {413, "payload_too_large"};
    case errc::busy:
      return {503, "unavailable"};
    case errc::policy_violation:
      return {429, "policy_violation"};
    case errc::execution_failed:
      return {422, "execution_failed"};
    case errc::limit_exceeded:
      return {422, "limit_exceeded"};
    case errc::integrity_violation:
      return {500, "integrity_violation"};
    case errc::storage_error:
      return {500, "internal_error"};
  }
  return {500, "internal_error"};
}
inline int status_of(const error_info& e) { return answer_for(e).status; }
inline std::string code_of(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 411:
      return "length_required";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal_error" : "error";
  }
}
inline std::string error_body(std::string_view code, std::string_view message) {
  json j{{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}};
  return canonical(j);
}
inline std::string error_body(int status, std::string_view message) {
  return error_body(code_of(status), message);
}

}  // namespace logline::http
