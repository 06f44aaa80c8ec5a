#pragma once
// logline::runtime::scheduler: fixed-rate and cron jobs.
//
//   runtime::scheduler s;                                     // the system clock
//   s.add("observer", runtime::schedule::every(10s), [&](const runtime::run& r) { observe(); });
//   s.add("midnight", runtime::schedule::cron("0 0 * * *", "Europe/Paris").value(), rule);
//   s.start();  ...  s.stop();                                // stop waits for running jobs
//
// - A job never overlaps itself: if it is still running when it is due again, that run is
//   skipped (counted in `skipped`), not queued.
// - Missed runs (the process was down, or the job ran long) are not replayed one by one: the
//   job runs once, told the latest boundary it missed (`run::due`) and how many it missed.
//   Where the last run of each job is remembered across restarts is the `state` given to the
//   scheduler (in memory by default); with it, a run missed during downtime is made up once.
// - Time is injectable: tests hand the scheduler a manual clock and call tick(), with no sleeps
//   and no threads unless they want them.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "logline/error.hpp"
#include "logline/runtime/cron.hpp"
#include "logline/types.hpp"

namespace logline::runtime {

// A scheduler time as a ledger timestamp.
inline timestamp to_timestamp(sys_seconds t) {
  return timestamp{std::int64_t{t.time_since_epoch().count()} * 1000};
}

// A source of the current time (UTC). The default reads the system clock.
class clock {
 public:
  virtual ~clock() = default;
  virtual sys_seconds now() const {
    return date::floor<std::chrono::seconds>(std::chrono::system_clock::now());
  }
};

// For tests: time moves only when told.
class manual_clock : public clock {
 public:
  explicit manual_clock(sys_seconds start) : now_(start.time_since_epoch().count()) {}
  sys_seconds now() const override { return sys_seconds(std::chrono::seconds(now_.load())); }
  void set(sys_seconds t) { now_ = t.time_since_epoch().count(); }
  void advance(std::chrono::seconds d) { now_ += d.count(); }

 private:
  std::atomic<std::int64_t> now_;
};

// When a job is due.
class schedule {
 public:
  static schedule every(std::chrono::seconds period) {
    schedule s;
    s.period_ = std::max(period, std::chrono::seconds(1));
    return s;
  }
  static result<schedule> cron(std::string_view expression, std::string_view time_zone = "UTC") {
    LOGLINE_TRY(parsed, runtime::cron::parse(expression));
    LOGLINE_TRY(zone, find_time_zone(time_zone));
    schedule s;
    s.cron_ = std::move(parsed);
    s.zone_ = zone;
    return s;
  }

  // The first due time strictly after t.
  result<sys_seconds> next_after(sys_seconds t) const {
    if (cron_) return cron_->next_after(t, zone_);
    return t + period_;
  }
  // The first due time of a job first seen at t: a fixed-rate job runs at once, a cron job at
  // its next boundary.
  result<sys_seconds> first(sys_seconds t) const {
    if (cron_) return cron_->next_after(t, zone_);
    return t;
  }
  std::string describe() const {
    return cron_ ? "cron '" + cron_->text() + "' in " + std::string(zone_->name())
                 : "every " + std::to_string(period_.count()) + " s";
  }

 private:
  std::optional<runtime::cron> cron_;
  const date::time_zone* zone_ = nullptr;
  std::chrono::seconds period_{0};
};

// What a job is told when it runs.
struct run {
  std::string job;
  sys_seconds due;           // the boundary this run is for (the latest one due)
  sys_seconds started;       // the clock when it started
  std::uint64_t missed = 0;  // boundaries before `due` that got no run of their own
  const std::atomic<bool>* stopping = nullptr;  // set when the scheduler stops: finish early
  bool stop_requested() const { return stopping && stopping->load(); }
};

// Where each job's next due time is kept. In memory by default; a persistent state (a ledger
// span, a file) lets a restarted scheduler make up a run missed while it was down.
class state {
 public:
  virtual ~state() = default;
  virtual std::optional<sys_seconds> next_due(const std::string& job) = 0;
  virtual void set_next_due(const std::string& job, sys_seconds at) = 0;
};

class memory_state : public state {
 public:
  std::optional<sys_seconds> next_due(const std::string& job) override {
    std::lock_guard lock(mutex_);
    auto it = due_.find(job);
    if (it == due_.end()) return std::nullopt;
    return it->second;
  }
  void set_next_due(const std::string& job, sys_seconds at) override {
    std::lock_guard lock(mutex_);
    due_[job] = at;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, sys_seconds> due_;
};

class scheduler {
 public:
  using job_fn = std::function<void(const run&)>;

  // Runs jobs on threads of their own (`inline_runs`: in tick() itself, for tests).
  struct options {
    bool inline_runs = false;
    // The jobs' threads (and the lanes they start, which inherit it) run at this nice value:
    // the runtime is background work beside a server's request handling, so a tenant's run that
    // spins its core for its whole time limit takes CPU only where requests leave it (CFS gives
    // nice 10 about a tenth of a contested core, never none). 0 keeps the process's priority.
    int nice = 10;
  };

