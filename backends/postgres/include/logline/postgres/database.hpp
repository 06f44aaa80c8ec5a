#pragma once
// A PostgreSQL database for logline: a bounded pool of connections for the application role,
// and (optionally) connections as the table owner for migrations, verification and export.
//
//   auto db = logline::postgres::database::open("host=... dbname=... user=app",
//                                                {.owner = "host=... dbname=... user=owner"}).value();
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "logline/detail/commit_signal.hpp"
#include "logline/error.hpp"
#include "logline/postgres/connection.hpp"

namespace logline::postgres {

struct open_options {
  // Most connections open at once; a caller waits for a free one up to acquire_timeout.
  std::size_t pool_size = 8;
  std::chrono::milliseconds acquire_timeout{10000};
  // libpq connection string (or URL) of the role that owns the tables. Migrations, verify and
  // export run as this role; without it they run on the application connections.
  std::optional<std::string> owner;
  // How long a statement may wait for a lock (a chain's advisory lock, a row being inserted by
  // another transaction) before it fails with errc::busy instead of waiting on (0: forever).
  std::chrono::milliseconds lock_timeout{30000};
};

class database;

// A pooled connection, handed back when the lease ends (dropped if broken or mid-transaction).
class lease {
 public:
  lease() = default;
  lease(lease&& o) noexcept
      : pool_(std::exchange(o.pool_, nullptr)), conn_(std::move(o.conn_)), owner_(o.owner_) {}
  lease& operator=(lease&& o) noexcept {
    if (this != &o) {
      release();
      pool_ = std::exchange(o.pool_, nullptr);
      conn_ = std::move(o.conn_);
      owner_ = o.owner_;
    }
    return *this;
  }
  ~lease() { release(); }
  connection& operator*() const noexcept { return *conn_; }
  connection* operator->() const noexcept { return conn_.get(); }
  connection* get() const noexcept { return conn_.get(); }

 private:
  friend class database;
  lease(database* pool, std::unique_ptr<connection> c, bool owner)
      : pool_(pool), conn_(std::move(c)), owner_(owner) {}
  inline void release();
  database* pool_ = nullptr;
  std::unique_ptr<connection> conn_;
  bool owner_ = false;
};

class database {
 public:
  static result<std::unique_ptr<database>> open(std::string conninfo, open_options options = {}) {
    if (options.pool_size == 0)
      return make_error(errc::invalid_argument, "pool_size must be at least 1");
    std::unique_ptr<database> db(new database());
    db->conninfo_ = std::move(conninfo);
    db->options_ = std::move(options);
    // Connect once now, so that a wrong address is an error here, not at the first append.
    LOGLINE_TRY(first, db->open_connection(db->conninfo_));
    db->idle_.push_back(std::move(first));
    db->open_ = 1;
    if (db->options_.owner) {
      auto owner = db->open_connection(*db->options_.owner);
      if (!owner) return with_context(owner.error(), "owner connection: ");
      db->owner_idle_.push_back(std::move(*owner));
    }
    return db;
  }
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  const std::string& conninfo() const noexcept { return conninfo_; }
  const open_options& options() const noexcept { return options_; }
  bool has_owner() const noexcept { return options_.owner.has_value(); }

  // A connection of the application role, waiting up to acquire_timeout for a free one.
  result<lease> acquire() {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, options_.acquire_timeout,
                      [&] { return !idle_.empty() || open_ < options_.pool_size; }))
      return make_error(errc::busy, "no free PostgreSQL connection within " +
                                        std::to_string(options_.acquire_timeout.count()) +
                                        " ms (pool_size " + std::to_string(options_.pool_size) +
                                        ")")
          .mark_from_storage();  // the pool's settings are the operator's to read
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return lease(this, std::move(c), false);
    }
    ++open_;
    lock.unlock();
    auto c = open_connection(conninfo_);
    if (!c) {
      std::lock_guard relock(mutex_);
      --open_;
      cv_.notify_one();
      return std::move(c).error();
    }
    return lease(this, std::move(*c), false);
  }
  // A connection of the owner role (or of the application role when no owner was given).
  result<lease> acquire_owner() {
    if (!options_.owner) return acquire();
    {
      std::lock_guard lock(mutex_);
      if (!owner_idle_.empty()) {
        auto c = std::move(owner_idle_.back());
        owner_idle_.pop_back();
        return lease(this, std::move(c), true);
      }
    }
    auto c = open_connection(*options_.owner);
    if (!c) return with_context(c.error(), "owner connection: ");
    return lease(this, std::move(*c), true);
  }

  // In-process change notification: writers call notify_commit after each commit; readers of
  // the feed wait for the counter to move (across processes: LISTEN/NOTIFY, feed.hpp).
  void notify_commit() { commits_.notify(); }
  std::uint64_t commits() const { return commits_.count(); }
  bool wait_for_commit(std::uint64_t seen, std::chrono::milliseconds timeout) const {
    return commits_.wait(seen, timeout);
  }

 private:
  friend class lease;
  database() = default;

  result<std::unique_ptr<connection>> open_connection(const std::string& conninfo) const {
    auto c = connection::open(conninfo);
    if (!c) return c;
    LOGLINE_TRY_VOID(
        (*c)->exec("SET lock_timeout = " + std::to_string(options_.lock_timeout.count()),
                   "setting lock_timeout"));
    return c;
  }

  void give_back(std::unique_ptr<connection> c, bool owner) {
    const bool healthy = c && !c->broken() && c->idle();
    std::lock_guard lock(mutex_);
    if (owner) {
      if (healthy && owner_idle_.size() < 2) owner_idle_.push_back(std::move(c));
      return;
    }
    if (healthy)
      idle_.push_back(std::move(c));
    else
      --open_;
    cv_.notify_one();
  }

  std::string conninfo_;
  open_options options_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<connection>> idle_, owner_idle_;
  std::size_t open_ = 0;
  logline::detail::commit_signal commits_;
};

inline void lease::release() {
  if (pool_ && conn_) {
    if (!conn_->broken() && !conn_->idle()) (void)conn_->exec("ROLLBACK");
    pool_->give_back(std::move(conn_), owner_);
  }
  pool_ = nullptr;
}

}  // namespace logline::postgres
