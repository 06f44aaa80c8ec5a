#pragma once
// What a storage backend provides, as concepts: `logline::store_for<Store, Span>` (the table of
// one span type) and `logline::backend<Backend, Span>` (the tag a ledger is instantiated with).
// logline::ledger requires the second, so a store that lacks a member, or has one of the wrong
// shape, is named in the compile error. docs/backend.md says what each member must guarantee
// beyond its shape (transactions, visibility, the feed's order) and how to run the conformance
// suite against a new backend.
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logline/backend.hpp"
#include "logline/error.hpp"
#include "logline/types.hpp"

namespace logline {

// The write transaction a store hands to the ledger's transaction function.
template <class Tx, class Span>
concept store_transaction = requires(Tx& tx, const uuid& id,
                                     const std::optional<std::string>& chain_key,
                                     const Span& span) {
  {
    tx.entity(id)
    } -> std::same_as<result<std::optional<entity_state>>>;  // latest version, owner pair
  { tx.head(chain_key) } -> std::same_as<result<std::optional<chain_head>>>;  // a chain's last span
  { tx.insert(span) } -> std::same_as<result<void>>;                          // one sealed span
};

// A forward-only reader of every stored row, batch by batch.
template <class Scanner, class Row>
concept row_scanner = std::movable<Scanner> &&
    requires(Scanner& s, std::vector<Row>& out, std::size_t max) {
  { s.next_batch(out, max) } -> std::same_as<result<bool>>;  // false: no rows after these
};

// What the ledger calls to count commits and wait for the next one (streams, the runtime).
template <class Database>
concept commit_counter = requires(const Database& db, std::uint64_t seen,
                                  std::chrono::milliseconds timeout) {
  { db.commits() } -> std::same_as<std::uint64_t>;
  { db.wait_for_commit(seen, timeout) } -> std::same_as<bool>;
};

namespace detail {
// A transaction function of the shape the ledger passes to write().
template <class Tx>
struct transaction_function {
  result<void> operator()(Tx&) const;
};
}  // namespace detail

// The table of one span type in one database.
template <class Store, class Span>
concept store_for = requires {
  typename Store::transaction;
  typename Store::scanner;
  typename Store::verify_scanner;
}
&&store_transaction<typename Store::transaction, Span>&&
    row_scanner<typename Store::scanner, scanned_row<Span>>&&
        row_scanner<typename Store::verify_scanner, verify_row>&& requires(
            Store& s, const Store& cs, const uuid& id, std::int32_t seq, const identity* who,
            const timeline_query& q, std::string_view cursor, std::size_t limit, std::int64_t cap,
            bool flag, detail::transaction_function<typename Store::transaction> fn) {
  { s.migrate() } -> std::same_as<result<void>>;
  { s.write(who, flag, fn) } -> std::same_as<result<void>>;
  { s.latest(id, who) } -> std::same_as<result<std::optional<Span>>>;
  { s.version(id, seq, who) } -> std::same_as<result<std::optional<Span>>>;
  { s.history(id, who) } -> std::same_as<result<std::vector<Span>>>;
  { s.timeline(q, who) } -> std::same_as<result<timeline_page<Span>>>;
  { s.count(q, who, cap) } -> std::same_as<result<std::int64_t>>;
  { s.changes(cursor, limit, who) } -> std::same_as<result<std::vector<change<Span>>>>;
  { s.feed_head() } -> std::same_as<result<std::string>>;
  { s.hold(cursor) } -> std::same_as<result<std::shared_ptr<void>>>;
  { s.scan(flag) } -> std::same_as<result<typename Store::scanner>>;
  { s.verify_scan() } -> std::same_as<result<typename Store::verify_scanner>>;
  { cs.db() } -> commit_counter;
};

// A backend tag: its database type, and a store for `Span` built from (database&, table_options).
template <class Backend, class Span>
concept backend = requires {
  typename Backend::database;
  typename Backend::template store<Span>;
}
&&std::constructible_from<typename Backend::template store<Span>, typename Backend::database&,
                          table_options>&& store_for<typename Backend::template store<Span>, Span>;

}  // namespace logline
