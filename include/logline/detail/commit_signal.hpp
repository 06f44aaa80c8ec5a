#pragma once
// In-process change notification shared by the backends' databases: writers call notify()
// after each commit; readers of the feed wait for the counter to move.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace logline::detail {

class commit_signal {
 public:
  void notify() {
    {
      std::lock_guard lock(mutex_);
      ++commits_;
    }
    cv_.notify_all();
  }
  std::uint64_t count() const {
    std::lock_guard lock(mutex_);
    return commits_;
  }
  // Waits until a commit after `seen` happens in this process, or the timeout passes.
  bool wait(std::uint64_t seen, std::chrono::milliseconds timeout) const {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return commits_ != seen; });
  }

 private:
  mutable std::mutex mutex_;
  mutable std::condition_variable cv_;
  std::uint64_t commits_ = 0;
};

}  // namespace logline::detail
