#pragma once
// logline::http::stream_hub: the fan-out behind GET /api/timeline/stream.
//
// Streams of one identity share one reader: a hub thread reads the change feed as that identity
// (so the tenancy rules, and on PostgreSQL row-level security, decide what it sees) once per
// commit, renders each event once and offers it to every stream of the identity. Each stream has
// a bounded queue; a stream whose queue is full (its client reads slower than spans arrive) is
// marked overflowed and ended: its client reconnects with Last-Event-ID and loses nothing. A
// slow client therefore costs its own queue and nothing else: writers never wait for streams and
// other streams never wait for it.
//
// A stream starts (or resumes) by reading the feed itself until it has caught up, then joins the
// hub at its cursor. The hub keeps the last `recent` events of each identity, so a stream that
// caught up a little behind the hub's reader takes the difference from memory.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "logline/backend.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/schema.hpp"
#include "logline/types.hpp"

namespace logline::http {

// One SSE event, rendered once and shared by every stream that gets it.
struct stream_event {
  std::string cursor;
  std::string entity_type;
  std::string text;  // "id: <cursor>\nevent: span\ndata: <span JSON>\n\n"
};

template <class Span>
std::string stream_event_text(const change<Span>& c) {
  return "id: " + c.cursor + "\nevent: span\ndata: " + span_to_json_text(c.span) + "\n\n";
}

// An error event, after which the server ends the stream: "event: error\ndata: {"error":{code,message}}".
inline std::string stream_error_text(std::string_view code, std::string_view message) {
  return "event: error\ndata: " +
         canonical(
             json{{"error", {{"code", std::string(code)}, {"message", std::string(message)}}}}) +
         "\n\n";
}

template <class Span>
std::shared_ptr<const stream_event> make_stream_event(const change<Span>& c) {
  return std::make_shared<const stream_event>(
      stream_event{c.cursor, c.span.entity_type, stream_event_text(c)});
}

// One open stream: filled by the hub, drained by the stream's connection.
class stream_client {
 public:
  stream_client(std::optional<std::string> entity_type, std::size_t capacity)
      : entity_type_(std::move(entity_type)), capacity_(std::max<std::size_t>(capacity, 1)) {}

  bool wants(std::string_view entity_type) const {
    return !entity_type_ || entity_type == *entity_type_;
  }

  // The hub's side: queues e unless it is at or before the client's cursor, or filtered out.
  void offer(const std::shared_ptr<const stream_event>& e) {
    std::lock_guard lock(mutex_);
    if (overflowed_ || !feed_cursor_before(after_, e->cursor)) return;
    if (!wants(e->entity_type)) return;
    if (queue_.size() >= capacity_) {
      overflowed_ = true;
      queue_.clear();
    } else {
      queue_.push_back(e);
    }
    ready_.notify_one();
  }

  // What the connection takes: events in feed order; an overflow (what was queued is dropped:
  // the stream must end, and its client resumes after the last event it received); or a failure
  // of the hub's reader (an error event to send before the stream ends).
  struct taken {
    std::vector<std::shared_ptr<const stream_event>> events;
    bool overflowed = false;
    std::optional<std::string> failure;
  };
  // The connection's side: waits up to `timeout` for any of them.
  taken take(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout,
                    [&] { return !queue_.empty() || overflowed_ || failure_ || woken_; });
    woken_ = false;
    taken out{{std::make_move_iterator(queue_.begin()), std::make_move_iterator(queue_.end())},
              overflowed_,
              failure_};
    queue_.clear();
    return out;
  }
  // The hub's side: the feed cannot be read for this stream (an integrity failure): the stream
  // sends `event_text` after what is queued and ends.
  void fail(std::string event_text) {
    std::lock_guard lock(mutex_);
    if (!failure_) failure_ = std::move(event_text);
    ready_.notify_one();
  }
  bool overflowed() const {
    std::lock_guard lock(mutex_);
    return overflowed_;
  }
  void wake() {
    std::lock_guard lock(mutex_);
    woken_ = true;
    ready_.notify_one();
  }

  // Everything up to this cursor has reached the client (set before it joins the hub).
  void set_after(std::string cursor) {
    std::lock_guard lock(mutex_);
    after_ = std::move(cursor);
  }
  std::string after() const {
    std::lock_guard lock(mutex_);
    return after_;
  }

 private:
  const std::optional<std::string> entity_type_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::shared_ptr<const stream_event>> queue_;
  std::string after_;
  std::optional<std::string> failure_;
  bool overflowed_ = false, woken_ = false;
};

template <class Ledger>
class stream_hub {
 public:
  struct options {
    std::size_t recent = 1024;  // events kept per identity for streams joining a little behind
    std::size_t page = 256;     // feed rows read at a time
    // The least time between two rounds of reads: commits that arrive faster are read together
    // (each round reads the feed once per identity, on the database readers that requests need).
    std::chrono::milliseconds round{5};
  };

