#pragma once
// The request pipeline (DESIGN §7): observer_bot (LogLineOS id …002) turns scheduled functions
// into requests, request_worker (…003) runs them through run_code and consumes them.
//
//   runtime::stage0<Ledger> boot(ledger);
//   boot.register_kernel(runtime::ids::run_code, runtime::run_code<Ledger>{});
//   boot.register_kernel(runtime::ids::observer_bot, runtime::observer_bot<Ledger>{});
//   boot.register_kernel(runtime::ids::request_worker, runtime::request_worker<Ledger>{boot});
//   boot.boot(runtime::ids::observer_bot, nullptr, operator_identity);   // what the scheduler does
//
// Both follow the ledger's change feed as the operator (every tenant), from where they stopped.
// Each run's execution records `resume_cursor` in its output: the feed position before the
// oldest span still to be acted on. A new process (fresh kernel state) resumes from the latest
// complete execution of its kernel written by the operator identity; without one it reads the
// feed from the start. Resuming early is safe: both steps are idempotent (below).
//
// observer_bot: a function whose latest version has status "scheduled" gets one `request` span,
// owned by the function's owner in its tenant, with metadata.request_key "scheduled@<seq>". The
// unique index on (parent_id, owner_id, request_key) of scheduled requests makes this
// idempotent: two observers at once create one request, a restarted observer none. To run a
// function again, append a new version with status "scheduled".
//
// request_worker: takes requests whose only version is status "scheduled" and for each
//   1. claims it by appending version 1 with status "running" (an explicit seq: of two workers
//      only one can write version 1; the other gets a version conflict and moves on), with
//      metadata.lease_until (now + the manifest's slow_ms + lease_margin) and metadata.worker
//      (this worker's instance id). The request stays its owner's; its later versions are written
//      on the owner's behalf with the operator's rights, which an owner does not have: a
//      request's outcome cannot be faked;
//   2. boots run_code as the request's owner with {span_id: parent_id, input: request.input};
//   3. appends version 2: status "complete" or "error", output {execution_id}, or the boot error.
// A request is thus executed at most once.
//
// Fairness: requests run on `lanes` threads, at most `per_tenant` of one tenant at a time, the
// tenants taken in turn (feed order within a tenant). A lane that may take nothing while
// another runs re-reads the feed (idle_poll, and whenever a lane finishes), so one tenant's slow
// or hostile runs occupy at most per_tenant lanes and delay another tenant's request by at most
// one run's limit. A run ends when nothing may be taken and no lane runs, or after `batch`.
//
// Requests never stuck: a worker that dies between 1 and 3 leaves the request "running". The
// worker follows every request whose latest version it saw is "running" (its resume cursor
// stays before them, so a restarted worker sees them again) and, once such a claim's lease has
// ended and no lane of its own runs it, appends version 2 with status "error" and error.code
// "abandoned". It is never run again: the function may have had effects. A worker that was
// only slow and a recoverer both write seq 2; the first one wins, the other gets a version
// conflict (the slow worker reports its run's outcome as lost).
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "logline/backend.hpp"
#include "logline/entity_types.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/scheduler.hpp"
#include "logline/runtime/stage0.hpp"

