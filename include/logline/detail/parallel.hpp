#pragma once
// A small fixed pool of worker threads for data-parallel loops in which the calling thread takes
// part: start(n, fn) hands out indices [0, n) to the workers, help_until_done() lets the caller
// take indices too and returns when all n are done. One loop at a time.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace logline::detail {

class work_pool {
 public:
  explicit work_pool(unsigned extra_threads) {
    for (unsigned i = 0; i < extra_threads; ++i) threads_.emplace_back([this] { worker(); });
  }
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;
  ~work_pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  unsigned extra_threads() const noexcept { return static_cast<unsigned>(threads_.size()); }

  void start(std::size_t n, std::function<void(std::size_t)> fn) {
    std::unique_lock lock(mutex_);
    // Workers still leaving the previous loop read fn_ and n_: wait until none is inside one.
    while (active_.load(std::memory_order_acquire) != 0) {
      lock.unlock();
      std::this_thread::yield();
      lock.lock();
    }
    fn_ = std::move(fn);
    n_ = n;
    next_.store(0);
    done_.store(0);
    ++generation_;
    wake_.notify_all();
  }
  // Runs one index of the current loop if any is left.
  bool take_one() {
    const std::size_t i = next_.fetch_add(1);
    if (i >= n_) return false;
    fn_(i);
    done_.fetch_add(1, std::memory_order_acq_rel);
    return true;
  }
  void help_until_done() {
    while (take_one()) {
    }
    while (done_.load(std::memory_order_acquire) < n_) std::this_thread::yield();
  }
  bool done() const noexcept { return done_.load(std::memory_order_acquire) >= n_; }
  void run(std::size_t n, std::function<void(std::size_t)> fn) {
    start(n, std::move(fn));
    help_until_done();
  }

 private:
  void worker() {
    std::uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        active_.fetch_add(1, std::memory_order_acq_rel);
      }
      while (take_one()) {
      }
      active_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::function<void(std::size_t)> fn_;
  std::size_t n_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> done_{0};
  std::atomic<unsigned> active_{0};
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

inline unsigned default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace logline::detail
