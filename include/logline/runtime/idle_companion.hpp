#pragma once
// Untrusted code on the CPU nobody else wants. A thread that runs tenants' code (a Lua function
// spinning for its whole time limit) competes with the threads serving the API; at nice 10 it
// still holds a core until the scheduler's slice ends, which is what a request arriving then
// waits. Linux's SCHED_IDLE class is preempted at once by any normal thread that wakes.
//
// A thread in that class must not hold what normal threads wait for (the ledger's writer, a
// pooled connection, a reader): it would keep it for as long as the normal threads keep the CPU
// busy. And an unprivileged thread cannot leave the class again. So the code runs on a companion
// thread that stays in the class, while the thread that asked waits; whatever the code calls
// back into the host (ctx.insert_span, ctx.query, ...) runs on that waiting thread at its own
// priority. One of the two runs at a time.
//
// Each calling thread gets its own companion on first use, joined when the caller's thread ends.
#include <sched.h>

#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <utility>

namespace logline::runtime {

class idle_companion {
 public:
  // Runs `work` on this thread's companion (started on first use) and waits for it; what `work`
  // passes to call_back() meanwhile runs here. Exceptions from `work` are rethrown here. Called
  // on a companion, or while this thread's companion is busy (a callback running code again),
  // `work` runs inline: that thread is the one already waiting or already idle.
  template <class Work>
  static void run(Work&& work) {
    if (serving_ != nullptr) return work();
    companion& c = mine();
    if (c.busy) return work();
    c.busy = true;
    struct release {
      companion& c;
      ~release() { c.busy = false; }
    } released{c};
    c.serve(std::ref(work));  // (a reference: nothing allocated to hand it over)
  }

  // From inside run()'s `work`: runs `fn` on the thread that called run() and waits for it;
  // exceptions from `fn` are rethrown here. Elsewhere, runs `fn` inline.
  template <class Fn>
  static void call_back(Fn&& fn) {
    if (serving_ == nullptr) return fn();
    serving_->ask(std::ref(fn));
  }

  // Whether this thread is a companion (what its code runs at: SCHED_IDLE where Linux gave it).
  static bool on_companion() noexcept { return serving_ != nullptr; }

 private:
  class companion {
   public:
    companion() : thread_([this] { loop(); }) {}
    companion(const companion&) = delete;
    companion& operator=(const companion&) = delete;
    ~companion() {
      {
        std::lock_guard lock(mutex_);
        stop_ = true;
      }
      changed_.notify_all();
      thread_.join();
    }

    // The caller's side: hands `work` over, runs callbacks until it is done.
    void serve(const std::function<void()>& work) {
      std::unique_lock lock(mutex_);
      work_ = &work;
      work_done_ = false;
      work_error_ = nullptr;
      changed_.notify_all();
      for (;;) {
        changed_.wait(lock, [&] { return work_done_ || callback_ != nullptr; });
        if (work_done_) break;
        const std::function<void()>* fn = std::exchange(callback_, nullptr);
        callback_error_ = run_unlocked(*fn, lock);
        callback_done_ = true;
        changed_.notify_all();
      }
      if (work_error_) std::rethrow_exception(std::exchange(work_error_, nullptr));
    }

    // The companion's side, from inside work: hands `fn` to the waiting caller.
    void ask(const std::function<void()>& fn) {
      std::unique_lock lock(mutex_);
      callback_ = &fn;
      callback_done_ = false;
      changed_.notify_all();
      changed_.wait(lock, [&] { return callback_done_; });
      if (callback_error_) std::rethrow_exception(std::exchange(callback_error_, nullptr));
    }

    bool busy = false;  // the owning thread is inside run() (only it reads or writes this)

   private:
    void loop() {
      // Lowering a thread's class needs no privilege; where it fails the code simply runs at the
      // priority this thread inherited, as it would without a companion.
      sched_param none{};
      (void)::sched_setscheduler(0, SCHED_IDLE, &none);
      serving_ = this;
      std::unique_lock lock(mutex_);
      for (;;) {
        changed_.wait(lock, [&] { return stop_ || work_ != nullptr; });
        if (stop_) return;
        const std::function<void()>* work = std::exchange(work_, nullptr);
        work_error_ = run_unlocked(*work, lock);
        work_done_ = true;
        changed_.notify_all();
      }
    }

    // Runs fn with the lock released (the other side may hand over meanwhile); what it threw.
    static std::exception_ptr run_unlocked(const std::function<void()>& fn,
                                           std::unique_lock<std::mutex>& lock) {
      lock.unlock();
      std::exception_ptr failed;
      try {
        fn();
      } catch (...) {
        failed = std::current_exception();
      }
      lock.lock();
      return failed;
    }

    std::mutex mutex_;
    std::condition_variable changed_;  // every state change below; both sides wait on it
    const std::function<void()>* work_ = nullptr;
    const std::function<void()>* callback_ = nullptr;
    bool work_done_ = false, callback_done_ = false, stop_ = false;
    std::exception_ptr work_error_, callback_error_;
    std::thread thread_;  // last: started once everything above exists
  };

  static companion& mine() {
    thread_local companion c;
    return c;
  }

  static inline thread_local companion* serving_ = nullptr;  // set on a companion thread: its own
};

}  // namespace logline::runtime