namespace logline::runtime {

namespace detail {
// A span a kernel has yet to act on, and the feed cursor before it.
struct waiting {
  universal_span span;
  std::string before;
};

// A kernel's place in the operator's change feed.
struct feed_position {
  std::string cursor;  // after the last span read
  bool resumed = false;
};

// Where the kernel's last complete run, written by `who` (an operator identity), said to resume
// (empty: the start). Only an execution the operator wrote counts.
template <class Ledger>
result<std::string> last_resume_cursor(Ledger& ledger, const uuid& kernel, const identity& who) {
  timeline_query q;
  q.entity_type = entity::execution;
  q.parent_id = kernel;
  q.status = "complete";
  q.owner_id = who.user_id;
  q.limit = 16;
  for (;;) {
    LOGLINE_TRY(page, ledger.as_operator().timeline(q));
    for (const auto& s : page.spans) {
      if (s.tenant_id != who.tenant_id || !ledger.operator_wrote(s)) continue;
      if (!s.output) return std::string();
      auto it = s.output->find("resume_cursor");
      return it != s.output->end() && it->is_string() ? it->template get<std::string>()
                                                      : std::string();
    }
    if (page.next_cursor.empty()) return std::string();
    q.cursor = page.next_cursor;
  }
}

// Reads the feed from `pos` (resuming first if this process has not read yet), at most `budget`
// spans; on_span(span, cursor before it). Returns how many spans were read.
template <class Call, class F>
result<std::size_t> follow_feed(Call& c, feed_position& pos, std::size_t budget, F&& on_span) {
  if (!pos.resumed) {
    LOGLINE_TRY(resume_at, last_resume_cursor(c.ledger, c.function.id, c.as.identity()));
    pos.cursor = std::move(resume_at);
    pos.resumed = true;
  }
  std::size_t read = 0;
  while (read < budget) {
    LOGLINE_TRY(page, c.ledger.as_operator().changes(pos.cursor,
                                                     std::min<std::size_t>(budget - read, 256)));
    if (page.empty()) break;
    for (auto& ch : page) {
      on_span(ch.span, pos.cursor);
      pos.cursor = ch.cursor;
    }
    read += page.size();
  }
  return read;
}

inline identity owner_of(const universal_span& s, const identity& fallback) {
  if (!s.owner_id) return fallback;
  return identity{*s.owner_id, s.tenant_id};
}
}  // namespace detail

template <class Ledger>
struct observer_bot {
  using call = typename stage0<Ledger>::call;
  std::size_t feed_budget = 10000;  // feed spans read per run

  result<json> operator()(call& c) const {
    std::lock_guard lock(state_->mutex);
    auto& st = *state_;
    LOGLINE_TRY(read, detail::follow_feed(c, st.feed, feed_budget,
                                          [&](const universal_span& s, const std::string& before) {
                                            if (s.entity_type != entity::function) return;
                                            if (s.status == "scheduled")
                                              st.scheduled[s.id] = {s, before};
                                            else
                                              st.scheduled.erase(s.id);
                                          }));
    std::int64_t created = 0, existing = 0;
    json failed = json::array();
    for (auto it = st.scheduled.begin(); it != st.scheduled.end();) {
      const universal_span& fn = it->second.span;
      universal_span request;
      request.entity_type = entity::request;
      request.who = "observer_bot";
      request.did = "scheduled";
      request.this_ = "run " + fn.name.value_or(fn.id.to_string());
      request.status = "scheduled";
      request.parent_id = fn.id;
      request.trace_id = fn.trace_id ? *fn.trace_id : uuid::v7().to_string();
      request.visibility =
          fn.visibility == visibility::public_ ? visibility::tenant : fn.visibility;
      request.metadata =
          json{{"request_key", "scheduled@" + std::to_string(fn.seq)}, {"function_seq", fn.seq}};
      auto as = c.ledger.as(detail::owner_of(fn, c.as.identity()));
      auto stored = as.append(std::move(request));
      if (stored) {
        ++created;
      } else if (stored.error() == errc::version_conflict) {
        ++existing;  // requested before (another observer, or before a restart)
      } else {
        failed.push_back({{"function", fn.id.to_string()}, {"error", stored.error().message()}});
        ++it;
        continue;  // kept: tried again next run
      }
      it = st.scheduled.erase(it);
    }
    // Resume before the oldest function still waiting for its request.
    std::string resume = st.feed.cursor;
    for (const auto& [id, w] : st.scheduled)
      if (feed_cursor_before(w.before, resume)) resume = w.before;
    return json{{"requests_created", created},
                {"already_requested", existing},
                {"failed", failed},
                {"feed_read", read},
                {"resume_cursor", resume}};
  }

