#pragma once
// provider_exec's HTTP client on cpp-httplib (runtime/provider_transport.hpp): one POST to the
// address provider_exec checked, under the provider's host name.
//
//   runtime::node<Ledger>::options o;
//   o.provider_client = logline::http::provider_client();
//
// https needs cpp-httplib built with CPPHTTPLIB_OPENSSL_SUPPORT (Debian's is: its pkg-config
// flags define it); the server certificate is verified against the system's trust store. Needs
// logline::runtime's headers beside logline::http.
#include <httplib.h>

#include <ctime>
#include <memory>

#include "logline/runtime/provider_transport.hpp"

namespace logline::http {

inline runtime::provider_transport provider_client() {
  return [](const runtime::provider_request& r) {
    using failure = runtime::provider_response::failure;
    runtime::provider_response out;
    std::unique_ptr<httplib::ClientImpl> client;
    if (r.https) {
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
      auto tls = std::make_unique<httplib::SSLClient>(r.host, r.port);
      tls->enable_server_certificate_verification(true);
      client = std::move(tls);
#else
      out.failed = failure::tls_unavailable;
      out.failure_text =
          "base_url is https but this build's cpp-httplib has no TLS (CPPHTTPLIB_OPENSSL_SUPPORT)";
      return out;
#endif
    } else {
      client = std::make_unique<httplib::ClientImpl>(r.host, r.port);
    }
    const auto t = static_cast<std::time_t>(r.timeout.count());
    client->set_connection_timeout(t / 1000, (t % 1000) * 1000);
    client->set_read_timeout(t / 1000, (t % 1000) * 1000);
    client->set_write_timeout(t / 1000, (t % 1000) * 1000);
    client->set_hostname_addr_map({{r.host, r.address}});
    const httplib::Headers headers(r.headers.begin(), r.headers.end());
    auto res = client->Post(r.path, headers, r.body, "application/json");
    if (!res) {
      const auto err = res.error();
      out.failure_text = httplib::to_string(err);
      switch (err) {
        case httplib::Error::SSLConnection:
        case httplib::Error::SSLLoadingCerts:
        case httplib::Error::SSLServerVerification:
          out.failed = failure::tls;
          break;
        case httplib::Error::Connection:
          out.failed = failure::connect;
          break;
        case httplib::Error::ConnectionTimeout:
          out.failed = failure::connect_timeout;
          break;
        case httplib::Error::Read:
          out.failed = failure::read;
          break;
        case httplib::Error::Write:
          out.failed = failure::write;
          break;
        default:
          out.failed = failure::other;
      }
      return out;
    }
    out.status = res->status;
    out.body = std::move(res->body);
    out.retry_after = res->get_header_value("Retry-After");
    return out;
  };
}

}  // namespace logline::http
