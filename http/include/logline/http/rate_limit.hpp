#pragma once
// The HTTP API's request rate limit: a token bucket per API token.
#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>

namespace logline::http {

// Per-token token bucket.
class rate_limiter {
 public:
  rate_limiter(double per_second, double burst) : rate_(per_second), burst_(burst) {}
  bool allow(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    auto [it, fresh] = buckets_.try_emplace(key, bucket{burst_, now});
    bucket& b = it->second;
    if (!fresh) {
      b.tokens =
          std::min(burst_, b.tokens + rate_ * std::chrono::duration<double>(now - b.at).count());
      b.at = now;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

 private:
  struct bucket {
    double tokens;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mutex_;
  std::map<std::string, bucket> buckets_;
};

}  // namespace logline::http
