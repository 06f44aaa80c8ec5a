#pragma once
// The HTTP API's counters, served by /metrics in Prometheus's text format.
#include <atomic>
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "logline/json.hpp"

namespace logline::http {

// Counters for /metrics.
struct metrics {
  std::mutex mutex;
  std::map<std::pair<std::string, int>, std::uint64_t> requests;  // (route, status)
  static constexpr double bounds[] = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5};
  std::uint64_t buckets[std::size(bounds)] = {};
  std::uint64_t latency_count = 0;
  double latency_sum = 0;
  std::atomic<std::uint64_t> appends{0}, verify_failures{0};
  std::atomic<std::int64_t> sse_clients{0};
  std::atomic<std::uint64_t> sse_overflows{0};

  void observe(const std::string& route, int status, double seconds) {
    std::lock_guard lock(mutex);
    ++requests[{route, status}];
    for (std::size_t i = 0; i < std::size(bounds); ++i)
      if (seconds <= bounds[i]) ++buckets[i];
    ++latency_count;
    latency_sum += seconds;
  }
  std::string text() {
    std::lock_guard lock(mutex);
    std::string s =
        "# HELP logline_http_requests_total HTTP requests by route and status.\n# TYPE "
        "logline_http_requests_total counter\n";
    for (const auto& [k, n] : requests)
      s += "logline_http_requests_total{route=\"" + k.first + "\",status=\"" +
           std::to_string(k.second) + "\"} " + std::to_string(n) + "\n";
    s += "# HELP logline_http_request_duration_seconds Request latency.\n# TYPE "
         "logline_http_request_duration_seconds histogram\n";
    for (std::size_t i = 0; i < std::size(bounds); ++i) {
      std::string b;
      write_canonical_number(b, bounds[i]);
      s += "logline_http_request_duration_seconds_bucket{le=\"" + b + "\"} " +
           std::to_string(buckets[i]) + "\n";
    }
    s += "logline_http_request_duration_seconds_bucket{le=\"+Inf\"} " +
         std::to_string(latency_count) + "\n";
    std::string sum;
    write_canonical_number(sum, latency_sum);
    s += "logline_http_request_duration_seconds_sum " + sum +
         "\nlogline_http_request_duration_seconds_count " + std::to_string(latency_count) + "\n";
    s += "# HELP logline_appends_total Spans appended through the API.\n# TYPE "
         "logline_appends_total counter\nlogline_appends_total " +
         std::to_string(appends.load()) + "\n";
    s += "# HELP logline_verify_failures_total Spans that failed /api/verify.\n# TYPE "
         "logline_verify_failures_total counter\nlogline_verify_failures_total " +
         std::to_string(verify_failures.load()) + "\n";
    s += "# HELP logline_sse_clients Open timeline streams.\n# TYPE logline_sse_clients "
         "gauge\nlogline_sse_clients " +
         std::to_string(sse_clients.load()) + "\n";
    s += "# HELP logline_sse_overflows_total Streams ended because their client fell behind.\n# "
         "TYPE logline_sse_overflows_total counter\nlogline_sse_overflows_total " +
         std::to_string(sse_overflows.load()) + "\n";
    return s;
  }
};

}  // namespace logline::http
