#pragma once
// Where the runtime may send requests, and with which credentials: the operator's word only.
//
// provider_exec (provider_exec.hpp) calls the URL a provider span names, and a provider span is
// written by a user. So the span may name a destination and a credential, never grant them:
//
//   runtime::provider_config cfg;
//   cfg.credentials["OPENAI_API_KEY"] = {.env = "OPENAI_API_KEY", .hosts = {"api.openai.com"}};
//   cfg.private_hosts = {"127.0.0.1:11434"};            // a local Ollama
//   provider_exec<Ledger> k;  k.config = cfg;
//
// - A credential is sent only if the operator configured one under the name the span gives in
//   metadata.auth_env, only to the hosts listed for it, and only over https unless the host is
//   in http_key_hosts. Any other environment variable of the process (the ledger's signing key,
//   a database password) is out of reach.
// - The host is resolved first and every address it resolves to is checked: loopback, private
//   (RFC 1918, fc00::/7, fec0::/10), shared (100.64/10), link-local (169.254/16, fe80::/10),
//   unspecified, multicast, reserved and documentation addresses (and IPv4 embedded in IPv6:
//   ::ffff:0:0/96, 64:ff9b::/96, 2002::/16) are refused unless the destination is in
//   private_hosts. The connection then goes to the address that was checked (a second DNS
//   answer cannot switch it: no DNS rebinding).
// - allowed_hosts, when not empty, is the whole list of destinations.
// Entries are "host", "host:port", an IP literal or "[v6]:port"; host names match exactly,
// without case; an IP literal matches the address a name resolved to as well.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logline/error.hpp"

namespace logline::runtime {

struct provider_config {
  // A credential a provider span may name in metadata.auth_env.
  struct credential {
    std::string env;  // the process's environment variable holding the key ("": the name itself)
    std::vector<std::string> hosts;  // where it may be sent ("host" or "host:port"); none: nowhere
  };
  std::map<std::string, credential> credentials;  // by the name a provider's auth_env gives
  std::vector<std::string> allowed_hosts;   // empty: any destination whose addresses are all public
  std::vector<std::string> private_hosts;   // destinations allowed to be non-public addresses
  std::vector<std::string> http_key_hosts;  // destinations a key may be sent to over plain http
};

namespace egress {

// An IP address in binary (4 or 16 bytes).
struct address {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<address> parse(std::string_view text) {
    const std::string t(text);
    address a;
    if (inet_pton(AF_INET, t.c_str(), a.bytes.data()) == 1) return a;
    a.v6 = true;
    if (inet_pton(AF_INET6, t.c_str(), a.bytes.data()) == 1) return a;
    return std::nullopt;
  }
  std::string to_string() const {
    char out[INET6_ADDRSTRLEN] = {};
    inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), out, sizeof out);
    return out;
  }
  friend bool operator==(const address&, const address&) = default;
};

namespace detail {
inline std::optional<std::string> ipv4_kind(const std::uint8_t* b) {
  const std::uint32_t v =
      (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  auto in = [&](std::uint32_t net, int bits) { return (v >> (32 - bits)) == (net >> (32 - bits)); };
  if (in(0x00000000, 8)) return "unspecified";
  if (in(0x7f000000, 8)) return "loopback";
  if (in(0x0a000000, 8) || in(0xac100000, 12) || in(0xc0a80000, 16)) return "private";
  if (in(0x64400000, 10)) return "shared (carrier-grade NAT)";
  if (in(0xa9fe0000, 16)) return "link-local";
  if (in(0xe0000000, 4)) return "multicast";
  if (in(0xf0000000, 4)) return "reserved";
  if (in(0xc0000000, 24) || in(0xc6120000, 15)) return "reserved";
  if (in(0xc0000200, 24) || in(0xc6336400, 24) || in(0xcb007100, 24)) return "documentation";
  return std::nullopt;
}
}  // namespace detail

// What makes an address non-public ("loopback", "private", ...), or nothing for a public one.
inline std::optional<std::string> non_public(const address& a) {
  const auto* b = a.bytes.data();
  if (!a.v6) return detail::ipv4_kind(b);
  auto zero = [&](int from, int to) {
    return std::all_of(b + from, b + to, [](std::uint8_t x) { return x == 0; });
  };
  if (zero(0, 16)) return "unspecified";
  if (zero(0, 15) && b[15] == 1) return "loopback";
  if (zero(0, 10) && b[10] == 0xff && b[11] == 0xff)
    return detail::ipv4_kind(b + 12);  // ::ffff:a.b.c.d
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12))
    return detail::ipv4_kind(b + 12);                                 // NAT64
  if (b[0] == 0x20 && b[1] == 0x02) return detail::ipv4_kind(b + 2);  // 6to4
  if (zero(0, 12)) return "reserved";                                 // IPv4-compatible
  if ((b[0] & 0xfe) == 0xfc) return "private (unique local)";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "private (site-local)";
  if (b[0] == 0xff) return "multicast";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "documentation";
  if (b[0] == 0x01 && zero(1, 8)) return "reserved";  // 100::/64 discard
  return std::nullopt;
}

