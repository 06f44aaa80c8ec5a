#pragma once
// The cross-process change feed on PostgreSQL: an AFTER INSERT trigger sends key fields on
// channel `timeline_updates` (store.hpp); a listener wakes on them and the subscriber re-reads
// the spans through its own ledger, under its own identity (row-level security applies).
//
//   auto l = logline::postgres::listener::open(conninfo).value();
//   logline::postgres::subscriber sub(ledger, *l, saved_cursor);
//   while (running) sub.poll([&](const auto& change) { ...; }, 1s);   // sub.cursor() to persist
//
// A dropped connection is reopened and LISTEN re-issued; since notifications sent meanwhile are
// lost, the subscriber re-reads from its cursor, so nothing is lost or delivered twice.
#include <poll.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "logline/error.hpp"
#include "logline/postgres/connection.hpp"
#include "logline/postgres/store.hpp"

namespace logline::postgres {

class listener {
 public:
  static result<std::unique_ptr<listener>> open(std::string conninfo,
                                                std::string channel = std::string(feed_channel)) {
    std::unique_ptr<listener> l(new listener());
    l->conninfo_ = std::move(conninfo);
    l->channel_ = std::move(channel);
    LOGLINE_TRY_VOID(l->connect());
    return l;
  }

  // Waits up to `timeout` for a notification. true: something may have changed (a notification,
  // or the connection was lost and reopened); false: the timeout passed quietly. Fails only if
  // the server cannot be reached again within the timeout.
  result<bool> wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!conn_ || conn_->broken()) return reconnect(deadline);
    if (drain()) return true;
    pollfd p{PQsocket(conn_->handle()), POLLIN, 0};
    const int ms = static_cast<int>(std::max<std::int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                 std::chrono::steady_clock::now())
               .count()));
    const int ready = ::poll(&p, 1, ms);
    if (ready <= 0) return false;
    if (PQconsumeInput(conn_->handle()) != 1 || conn_->broken()) return reconnect(deadline);
    drain();
    return true;
  }

  int backend_pid() const noexcept { return conn_ ? conn_->backend_pid() : 0; }
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  std::uint64_t notifications() const noexcept { return notifications_; }
  // Payloads of the notifications received by the last wait() (key fields as JSON text).
  const std::vector<std::string>& payloads() const noexcept { return payloads_; }

 private:
  listener() = default;

  result<void> connect() {
    conn_.reset();
    LOGLINE_TRY(conn, connection::open(conninfo_));
    LOGLINE_TRY_VOID(conn->exec("LISTEN " + detail::quote(channel_), "LISTEN"));
    conn_ = std::move(conn);
    return {};
  }
  result<bool> reconnect(std::chrono::steady_clock::time_point deadline) {
    auto delay = std::chrono::milliseconds(20);
    for (;;) {
      auto r = connect();
      if (r) {
        ++reconnects_;
        return true;
      }
      if (std::chrono::steady_clock::now() + delay > deadline) return std::move(r).error();
      std::this_thread::sleep_for(delay);
      delay = std::min(delay * 2, std::chrono::milliseconds(1000));
    }
  }
  bool drain() {
    payloads_.clear();
    PQconsumeInput(conn_->handle());
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_->handle())) {
      payloads_.emplace_back(n->extra ? n->extra : "");
      PQfreemem(n);
      ++notifications_;
      any = true;
    }
    return any;
  }

  std::string conninfo_, channel_;
  std::unique_ptr<connection> conn_;
  std::vector<std::string> payloads_;
  std::uint64_t reconnects_ = 0, notifications_ = 0;
};

// Follows a ledger's change feed from a cursor, woken by a listener.
template <class Ledger>
class subscriber {
 public:
  subscriber(Ledger& ledger, listener& l, std::string cursor = {})
      : ledger_(ledger), listener_(l), cursor_(std::move(cursor)) {}

  // Delivers every change available now (in feed order) to fn; if there was none, waits up to
  // `timeout` for a notification and tries once more. Returns how many were delivered. The
  // listener's timeout also re-reads the feed, so a transaction that held the feed's horizon
  // back (DESIGN §6) is picked up even when its own notification came first.
  template <class F>
  result<std::size_t> poll(F&& fn, std::chrono::milliseconds timeout) {
    auto n = deliver(fn);
    if (!n || *n > 0) return n;
    LOGLINE_TRY_VOID(listener_.wait(timeout));
    return deliver(fn);
  }
  const std::string& cursor() const noexcept { return cursor_; }

 private:
  template <class F>
  result<std::size_t> deliver(F& fn) {
    std::size_t total = 0;
    for (;;) {
      LOGLINE_TRY(batch, ledger_.changes(cursor_, 500));
      for (auto& c : batch) {
        fn(std::as_const(c));
        cursor_ = c.cursor;
        ++total;
      }
      if (batch.size() < 500) return total;
    }
  }

  Ledger& ledger_;
  listener& listener_;
  std::string cursor_;
};

}  // namespace logline::postgres
