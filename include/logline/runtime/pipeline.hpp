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
// request_worker: takes requests whose only version is status "scheduled", oldest first (feed
// order), and for each
//   1. claims it by appending version 1 with status "running" (an explicit seq: of two workers
//      only one can write version 1; the other gets a version conflict and moves on). The
//      request stays its owner's; its later versions are written on the owner's behalf with
//      the operator's rights, which an owner does not have: a request's outcome cannot be faked;
//   2. boots run_code as the request's owner with {span_id: parent_id, input: request.input};
//   3. appends version 2: status "complete" or "error", output {execution_id}, or the boot error.
// A request is thus executed at most once. A worker that dies between 1 and 3 leaves the request
// "running" (visible, never re-run).
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "logline/backend.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/runtime/manifest.hpp"
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
  q.entity_type = "execution";
  q.parent_id = kernel;
  q.status = "complete";
  q.owner_id = who.user_id;
  q.limit = 16;
  for (;;) {
    auto page = ledger.timeline_any(q);
    if (!page) return std::move(page).error();
    for (const auto& s : page->spans) {
      if (s.tenant_id != who.tenant_id || !ledger.operator_wrote(s)) continue;
      if (!s.output) return std::string();
      auto it = s.output->find("resume_cursor");
      return it != s.output->end() && it->is_string() ? it->template get<std::string>() : std::string();
    }
    if (page->next_cursor.empty()) return std::string();
    q.cursor = page->next_cursor;
  }
}

// Reads the feed from `pos` (resuming first if this process has not read yet), at most `budget`
// spans; on_span(span, cursor before it). Returns how many spans were read.
template <class Call, class F>
result<std::size_t> follow_feed(Call& c, feed_position& pos, std::size_t budget, F&& on_span) {
  if (!pos.resumed) {
    auto r = last_resume_cursor(c.ledger, c.function.id, c.as.identity());
    if (!r) return std::move(r).error();
    pos.cursor = std::move(*r);
    pos.resumed = true;
  }
  std::size_t read = 0;
  while (read < budget) {
    auto page = c.ledger.changes_any(pos.cursor, std::min<std::size_t>(budget - read, 256));
    if (!page) return std::move(page).error();
    if (page->empty()) break;
    for (auto& ch : *page) {
      on_span(ch.span, pos.cursor);
      pos.cursor = ch.cursor;
    }
    read += page->size();
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
    auto read = detail::follow_feed(c, st.feed, feed_budget, [&](const universal_span& s, const std::string& before) {
      if (s.entity_type != "function") return;
      if (s.status == "scheduled") st.scheduled[s.id] = {s, before};
      else st.scheduled.erase(s.id);
    });
    if (!read) return std::move(read).error();
    std::int64_t created = 0, existing = 0;
    json failed = json::array();
    for (auto it = st.scheduled.begin(); it != st.scheduled.end();) {
      const universal_span& fn = it->second.span;
      universal_span request;
      request.entity_type = "request";
      request.who = "observer_bot";
      request.did = "scheduled";
      request.this_ = "run " + fn.name.value_or(fn.id.to_string());
      request.status = "scheduled";
      request.parent_id = fn.id;
      request.trace_id = fn.trace_id ? *fn.trace_id : uuid::v7().to_string();
      request.visibility = fn.visibility == visibility::public_ ? visibility::tenant : fn.visibility;
      request.metadata = json{{"request_key", "scheduled@" + std::to_string(fn.seq)}, {"function_seq", fn.seq}};
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
    return json{{"requests_created", created}, {"already_requested", existing}, {"failed", failed},
                {"feed_read", *read}, {"resume_cursor", resume}};
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
  std::size_t feed_budget = 10000;  // feed spans read per run
  std::size_t batch = 100;          // requests executed per run

  result<json> operator()(call& c) const {
    std::lock_guard lock(state_->mutex);
    auto& st = *state_;
    auto read = detail::follow_feed(c, st.feed, feed_budget, [&](const universal_span& s, const std::string& before) {
      if (s.entity_type != "request") return;
      if (s.seq == 0 && s.status == "scheduled") {
        st.queue.push_back(s.id);
        st.pending[s.id] = {s, before};
      } else {
        st.pending.erase(s.id);  // claimed (here or by another worker)
      }
    });
    if (!read) return std::move(read).error();
    std::int64_t executed = 0, taken = 0;
    json failed = json::array();
    while (!st.queue.empty() && executed + taken < static_cast<std::int64_t>(batch)) {
      const uuid id = st.queue.front();
      st.queue.pop_front();
      auto p = st.pending.find(id);
      if (p == st.pending.end()) continue;
      universal_span request = std::move(p->second.span);
      st.pending.erase(p);
      auto r = execute(c, std::move(request));
      if (!r) failed.push_back({{"request", id.to_string()}, {"error", r.error().message()}});
      else if (*r) ++executed;
      else ++taken;
    }
    // Resume before the oldest request still queued (the queue is in feed order).
    while (!st.queue.empty() && !st.pending.count(st.queue.front())) st.queue.pop_front();
    const std::string resume = st.queue.empty() ? st.feed.cursor : st.pending.at(st.queue.front()).before;
    return json{{"executed", executed}, {"taken_by_another_worker", taken}, {"failed", failed}, {"queued", st.pending.size()},
                {"feed_read", *read}, {"resume_cursor", resume}};
  }

 private:
  // true: executed here; false: another worker had claimed it.
  result<bool> execute(call& c, universal_span request) const {
    auto as = c.ledger.on_behalf_of(detail::owner_of(request, c.as.identity()));
    const uuid function_id = request.parent_id ? *request.parent_id : uuid{};
    json input = request.input ? *request.input : json(nullptr);
    universal_span running = next_version(request, 1, "running", "claimed");
    auto claimed = as.append(std::move(running));
    if (!claimed) {
      if (claimed.error() == errc::version_conflict) return false;
      return std::move(claimed).error();
    }
    universal_span done = next_version(request, 2, "error", "executed");
    if (!request.parent_id) {
      done.error = json{{"code", "invalid_span"}, {"message", "the request has no parent_id (the function to run)"}};
    } else {
      auto execution = boot_->boot(ids::run_code, json{{"span_id", function_id.to_string()}, {"input", std::move(input)}}, as.identity(),
                                   request.trace_id);
      if (execution) {
        done.status = execution->status == "complete" ? "complete" : "error";
        done.output = json{{"execution_id", execution->id.to_string()}};
        if (execution->error) done.error = *execution->error;
      } else {
        done.error = json{{"code", "boot_failed"}, {"message", execution.error().message()}};
      }
    }
    auto finished = as.append(std::move(done));
    if (!finished) return std::move(finished).error();
    return true;
  }

  static universal_span next_version(const universal_span& request, std::int32_t seq, const char* status, const char* did) {
    universal_span s = unsealed(request);
    s.seq = seq;
    s.status = status;
    s.did = did;
    s.who = "request_worker";
    return s;
  }

  struct state {
    std::mutex mutex;
    detail::feed_position feed;
    std::deque<uuid> queue;            // feed order
    std::map<uuid, detail::waiting> pending;   // seq 0 seen, no later version seen
  };
  stage0<Ledger>* boot_;
  std::shared_ptr<state> state_ = std::make_shared<state>();
};

}  // namespace logline::runtime