// A destination as the operator lists it.
struct destination {
  std::string host;  // lower case; an IP literal without brackets
  std::optional<int> port;

  static std::optional<destination> parse(std::string_view text) {
    destination d;
    std::string_view host = text, port;
    if (!text.empty() && text.front() == '[') {
      const auto close = text.find(']');
      if (close == std::string_view::npos) return std::nullopt;
      host = text.substr(1, close - 1);
      const auto rest = text.substr(close + 1);
      if (!rest.empty()) {
        if (rest.front() != ':') return std::nullopt;
        port = rest.substr(1);
        if (port.empty()) return std::nullopt;
      }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
      const auto colon = text.find(':');
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
      if (port.empty()) return std::nullopt;
    }
    if (host.empty()) return std::nullopt;
    d.host = lower(host);
    if (!port.empty()) {
      if (port.size() > 5 ||
          !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
      d.port = std::stoi(std::string(port));
      if (*d.port < 1 || *d.port > 65535) return std::nullopt;
    }
    if (auto a = address::parse(d.host)) {
      d.host = a->to_string();  // canonical text
    } else {
      // Otherwise a DNS name: letters, digits, '-', '_' and dots, at most 253 of them (and never
      // in brackets, which hold an IPv6 literal).
      const bool name = text.front() != '[' && d.host.size() <= 253 &&
                        std::all_of(d.host.begin(), d.host.end(), [](unsigned char c) {
                          return std::isalnum(c) || c == '-' || c == '_' || c == '.';
                        });
      if (!name) return std::nullopt;
    }
    return d;
  }
  static std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  }
};

// Whether one of `entries` names host:port, or (an IP literal entry) the address it resolved to.
inline bool listed(const std::vector<std::string>& entries, std::string_view host, int port,
                   const address* resolved = nullptr) {
  std::string h = destination::lower(host);
  if (auto a = address::parse(h)) h = a->to_string();
  const std::string r = resolved ? resolved->to_string() : std::string();
  for (const auto& e : entries) {
    auto d = destination::parse(e);
    if (!d || (d->port && *d->port != port)) continue;
    if (d->host == h || (resolved && d->host == r)) return true;
  }
  return false;
}

// Whether the operator's list is well formed (each entry parses); the first bad one otherwise.
inline std::optional<std::string> first_malformed(const std::vector<std::string>& entries) {
  for (const auto& e : entries)
    if (!destination::parse(e)) return e;
  return std::nullopt;
}

// Every address `host` resolves to (an IP literal: itself), or an error naming the host.
inline result<std::vector<address>> resolve(const std::string& host) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), nullptr, &hints, &found);
  if (rc != 0)
    return make_error(errc::execution_failed,
                      "cannot resolve host '" + host + "': " + gai_strerror(rc));
  std::vector<address> out;
  for (auto* ai = found; ai; ai = ai->ai_next) {
    address a;
    if (ai->ai_family == AF_INET) {
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in*>(ai->ai_addr)->sin_addr, 4);
    } else if (ai->ai_family == AF_INET6) {
      a.v6 = true;
      std::memcpy(a.bytes.data(), &reinterpret_cast<const sockaddr_in6*>(ai->ai_addr)->sin6_addr,
                  16);
    } else {
      continue;
    }
    if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  freeaddrinfo(found);
  if (out.empty())
    return make_error(errc::execution_failed, "host '" + host + "' has no IPv4 or IPv6 address");
  return out;
}

// The addresses to connect to for host:port under `config` (in the resolver's order): every
// address resolved and checked, or errc::permission_denied saying why not.
inline result<std::vector<address>> checked_destination(const provider_config& config,
                                                        const std::string& host, int port) {
  const std::string where = host + ":" + std::to_string(port);
  if (!config.allowed_hosts.empty() && !listed(config.allowed_hosts, host, port)) {
    auto literal = address::parse(host);
    if (!literal || !listed(config.allowed_hosts, host, port, &*literal))
      return make_error(errc::permission_denied,
                        where + " is not among the destinations the operator allows");
  }
  LOGLINE_TRY(addresses, resolve(host));
  for (const auto& a : addresses) {
    const auto kind = non_public(a);
    if (kind && !listed(config.private_hosts, host, port, &a))
      return make_error(errc::permission_denied,
                        where + " resolves to " + a.to_string() + ", a " + *kind +
                            " address; the operator has not allowed it (private_hosts)");
  }
  return addresses;
}

}  // namespace egress
}  // namespace logline::runtime