  explicit stream_hub(Ledger& ledger, options o) : ledger_(ledger), options_(o) {}
  explicit stream_hub(Ledger& ledger) : stream_hub(ledger, options{}) {}
  stream_hub(const stream_hub&) = delete;
  stream_hub& operator=(const stream_hub&) = delete;
  ~stream_hub() { stop(); }

  // Joins client c of identity `who`, which has read the feed up to c.after(). False when the
  // hub's reader is past that cursor and its recent events do not reach back to it: the client
  // reads more of the feed itself and joins again.
  bool join(const identity& who, const std::shared_ptr<stream_client>& c) {
    std::lock_guard lock(mutex_);
    if (stopped_) return false;
    const std::string after = c->after();
    auto& g = groups_[key_of(who)];
    if (!g) {
      g = std::make_shared<group>();
      g->who = who;
      g->cursor = g->recent_from = after;
    } else if (feed_cursor_before(after, g->cursor)) {
      // The reader is ahead: hand over what the client missed, if the recent events reach back.
      if (feed_cursor_before(after, g->recent_from)) return false;
      for (const auto& e : g->recent) c->offer(e);
    }
    g->clients.push_back(c);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    return true;
  }

  void leave(const identity& who, const std::shared_ptr<stream_client>& c) {
    std::lock_guard lock(mutex_);
    auto it = groups_.find(key_of(who));
    if (it == groups_.end()) return;
    auto& clients = it->second->clients;
    clients.erase(std::remove(clients.begin(), clients.end(), c), clients.end());
    if (clients.empty()) groups_.erase(it);
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopped_) return;
      stopped_ = true;
      for (auto& [k, g] : groups_)
        for (auto& c : g->clients) c->wake();
    }
    if (thread_.joinable()) thread_.join();
  }

  std::size_t identities() const {
    std::lock_guard lock(mutex_);
    return groups_.size();
  }

 private:
  struct group {
    identity who;
    std::string cursor;       // the reader has read the feed up to here
    std::string recent_from;  // `recent` holds every event after this cursor, up to `cursor`
    std::deque<std::shared_ptr<const stream_event>> recent;
    std::vector<std::shared_ptr<stream_client>> clients;
  };

  static std::string key_of(const identity& who) {
    std::string k = who.user_id;
    k += '\0';
    if (who.tenant_id) k += '+' + *who.tenant_id;
    return k;
  }

  // The hub's reader: one feed read per identity per commit, at most one round per `round`
  // (and at least every 500 ms, for commits made by other processes).
  void run() {
    for (;;) {
      const auto round_started = std::chrono::steady_clock::now();
      const auto seen = ledger_plumbing::commits(ledger_);
      std::vector<std::shared_ptr<group>> groups;
      {
        std::lock_guard lock(mutex_);
        if (stopped_) return;
        for (auto& [k, g] : groups_) groups.push_back(g);
      }
      bool more = false;
      for (auto& g : groups) more = read(*g) || more;
      if (!more) {
        ledger_plumbing::wait_for_commit(ledger_, seen, std::chrono::milliseconds(500));
        std::this_thread::sleep_until(round_started + options_.round);
      }
    }
  }

  // Reads one page for g's identity and offers it; true when the page was full.
  bool read(group& g) {
    std::string cursor;
    {
      std::lock_guard lock(mutex_);
      cursor = g.cursor;
    }
    auto batch = ledger_.as(g.who).feed(cursor, options_.page);
    if (!batch && batch.error() == errc::integrity_violation) {
      // Retrying would meet the same span: every stream of the identity is told and ends (a
      // reconnecting client meets it again, and is told again).
      const std::string text = stream_error_text("integrity_violation", batch.error().message());
      std::lock_guard lock(mutex_);
      for (auto& c : g.clients) c->fail(text);
      return false;
    }
    if (!batch) return false;  // another error (the database away): the next round retries
    std::vector<std::shared_ptr<const stream_event>> events;
    events.reserve(batch->changes.size());
    for (const auto& c : batch->changes) events.push_back(make_stream_event(c));
    std::lock_guard lock(mutex_);
    for (auto& e : events) {
      for (auto& c : g.clients) c->offer(e);
      g.recent.push_back(std::move(e));
      if (g.recent.size() > options_.recent) {
        g.recent_from = g.recent.front()->cursor;
        g.recent.pop_front();
      }
    }
    // Past the entries this identity cannot see, too: they are not read again.
    g.cursor = batch->next;
    return batch->changes.size() == options_.page;
  }

  Ledger& ledger_;
  const options options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<group>> groups_;
  std::thread thread_;
  bool stopped_ = false;
};

}  // namespace logline::http