 private:
  struct state {
    std::mutex mutex;
    detail::feed_position feed;
    std::map<uuid, detail::waiting> scheduled;  // latest version scheduled, not yet requested
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

template <class Ledger>
struct request_worker {
  using call = typename stage0<Ledger>::call;
  explicit request_worker(stage0<Ledger>& boot) : boot_(&boot) {}
  std::size_t feed_budget = 10000;  // feed spans read per feed read
  std::size_t batch = 100;          // requests started per run
  // Fairness: requests run on `lanes` threads at once (the booting thread is one of them), at
  // most `per_tenant` of one tenant at a time, tenants taken in turn. On PostgreSQL each running
  // request holds a pooled connection for its function's lock: keep lanes below the pool size.
  std::size_t lanes = 2;
  std::size_t per_tenant = 1;
  // While a lane has nothing it may take and another lane runs, it re-reads the feed this often
  // (a request that arrives meanwhile does not wait for the slow one to end).
  std::chrono::milliseconds idle_poll{1000};
  // A claim's lease: the manifest's slow_ms (the run's limit) plus this margin (host calls the
  // sandbox cannot interrupt, clock differences between workers).
  std::chrono::seconds lease_margin{300};
  // The clock leases are written and judged by (runtime::node passes its scheduler's clock).
  // Null: the system clock.
  const runtime::clock* time = nullptr;

  result<json> operator()(call& c) const {
    auto& st = *state_;
    std::lock_guard run_lock(st.run_mutex);  // one run of this worker at a time
    run r;
    r.lease_ms = c.manifest.slow_ms +
                 std::chrono::duration_cast<std::chrono::milliseconds>(lease_margin).count();
    std::unique_lock lock(st.mutex);
    LOGLINE_TRY(read, read_feed(c));
    r.feed_read = read;
    recover(c, r);
    const bool work = !st.queued.empty();
    lock.unlock();

    // The lanes. Nothing queued: one lane, which ends at once unless the feed brings something.
    std::vector<std::jthread> others;
    for (std::size_t i = 1; work && i < std::max<std::size_t>(lanes, 1); ++i)
      others.emplace_back([this, &c, &r] { lane(c, r); });
    lane(c, r);
    others.clear();  // joins

    lock.lock();
    if (auto last = read_feed(c); !last) r.failed.push_back({{"feed", last.error().message()}});
    std::string resume = st.feed.cursor;  // before the oldest request not finished on record
    auto older = [&](const std::string& before) {
      if (feed_cursor_before(before, resume)) resume = before;
    };
    for (const auto& [id, t] : st.queued) older(t.before);
    for (const auto& [id, before] : st.inflight) older(before);
    for (const auto& [id, t] : st.claimed) older(t.before);
    return json{{"executed", r.executed},     {"taken_by_another_worker", r.taken},
                {"abandoned", r.abandoned},   {"failed", r.failed},
                {"queued", st.queued.size()}, {"running_elsewhere", st.claimed.size()},
                {"feed_read", r.feed_read},   {"resume_cursor", resume}};
  }

 private:
  // A request seen in the feed and the feed cursor before it.
  struct tracked {
    universal_span span;
    std::string before;
  };
  struct state {
    std::mutex run_mutex;
    std::mutex mutex;  // guards the rest; held by a lane only to read the feed and pick
    std::condition_variable changed;
    detail::feed_position feed;
    std::map<uuid, tracked> queued;                     // version 0 scheduled seen, nothing later
    std::map<std::string, std::deque<uuid>> by_tenant;  // queued ids per tenant, feed order
    std::map<uuid, std::string> inflight;               // running on a lane here (cursor before it)
    std::map<uuid, tracked> claimed;                    // version 1 (running) seen, nothing later
    std::map<std::string, std::size_t> running;         // lanes busy per tenant
    std::string last_tenant;                            // the turn: the tenant served last
    uuid instance = uuid::v7();                         // this worker, in the leases it writes
  };
  // One run's tallies (guarded by state::mutex).
  struct run {
    std::int64_t executed = 0, taken = 0, abandoned = 0, started = 0, active = 0;
    std::int64_t lease_ms = 0;
    std::size_t feed_read = 0;
    json failed = json::array();
  };

  static std::string tenant_key(const universal_span& s) {
    return s.tenant_id ? "t:" + *s.tenant_id : std::string("-");
  }
  timestamp now() const { return time ? to_timestamp(time->now()) : timestamp::now(); }

