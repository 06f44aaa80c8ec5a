#pragma once
// How provider_exec sends one request to an LLM provider: an interface, so that the runtime does
// not depend on an HTTP library. logline::http::provider_client() (<logline/http/
// provider_client.hpp>, on cpp-httplib) is the client logline-server and logline-scheduler give
// it; a program may give another (a proxy's, a test's). provider_exec decides everything before
// the call (the destination and the address it must connect to, the credential, the body) and
// everything after it (retries, backoff, what is recorded); the transport only carries bytes.
#include <chrono>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace logline::runtime {

struct provider_request {
  bool https = false;
  std::string host;  // the provider's host name: TLS (SNI, the certificate) and Host
  int port = 0;
  std::string address;  // the IP address to connect to, checked by provider_exec (egress.hpp):
                        // never what `host` resolves to by the time of the call
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;  // besides Content-Type
  std::string body;                                          // JSON (application/json)
  std::chrono::milliseconds timeout{60'000};  // bounds the connection and each read and write
};

struct provider_response {
  enum class failure {
    none,             // an HTTP answer: status, body, retry_after
    tls_unavailable,  // https asked of a client without TLS; nothing was sent
    tls,              // the TLS handshake or the certificate failed; not retried
    connect,          // connection refused or reset; retried
    connect_timeout,  // retried
    read,             // retried
    write,            // retried
    other,            // not retried
  };
  failure failed = failure::none;
  std::string failure_text;  // the client's words for a failure
  int status = 0;
  std::string body;
  std::string retry_after;  // the Retry-After header as sent, "" without one
};

using provider_transport = std::function<provider_response(const provider_request&)>;

}  // namespace logline::runtime