  scheduler() : scheduler(default_clock(), default_state(), {}) {}
  scheduler(const runtime::clock& c, runtime::state& st, options o)
      : clock_(c), state_(st), options_(o) {}
  scheduler(const scheduler&) = delete;
  scheduler& operator=(const scheduler&) = delete;
  ~scheduler() { stop(); }

  // Adds a job; its name keys its state. A name used twice is an error.
  result<void> add(std::string name, schedule when, job_fn fn) {
    std::lock_guard lock(mutex_);
    for (const auto& j : jobs_)
      if (j->name == name)
        return make_error(errc::invalid_argument, "a job named '" + name + "' exists already");
    auto j = std::make_shared<job>();
    j->name = std::move(name);
    j->when = std::move(when);
    j->fn = std::move(fn);
    if (auto saved = state_.next_due(j->name)) {
      j->next = *saved;
    } else {
      LOGLINE_TRY(first_due, j->when.first(clock_.now()));
      j->next = first_due;
      state_.set_next_due(j->name, j->next);
    }
    jobs_.push_back(std::move(j));
    wake_.notify_all();
    return {};
  }

  // Starts every job that is due at the clock's time and not running. Returns how many started.
  std::size_t tick() {
    const sys_seconds now = clock_.now();
    std::vector<std::pair<std::shared_ptr<job>, run>> starting;
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return 0;
      for (auto& j : jobs_) {
        if (j->next > now) continue;
        // The latest boundary due at `now`, and how many before it were missed.
        run r{j->name, j->next, now, 0, &stopping_};
        sys_seconds next = j->next;
        for (;;) {
          auto n = j->when.next_after(next);
          if (!n) {
            next = sys_seconds::max();
            break;
          }
          next = *n;
          if (next > now) break;
          ++r.missed;
          r.due = next;
        }
        j->next = next;
        state_.set_next_due(j->name, next);
        if (j->running) {
          ++j->skipped;
          continue;
        }
        j->running = true;
        starting.emplace_back(j, std::move(r));
      }
    }
    for (auto& [j, r] : starting) {
      if (options_.inline_runs) {
        execute(j, r);
      } else {
        if (j->worker.joinable())
          j->worker.join();  // the last run's thread, finished (running was false)
        j->worker = std::thread([this, j = j, r = r] { execute(j, r); });
      }
    }
    return starting.size();
  }

  // Runs tick() on a thread until stop(): it sleeps until the next due time (at most 1 s, so that
  // a clock that jumps is noticed).
  void start() {
    std::lock_guard lock(mutex_);
    if (loop_.joinable() || stopping_) return;
    loop_ = std::thread([this] {
      std::unique_lock lock(mutex_);
      while (!stopping_) {
        lock.unlock();
        tick();
        lock.lock();
        sys_seconds next = sys_seconds::max();
        for (const auto& j : jobs_) next = std::min(next, j->next);
        const auto now = clock_.now();
        const auto wait = next <= now
                              ? std::chrono::seconds(0)
                              : std::min<std::chrono::seconds>(next - now, std::chrono::seconds(1));
        if (wait.count() > 0) wake_.wait_for(lock, wait);
      }
    });
  }

  // Stops the loop, tells running jobs (run::stop_requested) and waits for them.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      wake_.notify_all();
    }
    if (loop_.joinable()) loop_.join();
    std::vector<std::shared_ptr<job>> jobs;
    {
      std::lock_guard lock(mutex_);
      jobs = jobs_;
    }
    for (auto& j : jobs)
      if (j->worker.joinable()) j->worker.join();
  }

  struct job_stats {
    std::string name;
    sys_seconds next;
    std::uint64_t runs = 0, skipped = 0;
    bool running = false;
  };
  std::vector<job_stats> jobs() const {
    std::lock_guard lock(mutex_);
    std::vector<job_stats> out;
    for (const auto& j : jobs_) out.push_back({j->name, j->next, j->runs, j->skipped, j->running});
    return out;
  }

 private:
  struct job {
    std::string name;
    schedule when;
    job_fn fn;
    sys_seconds next;
    bool running = false;
    std::uint64_t runs = 0, skipped = 0;
    std::thread worker;  // the job's last run (tick and stop join it)
  };

  void execute(const std::shared_ptr<job>& j, const run& r) {
    // Linux: setpriority on a thread id sets that thread's nice value (raising it needs no
    // privilege; it is never lowered back, so it is set per run, on a fresh thread).
    if (options_.nice > 0 && !options_.inline_runs)
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options_.nice);
    try {
      j->fn(r);
    } catch (...) {
      // A job's failure is the job's to record (kernels append error spans); the schedule goes on.
    }
    std::lock_guard lock(mutex_);
    j->running = false;
    ++j->runs;
  }

  static const runtime::clock& default_clock() {
    static const runtime::clock c;
    return c;
  }
  runtime::state& default_state() { return own_state_; }

  memory_state own_state_;
  const runtime::clock& clock_;
  runtime::state& state_;
  options options_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::shared_ptr<job>> jobs_;
  std::thread loop_;
  std::atomic<bool> stopping_{false};
};

}  // namespace logline::runtime