  // Reads the feed on (state::mutex held).
  result<std::size_t> read_feed(call& c) const {
    auto& st = *state_;
    return detail::follow_feed(
        c, st.feed, feed_budget, [&](const universal_span& s, const std::string& before) {
          if (s.entity_type != entity::request) return;
          if (s.seq == 0 && s.status == "scheduled") {
            st.queued[s.id] = {s, before};
            st.by_tenant[tenant_key(s)].push_back(s.id);
            return;
          }
          std::string first = before;  // the cursor before the request's version 0, when known
          if (auto q = st.queued.find(s.id); q != st.queued.end()) {
            first = q->second.before;
            st.queued.erase(q);
          }
          if (auto f = st.inflight.find(s.id); f != st.inflight.end()) first = f->second;
          if (s.seq == 1 && s.status == "running")
            st.claimed[s.id] = {s, first};
          else
            st.claimed.erase(s.id);
        });
  }

  // The next request a lane may take: tenants in turn after the last one served, skipping those
  // with per_tenant requests running (state::mutex held).
  std::optional<std::pair<universal_span, std::string>> take() const {
    auto& st = *state_;
    auto it = st.by_tenant.upper_bound(st.last_tenant);
    for (std::size_t n = 0, total = st.by_tenant.size(); n < total && !st.by_tenant.empty(); ++n) {
      if (it == st.by_tenant.end()) it = st.by_tenant.begin();
      auto& ids = it->second;
      while (!ids.empty() && !st.queued.count(ids.front())) ids.pop_front();  // claimed elsewhere
      if (ids.empty()) {
        it = st.by_tenant.erase(it);
        continue;
      }
      if (st.running[it->first] >= std::max<std::size_t>(per_tenant, 1)) {
        ++it;
        continue;
      }
      const uuid id = ids.front();
      ids.pop_front();
      auto q = st.queued.find(id);
      std::pair<universal_span, std::string> out{std::move(q->second.span), it->first};
      st.inflight[id] = std::move(q->second.before);
      st.queued.erase(q);
      ++st.running[it->first];
      st.last_tenant = it->first;
      return out;
    }
    return std::nullopt;
  }

  // A lane: takes requests in turn and runs them until none may be taken and no lane runs one.
  void lane(call& c, run& r) const {
    auto& st = *state_;
    std::unique_lock lock(st.mutex);
    for (;;) {
      std::optional<std::pair<universal_span, std::string>> next;
      for (;;) {
        if (r.started >= static_cast<std::int64_t>(batch)) return;
        if (auto read = read_feed(c); !read) r.failed.push_back({{"feed", read.error().message()}});
        if ((next = take())) break;
        if (r.active == 0) return;
        st.changed.wait_for(lock, idle_poll);
      }
      ++r.started;
      ++r.active;
      lock.unlock();
      const uuid id = next->first.id;
      result<bool> done = make_error(errc::execution_failed, "");
      try {
        done = execute(c, std::move(next->first), r.lease_ms);
      } catch (const std::exception& e) {
        done = make_error(errc::execution_failed, std::string("the worker threw: ") + e.what());
      }
      lock.lock();
      --r.active;
      if (--st.running[next->second] == 0) st.running.erase(next->second);
      st.inflight.erase(id);
      if (!done)
        r.failed.push_back({{"request", id.to_string()}, {"error", done.error().message()}});
      else if (*done)
        ++r.executed;
      else
        ++r.taken;
      st.changed.notify_all();
    }
  }

  // When a claim's lease ends: its metadata.lease_until, else (a claim written before leases)
  // its time plus the lease.
  static timestamp lease_end(const universal_span& running, std::int64_t lease_ms) {
    if (running.metadata && running.metadata->is_object())
      if (auto l = running.metadata->find("lease_until");
          l != running.metadata->end() && l->is_string())
        if (auto t = timestamp::parse(l->template get<std::string>())) return *t;
    return timestamp{running.at.unix_ms + lease_ms};
  }

