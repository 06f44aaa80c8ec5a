// provider_exec's parts that need no backend: base_url parsing and which addresses are not
// public (provider_conformance.cpp runs the kernel on each backend).
#include <logline/runtime/egress.hpp>
#include <logline/runtime/provider_exec.hpp>

#include "support/catch.hpp"

namespace runtime = logline::runtime;

TEST_CASE("provider_exec: base_url parsing", "[runtime][provider]") {
  namespace pd = runtime::detail;
  auto e = pd::parse_base_url("https://api.openai.com/v1/").value();
  CHECK(e.https);
  CHECK(e.host == "api.openai.com");
  CHECK(e.port == 443);
  CHECK(e.path == "/v1");
  e = pd::parse_base_url("HTTP://localhost:11434").value();
  CHECK_FALSE(e.https);
  CHECK(e.port == 11434);
  CHECK(e.path.empty());
  e = pd::parse_base_url("http://[::1]:8080/api").value();
  CHECK(e.host == "::1");
  CHECK(e.port == 8080);
  CHECK(e.path == "/api");
  for (const char* bad : {"ftp://x", "localhost:80", "http://", "http://h:0", "http://h:99999",
                          "http://h:x", "http://h/?key=1", "http://u:p@h", "http://h:"})
    CHECK_FALSE(pd::parse_base_url(bad));
  CHECK(pd::excerpt(std::string("ok\xff\0x", 5)) == "ok??x");
}

TEST_CASE("provider_exec: which addresses are not public; the operator's destination entries",
          "[runtime][provider]") {
  namespace eg = runtime::egress;
  auto kind = [](const char* ip) {
    return eg::non_public(eg::address::parse(ip).value()).value_or("public");
  };
  CHECK(kind("8.8.8.8") == "public");
  CHECK(kind("1.1.1.1") == "public");
  CHECK(kind("2606:4700:4700::1111") == "public");
  CHECK(kind("::ffff:8.8.8.8") == "public");
  CHECK(kind("127.0.0.1") == "loopback");
  CHECK(kind("127.255.0.9") == "loopback");
  CHECK(kind("::1") == "loopback");
  CHECK(kind("::ffff:127.0.0.1") == "loopback");
  CHECK(kind("64:ff9b::7f00:1") == "loopback");
  CHECK(kind("2002:7f00:1::") == "loopback");
  CHECK(kind("10.0.0.1") == "private");
  CHECK(kind("172.16.0.1") == "private");
  CHECK(kind("172.31.255.255") == "private");
  CHECK(kind("172.32.0.1") == "public");
  CHECK(kind("192.168.0.1") == "private");
  CHECK(kind("100.64.0.1") == "shared (carrier-grade NAT)");
  CHECK(kind("100.127.255.255") == "shared (carrier-grade NAT)");
  CHECK(kind("100.128.0.1") == "public");
  CHECK(kind("169.254.169.254") == "link-local");
  CHECK(kind("fe80::1") == "link-local");
  CHECK(kind("fd00::1") == "private (unique local)");
  CHECK(kind("fc00::1") == "private (unique local)");
  CHECK(kind("0.0.0.0") == "unspecified");
  CHECK(kind("::") == "unspecified");
  CHECK(kind("224.0.0.1") == "multicast");
  CHECK(kind("ff02::1") == "multicast");
  CHECK(kind("255.255.255.255") == "reserved");
  CHECK(kind("192.0.2.1") == "documentation");
  CHECK(kind("2001:db8::1") == "documentation");

  CHECK(eg::listed({"127.0.0.1"}, "127.0.0.1", 8080));
  CHECK(eg::listed({"127.0.0.1:8080"}, "127.0.0.1", 8080));
  CHECK_FALSE(eg::listed({"127.0.0.1:8080"}, "127.0.0.1", 8081));
  CHECK(eg::listed({"[::1]:8080"}, "::1", 8080));
  CHECK(eg::listed({"::1"}, "0:0::1", 1));
  CHECK(eg::listed({"API.openai.com"}, "api.OpenAI.com", 443));
  CHECK_FALSE(eg::listed({"openai.com"}, "api.openai.com", 443));  // exact names only
  const auto loop = eg::address::parse("127.0.0.1").value();
  CHECK(eg::listed({"127.0.0.1"}, "localhost", 80,
                   &loop));  // an address entry: what a name resolved to
  CHECK_FALSE(eg::listed({"127.0.0.1"}, "localhost", 80));
  for (const char* bad : {"", "h:", "h:0", "h:70000", "[::1", "[::1]x", "h:p", "not a host", "h/x",
                          "h?q", "[example.com]", "a@b"})
    CHECK(eg::first_malformed({bad}));
  CHECK_FALSE(eg::first_malformed(
      {"h", "h:1", "1.2.3.4", "::1", "[::1]:2", "api.example.com", "my_host-1.internal:8443"}));
}
