// The runtime's flags, read the same way by logline-scheduler and by logline-server
// --with-scheduler: the lanes (fairness between tenants), the lease margin of a claimed request,
// the nice value of the runtime's threads and the CPU class of tenants' code, and
// provider_exec's operator configuration (egress.hpp, docs/runtime.md).
#pragma once

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>

#include <logline/http/provider_client.hpp>
#include <logline/runtime/egress.hpp>

namespace logline_tools {

struct runtime_flags {
  long worker_lanes = 2, policy_lanes = 2, lease_margin = 300, nice = 10;
  bool code_idle_cpu = true;  // --code-cpu idle (SCHED_IDLE) or shared (the runtime's nice)
  logline::runtime::provider_config providers;

  static constexpr const char* synopsis =
      "[--worker-lanes N] [--policy-lanes N] [--lease-margin S] [--runtime-nice N] [--code-cpu "
      "idle|shared]\n"
      "  [--provider-credential NAME[=ENV]@HOST[,HOST...]] [--provider-private HOST[:PORT]]\n"
      "  [--provider-http-key-host HOST[:PORT]] [--provider-allow-host HOST[:PORT]]";

  // Reads flag `a` (its value from value()) when it is one of these; false otherwise. A bad
  // value goes to fail(message), which does not return.
  template <class Value, class Fail>
  bool parse(const std::string& a, Value&& value, Fail&& fail) {
    auto number = [&](long lo, long hi, const char* what) {
      const std::string v = value();
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < lo || n > hi)
        fail(a + " must be " + what + " in " + std::to_string(lo) + ".." + std::to_string(hi));
      return n;
    };
    auto destination = [&](const std::string& v) {
      if (logline::runtime::egress::first_malformed({v}))
        fail(a + ": '" + v + "' is not HOST, HOST:PORT, an IP address or [IPv6]:PORT");
      return v;
    };
    if (a == "--worker-lanes")
      worker_lanes = number(1, 64, "a whole number");
    else if (a == "--policy-lanes")
      policy_lanes = number(1, 64, "a whole number");
    else if (a == "--lease-margin")
      lease_margin = number(1, 86400, "a whole number of seconds");
    else if (a == "--runtime-nice")
      nice = number(0, 19, "a nice value");
    else if (a == "--code-cpu") {
      const std::string v = value();
      if (v != "idle" && v != "shared") fail(a + " must be idle or shared");
      code_idle_cpu = v == "idle";
    } else if (a == "--provider-credential")
      add_credential(value(), destination, fail);
    else if (a == "--provider-private")
      providers.private_hosts.push_back(destination(value()));
    else if (a == "--provider-http-key-host")
      providers.http_key_hosts.push_back(destination(value()));
    else if (a == "--provider-allow-host")
      providers.allowed_hosts.push_back(destination(value()));
    else
      return false;
    return true;
  }

  template <class NodeOptions>
  void apply(NodeOptions& o) const {
    o.worker_lanes = static_cast<std::size_t>(worker_lanes);
    o.policy_lanes = static_cast<std::size_t>(policy_lanes);
    o.lease_margin = std::chrono::seconds(lease_margin);
    o.scheduling.nice = static_cast<int>(nice);
    o.code_idle_cpu = code_idle_cpu;
    o.providers = providers;
    o.provider_client = logline::http::provider_client();
  }

 private:
  // NAME[=ENV]@HOST[,HOST...]
  template <class Destination, class Fail>
  void add_credential(const std::string& v, Destination& destination, Fail& fail) {
    const auto at = v.find('@');
    if (at == std::string::npos || at == 0 || at + 1 == v.size())
      fail("--provider-credential must be NAME[=ENV]@HOST[,HOST...]");
    std::string name = v.substr(0, at), env;
    if (const auto eq = name.find('='); eq != std::string::npos) {
      env = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto variable = [](const std::string& s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char ch) {
        return std::isalnum(ch) || ch == '_';
      });
    };
    if (!variable(name) || (!env.empty() && !variable(env)))
      fail("--provider-credential: NAME and ENV are letters, digits and _");
    logline::runtime::provider_config::credential cred{env, {}};
    for (std::size_t from = at + 1; from <= v.size();) {
      const auto comma = std::min(v.find(',', from), v.size());
      cred.hosts.push_back(destination(v.substr(from, comma - from)));
      from = comma + 1;
    }
    providers.credentials[name] = std::move(cred);
  }
};

}  // namespace logline_tools