  // Closes requests whose claim's lease has ended, and that no lane here runs, as error
  // "abandoned" (state::mutex held). Not run again: the function may have had effects (at most
  // once). The explicit seq 2 arbitrates with a worker that is only slow: whichever writes it
  // first is the outcome.
  void recover(call& c, run& r) const {
    auto& st = *state_;
    const timestamp t = now();
    for (auto it = st.claimed.begin(); it != st.claimed.end();) {
      const universal_span& running = it->second.span;
      const timestamp until = lease_end(running, r.lease_ms);
      if (st.inflight.count(it->first) || t < until) {
        ++it;
        continue;
      }
      universal_span done = unsealed(running);
      done.seq = 2;
      done.status = "error";
      done.did = "abandoned";
      done.who = "request_worker";
      std::string holder = "a worker";
      if (running.metadata && running.metadata->is_object() &&
          running.metadata->contains("worker") && (*running.metadata)["worker"].is_string())
        holder = "worker " + (*running.metadata)["worker"].template get<std::string>();
      done.error =
          json{{"code", "abandoned"},
               {"message",
                "claimed by " + holder + " until " + until.to_string() +
                    ", which recorded no outcome; not run again (a request runs at most once)"}};
      auto as = c.ledger.on_behalf_of(detail::owner_of(running, c.as.identity()));
      auto closed = as.append(std::move(done));
      if (closed)
        ++r.abandoned;
      else if (!(closed.error() == errc::version_conflict))  // else: its worker finished first
        r.failed.push_back(
            {{"request", it->first.to_string()}, {"error", closed.error().message()}});
      if (closed || closed.error() == errc::version_conflict)
        it = st.claimed.erase(it);
      else
        ++it;
    }
  }

  // true: executed here; false: another worker had claimed it.
  result<bool> execute(call& c, universal_span request, std::int64_t lease_ms) const {
    auto as = c.ledger.on_behalf_of(detail::owner_of(request, c.as.identity()));
    const uuid function_id = request.parent_id ? *request.parent_id : uuid{};
    json input = request.input ? *request.input : json(nullptr);
    universal_span running = next_version(request, 1, "running", "claimed");
    json md = json::object();
    if (request.metadata && request.metadata->is_object())
      md = *request.metadata;
    else if (request.metadata && !request.metadata->is_null())
      md["request_metadata"] = *request.metadata;
    md["lease_until"] = timestamp{now().unix_ms + lease_ms}.to_string();
    md["worker"] = state_->instance.to_string();
    running.metadata = std::move(md);
    auto claimed = as.append(std::move(running));
    if (!claimed) {
      if (claimed.error() == errc::version_conflict) return false;
      return std::move(claimed).error();
    }
    universal_span done = next_version(request, 2, "error", "executed");
    if (!request.parent_id) {
      done.error = json{{"code", "invalid_span"},
                        {"message", "the request has no parent_id (the function to run)"}};
    } else {
      auto execution = boot_->boot(
          ids::run_code, json{{"span_id", function_id.to_string()}, {"input", std::move(input)}},
          as.identity(), request.trace_id);
      if (execution) {
        done.status = execution->status == "complete" ? "complete" : "error";
        done.output = json{{"execution_id", execution->id.to_string()}};
        if (execution->error) done.error = *execution->error;
      } else {
        done.error = json{{"code", "boot_failed"}, {"message", execution.error().message()}};
      }
    }
    auto finished = as.append(std::move(done));
    if (!finished) {
      if (finished.error() == errc::version_conflict)
        return make_error(errc::version_conflict,
                          "request " + request.id.to_string() +
                              " was closed (its lease had ended) before this run finished; the "
                              "run's execution is not its outcome");
      return std::move(finished).error();
    }
    return true;
  }

  static universal_span next_version(const universal_span& request, std::int32_t seq,
                                     const char* status, const char* did) {
    universal_span s = unsealed(request);
    s.seq = seq;
    s.status = status;
    s.did = did;
    s.who = "request_worker";
    return s;
  }

  stage0<Ledger>* boot_;
  std::shared_ptr<state> state_ = std::make_shared<state>();
};
}  // namespace logline::runtime
