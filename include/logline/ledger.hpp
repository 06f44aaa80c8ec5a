#pragma once
// logline::ledger<Span, Backend, Policies...>: the typed, append-only ledger.
//
//   using payments = logline::ledger<payment, logline::sqlite::backend,
//       logline::append_only, logline::hash_chained, logline::signed_by<logline::ed25519>,
//       logline::tenant_isolated>;
//   using payments = logline::audited_ledger<payment, logline::sqlite::backend>;  // the same
//
// Policies are open (policy/policy.hpp): each one says what it adds to the table, what it
// requires of the span type and what it checks on the write path.
//
// The ledger sets `at`, the chain fields (prev_hash, chain_position), public_key, curr_hash and
// signature; a span handed to append() must leave them unset. Every operation runs as the
// ledger's identity (or a session's: as(), on_behalf_of()). With tenant_isolated, who may write
// what is DESIGN §5: an identity writes spans it owns, versions of an entity only as its owner
// (the owner pair of version 0, which no version changes), and nothing in the operator's
// namespace (operator_namespace.hpp) unless it is an operator identity.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "logline/assert.hpp"
#include "logline/backend.hpp"
#include "logline/store_contract.hpp"
#include "logline/detail/parallel.hpp"
#include "logline/ed25519.hpp"
#include "logline/error.hpp"
#include "logline/fwd.hpp"
#include "logline/operator_namespace.hpp"
#include "logline/policy/append_only.hpp"
#include "logline/policy/hash_chained.hpp"
#include "logline/policy/signed.hpp"
#include "logline/policy/tenant_isolated.hpp"
#include "logline/schema.hpp"
#include "logline/verify.hpp"

namespace logline {

namespace detail {
// The table the policies ask for: each policy's shape() in order, over what the span type
// itself implies (a curr_hash column makes every row hashed).
template <class Span, class... Policies>
constexpr table_options table_of() {
  table_options t{.hashed = has_content_hash<Span>};
  if constexpr ((ledger_policy<Policies> && ...)) (Policies::shape(t), ...);
  return t;
}
// Whether the span type has every column the policies require (a policy's fits() says what
// else it needs, in its own words).
template <class Span, class... Policies>
constexpr bool policies_fit() {
  if constexpr ((ledger_policy<Policies> && ...)) {
    const bool fit = (Policies::template fits<Span>() && ...);
    for (auto column : table_of<Span, Policies...>().required)
      if (!column.empty() && !schema<Span>::declares(column)) return false;
    return fit;
  } else {
    return true;  // the unknown policy is reported on its own
  }
}
template <class>
inline constexpr bool dependent_false = false;
}  // namespace detail

namespace detail {
// Clears what sealing sets: the content hash, the chain fields and the signature.
template <class Span>
void clear_seal(Span& s) {
  if constexpr (has_content_hash<Span>) s.curr_hash.reset();
  if constexpr (has_chain_columns<Span>) {
    s.prev_hash.reset();
    s.chain_position.reset();
  }
  if constexpr (has_signature_columns<Span>) {
    s.signature.reset();
    s.public_key.reset();
  }
}
}  // namespace detail

// A stored span's content without the fields the ledger sets (at, hashes, chain position,
// signature): what to change and hand to append_version (or to append with an explicit seq).
template <class Span>
Span unsealed(Span s) {
  if constexpr (requires { s.at; }) s.at = timestamp{};
  detail::clear_seal(s);
  return s;
}

struct ledger_plumbing;

template <class Span, class Backend, class... Policies>
class ledger {
 public:
  static_assert((ledger_policy<Policies> && ...),
                "logline: unknown policy; a policy derives from logline::policy_base (append_only, "
                "hash_chained, "
                "signed_by<ed25519>, tenant_isolated, or one of your own: docs/ledger.md)");
  static_assert(detail::policies_fit<Span, Policies...>(),
                "logline: a policy requires a column (table_options::require) that the span type "
                "does not declare");
  static constexpr table_options policy_table = detail::table_of<Span, Policies...>();
  static constexpr bool is_append_only = policy_table.append_only;
  static constexpr bool is_chained = policy_table.chained;
  static constexpr bool is_signed = policy_table.signed_;
  static constexpr bool is_tenant_isolated = policy_table.tenancy;
  static constexpr chain_scope scope = policy_table.scope;

  static_assert(
      backend<Backend, Span>,
      "logline: Backend::store<Span> does not provide what a store must (logline::store_for in "
      "<logline/store_contract.hpp>; docs/backend.md)");

  using span_type = Span;
  using backend_type = Backend;
  using database_type = typename Backend::database;
  using store_type = typename Backend::template store<Span>;

  struct options {
    logline::identity identity;                         // who reads and writes
    std::optional<ed25519::key> signing_key;            // required by signed_by
    unsigned sign_threads = detail::default_threads();  // batch appends sign in parallel
    operator_namespace operators{};  // who the operator is, and what only it writes
  };

  static constexpr table_options table() { return policy_table; }
  static constexpr verify_profile profile() {
    return {.hashed = has_content_hash<Span>, .chained = is_chained, .signed_ = is_signed};
  }

  // Opens the ledger on a database, creating its table if needed, or says why it cannot (a
  // table made for another schema, a database that refuses). A signed ledger opened without a
  // key can read and verify; its appends fail with errc::invalid_key.
  static result<ledger> open(database_type& db, options o) {
    ledger l(unopened, db, std::move(o));
    LOGLINE_TRY_VOID(l.init());
    return l;
  }
  // The same, throwing logline::bad_result_access (a logline::error) instead.
  ledger(database_type& db, options o) : ledger(unopened, db, std::move(o)) {
    if (auto r = init(); !r) throw bad_result_access(r.error());
  }

  const logline::identity& identity() const noexcept { return options_.identity; }
  const operator_namespace& operators() const noexcept { return options_.operators; }
  // The public key this ledger signs with (none when opened without a key).
  std::optional<logline::public_key> signer() const {
    if (!options_.signing_key) return std::nullopt;
    return options_.signing_key->public_key();
  }

  // Whether a span read through this ledger is the operator's: owned by an operator identity
  // and, in a signed ledger, signed by this ledger's own key (a span read back through the
  // ledger had its hash checked already). Readers of the operator's namespace (the token
  // registry, the manifest, the runtime's state) take nothing else; a span that fails this is
  // treated as absent.
  bool operator_wrote(const Span& s) const {
    if constexpr (is_tenant_isolated) {
      if (!options_.operators.is_operator(s.owner_id, s.tenant_id)) return false;
    }
    if constexpr (is_signed) {
      if (!options_.signing_key || !s.public_key ||
          *s.public_key != options_.signing_key->public_key())
        return false;
      if (!s.signature || !s.curr_hash ||
          !ed25519::verify(*s.signature, *s.curr_hash, *s.public_key))
        return false;
    }
    return true;
  }

  // Appends a new entity (seq 0, id generated if nil) or the next version of one (seq must be
  // exactly latest + 1; anything else is errc::version_conflict).
  result<Span> append(Span span) {
    return append_one(std::move(span), false, options_.identity, own_rights());
  }
  // Appends the next version of span.id whatever its seq says (seq is set to latest + 1).
  result<Span> append_version(Span span) {
    return append_one(std::move(span), true, options_.identity, own_rights());
  }

  // Appends spans in one transaction: all or nothing. Signatures are computed in parallel.
  result<std::vector<Span>> append_batch(std::vector<Span> spans) {
    return append_many(std::move(spans), {}, options_.identity, own_rights());
  }
  // The same, where take_next_version[i] makes span i an append_version() (its seq is set to
  // the next version, counting versions earlier in the batch) instead of an append().
  result<std::vector<Span>> append_batch(std::vector<Span> spans,
                                         std::vector<bool> take_next_version) {
    return append_flagged(std::move(spans), std::move(take_next_version), options_.identity,
                          own_rights());
  }

  // The latest version visible to this identity.
  result<Span> get(const uuid& id) { return get_for(own_reads(), id); }
  result<Span> get(const uuid& id, std::int32_t seq) { return get_for(own_reads(), id, seq); }
  // Every visible version, oldest first.
  result<std::vector<Span>> history(const uuid& id) { return history_for(own_reads(), id); }
  result<timeline_page<Span>> timeline(const timeline_query& q) {
    return timeline_for(own_reads(), q);
  }
  // How many visible spans match q's filters (cursor and limit aside), counting up to `cap`: one
  // SQL count, the rows not read (so not verified either; for quotas, not for evidence).
  result<std::int64_t> count(const timeline_query& q, std::int64_t cap) {
    return store_.count(q, own_reads(), cap);
  }
  // The change feed: visible spans after feed cursor `after` (empty: from the beginning), in feed
  // order, each with its cursor. No span is delivered twice or skipped, also under concurrent
  // writers (docs/ledger.md, "Change feed").
  result<std::vector<change<Span>>> changes(std::string_view after = {}, std::size_t limit = 256) {
    return changes_for(own_reads(), after, limit);
  }
  // The same page with the cursor to resume from (feed_page::next), which moves past entries
  // this identity cannot see: a stream or policy that follows the feed reads each entry once.
  result<feed_page<Span>> feed(std::string_view after = {}, std::size_t limit = 256) {
    return feed_for(own_reads(), after, limit);
  }

  // The ledger seen by one identity, with the same reads and writes as the ledger itself:
  //   ledger.as(who)            reads what `who` may read, writes with who's rights (an operator
  //                             identity's view writes with the operator's rights, any other is
  //                             held to the rules of DESIGN §5);
  //   ledger.on_behalf_of(who)  reads as `who`, writes as `who` with the operator's rights: spans
  //                             in the operator's namespace, reserved ids, spans owned by others
  //                             (a version still keeps its entity's owner pair). For trusted code
  //                             acting for a user (the runtime records a user's boot and
  //                             execution as the user's); never for content a client chose
  //                             without checking it with operators().check_ordinary() first;
  //   ledger.as_operator()      reads every span whoever owns it (like verify and export_all:
  //                             tools such as `logline-cli get` and `tail`; on PostgreSQL through
  //                             the owner's connection), writes as the ledger's own identity.
  // A server serving many users opens one ledger and makes a view per request. A view shares the
  // ledger's store and connections (cheap to make; use it from one thread at a time, the ledger
  // from many), signs with the ledger's key, and must not outlive the ledger.
  class view {
   public:
    const logline::identity& identity() const noexcept { return who_; }
    // Whether this view writes with the operator's rights.
    bool privileged() const noexcept { return privileged_; }
    // Whether its reads see every span (the operator's view), not only what identity() may read.
    bool unrestricted() const noexcept { return unrestricted_; }
    const operator_namespace& operators() const noexcept { return l_->operators(); }
    bool operator_wrote(const Span& s) const { return l_->operator_wrote(s); }
    result<Span> append(Span span) {
      return l_->append_one(std::move(span), false, who_, privileged_);
    }
    result<Span> append_version(Span span) {
      return l_->append_one(std::move(span), true, who_, privileged_);
    }
    result<std::vector<Span>> append_batch(std::vector<Span> spans) {
      return l_->append_many(std::move(spans), {}, who_, privileged_);
    }
    result<std::vector<Span>> append_batch(std::vector<Span> spans,
                                           std::vector<bool> take_next_version) {
      return l_->append_flagged(std::move(spans), std::move(take_next_version), who_, privileged_);
    }
    result<Span> get(const uuid& id) { return l_->get_for(reads(), id); }
    result<Span> get(const uuid& id, std::int32_t seq) { return l_->get_for(reads(), id, seq); }
    result<std::vector<Span>> history(const uuid& id) { return l_->history_for(reads(), id); }
    result<timeline_page<Span>> timeline(const timeline_query& q) {
      return l_->timeline_for(reads(), q);
    }
    result<std::int64_t> count(const timeline_query& q, std::int64_t cap) {
      return l_->store_.count(q, reads(), cap);
    }
    result<std::vector<change<Span>>> changes(std::string_view after = {},
                                              std::size_t limit = 256) {
      return l_->changes_for(reads(), after, limit);
    }
    result<feed_page<Span>> feed(std::string_view after = {}, std::size_t limit = 256) {
      return l_->feed_for(reads(), after, limit);
    }

   private:
    friend class ledger;
    view(ledger& l, logline::identity who, bool privileged, bool unrestricted)
        : l_(&l), who_(std::move(who)), privileged_(privileged), unrestricted_(unrestricted) {}
    // The tenancy the store reads under: none for the operator's view.
    const logline::identity* reads() const { return unrestricted_ ? nullptr : tenancy_of(who_); }
    ledger* l_;
    logline::identity who_;
    bool privileged_;
    bool unrestricted_;
  };
  using session = view;  // its name before 0.2

  view as(logline::identity who) {
    const bool op = options_.operators.is_operator(who);
    return view(*this, std::move(who), op, false);
  }
  view on_behalf_of(logline::identity who) { return view(*this, std::move(who), true, false); }
  view as_operator() { return view(*this, options_.identity, own_rights(), true); }

  // Appends spans sealed elsewhere (an export of another ledger with the same policies), as they
  // are: nothing is re-hashed or re-signed. Before anything is written, every span must be valid,
  // hash to its curr_hash and (signed ledgers) carry a valid signature; inside the one write
  // transaction, each must be its id's next version and continue its chain exactly (position =
  // head + 1, prev_hash = the head's curr_hash, counting the spans before it). All or nothing.
  // Tenancy rules do not apply: importing is an operator's task.
  // Before anything is written, every span's values, hash and signature are checked, in
  // parallel on options.sign_threads threads; `on_checked(n)` (if given) is called from this
  // thread as the checked count grows, for progress.
  result<std::vector<Span>> import_batch(std::vector<Span> spans,
                                         const std::function<void(std::size_t)>& on_checked = {}) {
    auto check = [&](const Span& s) -> result<void> {
      auto fail = [&](std::string why) {
        return make_error(errc::integrity_violation, std::move(why));
      };
      LOGLINE_TRY_VOID(validate_span(s));
      const auto authentic = authenticity_of(s);
      if constexpr (has_content_hash<Span>) {
        if (!s.curr_hash) return fail("no curr_hash");
        if (!authentic.hash_ok)
          return fail("span " + s.id.to_string() + " does not hash to its curr_hash");
      }
      if constexpr (is_signed) {
        if (!s.signature || !s.public_key)
          return fail("span " + s.id.to_string() + " is not signed");
        if (!authentic.signature_ok)
          return fail("span " + s.id.to_string() + " has a bad signature");
      }
      if constexpr (is_chained) {
        if (!s.chain_position) return fail("span " + s.id.to_string() + " has no chain_position");
      }
      if constexpr (requires { s.at; }) {
        if (!s.at.is_set()) return fail("span " + s.id.to_string() + " has no at");
      }
      return {};
    };
    {
      // In chunks, so that progress is reported and the first bad span stops the work soon.
      constexpr std::size_t chunk = 4096;
      detail::work_pool pool(spans.size() >= 64 ? std::max(1u, options_.sign_threads) - 1 : 0);
      std::vector<result<void>> checked;
      for (std::size_t first = 0; first < spans.size(); first += chunk) {
        const std::size_t n = std::min(chunk, spans.size() - first);
        checked.assign(n, result<void>{});
        pool.run(n, [&](std::size_t k) { checked[k] = check(spans[first + k]); });
        for (std::size_t k = 0; k < n; ++k)
          if (!checked[k]) return with_context(checked[k].error(), batch_prefix(first + k));
        if (on_checked) on_checked(first + n);
      }
    }
    LOGLINE_TRY_VOID(
        store_.write(nullptr, true, [&](typename store_type::transaction& tx) -> result<void> {
          batch_state st;
          for (std::size_t i = 0; i < spans.size(); ++i) {
            const Span& s = spans[i];
            auto fail = [&](std::string why) {
              return with_context(make_error(errc::integrity_violation, std::move(why)),
                                  batch_prefix(i));
            };
            LOGLINE_TRY(found_entity, entity_of(s.id, tx, st));
            entity_entry& entity = *found_entity;
            const std::int32_t next = entity.next_seq;
            if (s.seq != next)
              return with_context(
                  make_error(errc::version_conflict,
                             "span " + s.id.to_string() + " version " + std::to_string(s.seq) +
                                 " is not the next version (" + std::to_string(next) + ")"),
                  batch_prefix(i));
            if (!entity.kept_by(s))
              return fail("span " + s.id.to_string() + " version " + std::to_string(s.seq) +
                          " changes the owner of its entity");
            if (next == 0) record_owner(entity, s);
            entity.next_seq = next + 1;
            if constexpr (is_chained) {
              LOGLINE_TRY(found_head, head_of(chain_key(s), tx, st));
              chain_head& head = *found_head;
              if (*s.chain_position != head.position + 1)
                return fail("span " + s.id.to_string() + " is at chain position " +
                            std::to_string(*s.chain_position) + "; the chain continues at " +
                            std::to_string(head.position + 1));
              if (head.position >= 0 ? (!s.prev_hash || *s.prev_hash != head.hash)
                                     : s.prev_hash.has_value())
                return fail("span " + s.id.to_string() +
                            " does not link to the head of its chain (prev_hash)");
              head.position = *s.chain_position;
              head.hash = *s.curr_hash;
            }
            if (auto r = tx.insert(s); !r) return with_context(r.error(), batch_prefix(i));
          }
          return {};
        }));
    return spans;
  }

  // Verifies every stored span (all tenants: verification is an operator's task).
  result<verify_report> verify(const verify_options& o = {}) {
    LOGLINE_TRY(scanner, store_.verify_scan());
    return verify_rows(scanner, profile(), o);
  }

  // Every stored span in commit order, whoever owns it (an operator's export); stops at the
  // first error fn returns. On a file database it reads through a connection of its own; on an
  // in-memory one it holds the connection for the whole walk, so fn must not call back into a
  // ledger on that database.
  template <class F>
  result<void> export_all(F&& fn) {
    LOGLINE_TRY(scanner, store_.scan(false));
    std::vector<scanned_row<Span>> rows;
    for (;;) {
      rows.clear();
      LOGLINE_TRY(more, scanner.next_batch(rows, 1024));
      for (auto& row : rows) {
        if (!row.decode_error.empty())
          return make_error(errc::integrity_violation, row.decode_error);
        LOGLINE_TRY_VOID(fn(std::as_const(row.span)));
      }
      if (!more) return {};
    }
  }

  // There is no way to change or remove a span.
  template <class... A>
  void update(A&&...) {
    static_assert(detail::dependent_false<Span>,
                  "logline: a ledger is append-only; there is no update(). Append a new version "
                  "with append_version().");
  }
  template <class... A>
  void erase(A&&...) {
    static_assert(detail::dependent_false<Span>,
                  "logline: a ledger is append-only; there is no erase(). Append a new version "
                  "(is_deleted = true, or a status) instead.");
  }
  template <class... A>
  void remove(A&&...) {
    static_assert(detail::dependent_false<Span>,
                  "logline: a ledger is append-only; there is no remove().");
  }

 private:
  friend struct ledger_plumbing;
  struct unopened_t {};
  static constexpr unopened_t unopened{};
  ledger(unopened_t, database_type& db, options o) : store_(db, table()), options_(std::move(o)) {}
  result<void> init() { return store_.migrate(); }
  // What the ledger's own reads may see: what its identity may read.
  const logline::identity* own_reads() const { return tenancy_of(options_.identity); }

  // Whether the ledger's own identity writes with the operator's rights.
  bool own_rights() const { return options_.operators.is_operator(options_.identity); }

  result<std::vector<Span>> append_flagged(std::vector<Span> spans,
                                           std::vector<bool> take_next_version,
                                           const logline::identity& who, bool privileged) {
    if (take_next_version.size() != spans.size())
      return make_error(errc::invalid_argument, "take_next_version must have one flag per span");
    return append_many(std::move(spans), std::move(take_next_version), who, privileged);
  }
  // Reads under the tenancy rules of `tenancy` (nullptr: the operator's view), each span checked.
  result<Span> get_for(const logline::identity* tenancy, const uuid& id) {
    return found(store_.latest(id, tenancy), id);
  }
  result<Span> get_for(const logline::identity* tenancy, const uuid& id, std::int32_t seq) {
    return found(store_.version(id, seq, tenancy), id);
  }
  result<timeline_page<Span>> timeline_for(const logline::identity* tenancy,
                                           const timeline_query& q) {
    auto page = store_.timeline(q, tenancy);
    if (!page) return page;
    for (const auto& s : page->spans) LOGLINE_TRY_VOID(check_read(s));
    return page;
  }
  result<std::vector<Span>> history_for(const logline::identity* tenancy, const uuid& id) {
    auto rows = store_.history(id, tenancy);
    if (!rows) return rows;
    for (const auto& s : *rows) LOGLINE_TRY_VOID(check_read(s));
    return rows;
  }
  result<std::vector<change<Span>>> changes_for(const logline::identity* tenancy,
                                                std::string_view after, std::size_t limit) {
    auto rows = store_.changes(after, limit, tenancy);
    if (!rows) return rows;
    for (const auto& c : *rows) LOGLINE_TRY_VOID(check_read(c.span));
    return rows;
  }
  result<feed_page<Span>> feed_for(const logline::identity* tenancy, std::string_view after,
                                   std::size_t limit) {
    // The head is read first: every entry up to it is then in the page's view, so a short page
    // has shown every visible one of them (the operator's view sees them all: no head needed).
    std::string head;
    if (tenancy) {
      LOGLINE_TRY(stored_head, store_.feed_head());
      head = std::move(stored_head);
    }
    LOGLINE_TRY(rows, changes_for(tenancy, after, limit));
    feed_page<Span> page;
    page.changes = std::move(rows);
    page.next = page.changes.empty() ? std::string(after) : page.changes.back().cursor;
    if (page.changes.size() < limit && feed_cursor_before(page.next, head))
      page.next = std::move(head);
    return page;
  }

  // A signed ledger opens without a key (to read and verify) but cannot append without one.
  result<void> check_can_sign() const {
    if constexpr (is_signed) {
      if (!options_.signing_key)
        return make_error(errc::invalid_key, "a signed ledger needs options.signing_key to append");
    }
    return {};
  }

  // The identity the store applies tenancy rules for (none without tenant_isolated).
  static const logline::identity* tenancy_of(const logline::identity& who) {
    return is_tenant_isolated ? &who : nullptr;
  }

  // After reading: the span is sealed as this ledger seals every span, and the stored hash
  // matches the content. (A row without its seal is not a span: nothing this ledger wrote.)
  result<void> check_read(const Span& s) const {
    auto unsealed_row = [&](const char* what) {
      return make_error(errc::integrity_violation, "span " + s.id.to_string() + " version " +
                                                       std::to_string(s.seq) + " has no " + what +
                                                       ": every span of this ledger is sealed");
    };
    if constexpr (has_content_hash<Span>) {
      if (!s.curr_hash) return unsealed_row("curr_hash");
    }
    if constexpr (is_signed) {
      if (!s.signature || !s.public_key) return unsealed_row("signature");
    }
    if constexpr (is_chained) {
      if (!s.chain_position) return unsealed_row("chain_position");
    }
    if constexpr (has_content_hash<Span>) {
      if (auto valid = validate_span(s); !valid)
        return make_error(
            errc::integrity_violation,
            "span " + s.id.to_string() + " version " + std::to_string(s.seq) +
                " holds a value that cannot be canonicalized: " + valid.error().message());
      if (s.curr_hash && span_hash(s) != *s.curr_hash)
        return make_error(errc::integrity_violation, "span " + s.id.to_string() + " version " +
                                                         std::to_string(s.seq) +
                                                         " does not match its curr_hash");
    }
    return {};
  }
  result<Span> found(result<std::optional<Span>> r, const uuid& id) const {
    if (!r) return std::move(r).error();
    if (!*r) return make_error(errc::not_found, "span " + id.to_string() + " not found");
    LOGLINE_TRY_VOID(check_read(**r));
    return std::move(**r);
  }

  // Checks and completes what does not depend on the stored state. `fresh` is set when the id
  // was generated here (a new UUIDv7 cannot have stored versions).
  result<void> prepare(Span& s, bool& fresh, bool next_version, const logline::identity& who,
                       bool privileged) const {
    fresh = false;
    // A span read back carries its seal; the usual mistake is to append it again as the next
    // version, so the message names the call that strips the seal.
    auto owned = [](std::string_view field) {
      return make_error(
          errc::invalid_span,
          "field '" + std::string(field) +
              "' is set by the ledger; leave it unset (to append a new version of a span you read, "
              "pass logline::unsealed(span) to append_version)");
    };
    if constexpr (requires { s.at; }) {
      if (s.at.is_set()) return owned("at");
    }
    if constexpr (has_content_hash<Span>) {
      if (s.curr_hash) return owned("curr_hash");
    }
    if constexpr (has_chain_columns<Span>) {
      if (s.prev_hash) return owned("prev_hash");
      if (s.chain_position) return owned("chain_position");
    }
    if constexpr (has_signature_columns<Span>) {
      if (s.signature) return owned("signature");
      if (s.public_key) return owned("public_key");
    }
    if (s.seq < 0) return make_error(errc::invalid_span, "field 'seq' must be >= 0");
    if constexpr (is_tenant_isolated) {
      if (!s.owner_id) s.owner_id = who.user_id;
      if (!s.tenant_id) s.tenant_id = who.tenant_id;
      if (!privileged) {
        if (!may_write(who, s))
          return make_error(errc::permission_denied,
                            "identity " + describe(who.user_id, who.tenant_id) +
                                " may not write a span owned by " +
                                describe(s.owner_id.value_or(""), s.tenant_id) +
                                ": an identity writes the spans it owns");
        LOGLINE_TRY_VOID(options_.operators.check_ordinary(s, next_version));
      }
    }
    if (s.id.is_nil()) {
      s.id = uuid::v7();
      fresh = true;
      if (s.seq != 0)
        return make_error(errc::version_conflict, "a new span (no id) must have seq 0");
    }
    if constexpr (requires { s.at; }) s.at = timestamp::now();
    LOGLINE_TRY_VOID(validate_span(s));
    return check_policies(s, who);
  }

  // The policies' step in the write path: the columns they require, then each one's
  // check_append, in the order the policies are listed.
  static result<void> check_policies(const Span& s, const logline::identity& who) {
    // The required columns' indexes, looked up once per ledger type, not on every append.
    static const std::vector<std::size_t> required = [] {
      std::vector<std::size_t> out;
      for (auto column : policy_table.required)
        if (!column.empty()) out.push_back(schema<Span>::index_of(column));
      return out;
    }();
    for (std::size_t i : required) {
      const auto& c = schema<Span>::columns()[i];
      if (c.is_null(s))
        return make_error(errc::invalid_span, "field '" + std::string(c.name) +
                                                  "' is required by this ledger's policies");
    }
    result<void> checked;
    (void)((checked = Policies::check_append(s, who), checked.has_value()) && ...);
    return checked;
  }

  // An entity as a write transaction sees it: stored, or placed earlier in the batch.
  struct entity_entry {
    std::int32_t next_seq = 0;  // 0: no version yet
    std::optional<std::string> owner_id, tenant_id;
    logline::visibility visibility = visibility::private_;
    // Whether `s` keeps this entity's owner pair (true when nothing is stored: nothing to keep).
    bool kept_by(const Span& s) const {
      if constexpr (is_tenant_isolated)
        return next_seq == 0 || is_owner(logline::identity{owner_id.value_or(""), tenant_id},
                                         s.owner_id, s.tenant_id);
      else
        return true;
    }
  };
  struct batch_state {
    std::map<uuid, entity_entry> entities;  // read from the store, then kept current by the batch
    std::map<std::optional<std::string>, chain_head> heads;
  };
  static std::string describe(const std::string& user, const std::optional<std::string>& tenant) {
    return "'" + user.substr(0, 64) + "' " +
           (tenant ? "(tenant '" + tenant->substr(0, 64) + "')" : std::string("(no tenant)"));
  }
  static void record_owner(entity_entry& e, const Span& s) {
    if constexpr (is_tenant_isolated) {
      e.owner_id = s.owner_id;
      e.tenant_id = s.tenant_id;
      e.visibility = s.visibility;
    }
  }

  std::optional<std::string> chain_key(const Span& s) const {
    if constexpr (requires { s.tenant_id; }) {
      if (scope == chain_scope::per_tenant) return s.tenant_id;
    }
    return std::nullopt;
  }

  // An entity inside a write transaction (counting versions placed before in the batch).
  static result<entity_entry*> entity_of(const uuid& id, typename store_type::transaction& tx,
                                         batch_state& st) {
    if (auto it = st.entities.find(id); it != st.entities.end()) return &it->second;
    LOGLINE_TRY(stored, tx.entity(id));
    entity_entry e;
    if (stored) {
      e.next_seq = stored->latest_seq + 1;
      e.owner_id = std::move(stored->owner_id);
      e.tenant_id = std::move(stored->tenant_id);
      e.visibility = stored->visibility;
    }
    return &st.entities.emplace(id, std::move(e)).first->second;
  }
  // The head of a chain inside a write transaction (as left by the spans placed before).
  static result<chain_head*> head_of(const std::optional<std::string>& key,
                                     typename store_type::transaction& tx, batch_state& st) {
    auto it = st.heads.find(key);
    if (it == st.heads.end()) {
      LOGLINE_TRY(stored_head, tx.head(key));
      it = st.heads.emplace(key, stored_head.value_or(chain_head{})).first;
    }
    return &it->second;
  }

  // Assigns seq and the chain fields, then hashes. Runs inside the write transaction, and again
  // from the start if the store retries the transaction: everything it sets is reset first.
  // Versions: only the entity's owner pair appends them (privileged writers too keep the pair).
  // An entity the caller may not read answers exactly as an id that does not exist, except that
  // its id cannot be taken for a new entity (docs/security.md, "No oracle").
  result<void> place(Span& s, bool fresh, bool next_version, const logline::identity& who,
                     bool privileged, typename store_type::transaction& tx, batch_state& st) {
    detail::clear_seal(s);
    entity_entry* entity = nullptr;
    if (fresh) {
      entity = &st.entities[s.id];
    } else {
      LOGLINE_TRY(found_entity, entity_of(s.id, tx, st));
      entity = found_entity;
    }
    std::int32_t next = entity->next_seq;
    bool hidden = false;  // stored, but neither the caller's nor visible to it
    if constexpr (is_tenant_isolated) {
      const bool same_owner = entity->kept_by(s);
      // A reserved id: only versions of an entity the caller owns (the same answer whether
      // someone else's entity is there or not: derived ids are predictable).
      if (!privileged && options_.operators.reserves_id(s.id) && (next == 0 || !same_owner))
        return operator_namespace::reserved_id_error(s.id);
      if (!same_owner) {
        struct view {  // what may_read needs of the stored entity
          std::optional<std::string> owner_id, tenant_id;
          logline::visibility visibility;
        } latest{entity->owner_id, entity->tenant_id, entity->visibility};
        if (privileged)
          return make_error(errc::permission_denied,
                            "span " + s.id.to_string() + " is owned by " +
                                describe(entity->owner_id.value_or(""), entity->tenant_id) +
                                ": its versions keep that owner");
        if (may_read(who, latest)) {
          if (next_version || s.seq == 0) return taken(s.id);
          return make_error(
              errc::permission_denied,
              "span " + s.id.to_string() +
                  " belongs to another identity: only its owner appends its versions");
        }
        hidden = true;
      }
    }
    if (hidden) {
      if (next_version || s.seq == 0) return taken(s.id);
      next = 0;  // answered as for an id that does not exist
    }
    if (next_version) {
      s.seq = next;
    } else if (s.seq != next) {
      return make_error(
          errc::version_conflict,
          "span " + s.id.to_string() +
              (next == 0 ? " does not exist yet" : " is at version " + std::to_string(next - 1)) +
              "; the next version is " + std::to_string(next) + ", not " + std::to_string(s.seq));
    }
    if (next == 0) record_owner(*entity, s);
    entity->next_seq = next + 1;
    if constexpr (is_chained) {
      LOGLINE_TRY(found_head, head_of(chain_key(s), tx, st));
      chain_head& head = *found_head;
      s.chain_position = head.position + 1;
      if (head.position >= 0) s.prev_hash = head.hash;
      // Assert the link before writing: the new span continues its chain exactly.
      LOGLINE_ASSERT(*s.chain_position == head.position + 1, "chain position must follow the head");
      LOGLINE_ASSERT(head.position < 0 || (s.prev_hash && *s.prev_hash == head.hash),
                     "prev_hash must be the head's curr_hash");
      LOGLINE_ASSERT(head.position >= 0 || !s.prev_hash,
                     "the first span of a chain has no prev_hash");
    }
    if constexpr (is_signed) s.public_key = options_.signing_key->public_key();
    if constexpr (has_content_hash<Span>) s.curr_hash = span_hash(s);
    if constexpr (is_chained) {
      chain_head& head = st.heads[chain_key(s)];
      head.position = *s.chain_position;
      head.hash = *s.curr_hash;
    }
    return {};
  }

  // Before writing: the span is hashed and, in a signed ledger, signed by this ledger's key.
  void assert_sealed(const Span& s) const {
    if constexpr (has_content_hash<Span>)
      LOGLINE_ASSERT(s.curr_hash.has_value(), "a span is hashed before it is written");
    if constexpr (is_signed) {
      LOGLINE_ASSERT(s.signature.has_value(), "a signed ledger signs every span");
      LOGLINE_ASSERT(s.public_key && *s.public_key == options_.signing_key->public_key(),
                     "the span carries the signer's key");
    }
  }

  // Before signing, the hash is recomputed from the span exactly as it will be written (on the
  // signing threads, so a batch pays for it in parallel).
  void sign(Span& s) const {
    if constexpr (is_signed) {
      LOGLINE_ASSERT(span_hash(s) == *s.curr_hash,
                     "the span about to be signed must hash to its curr_hash");
      s.signature = options_.signing_key->sign(*s.curr_hash);
    }
  }

  // A new entity's id that is taken (by anyone: the answer does not depend on whose it is).
  static error_info taken(const uuid& id) {
    return make_error(
        errc::version_conflict,
        "span " + id.to_string() + " version 0 already exists: a new span needs another id");
  }

  result<Span> append_one(Span span, bool next_version, const logline::identity& who,
                          bool privileged) {
    LOGLINE_TRY_VOID(check_can_sign());
    bool fresh = false;
    LOGLINE_TRY_VOID(prepare(span, fresh, next_version, who, privileged));
    // The store may run the transaction function again (a fresh transaction after an optimistic
    // attempt failed): it only reads and completes `span`, and place() starts from scratch.
    LOGLINE_TRY_VOID(store_.write(
        tenancy_of(who), privileged, [&](typename store_type::transaction& tx) -> result<void> {
          batch_state st;
          LOGLINE_TRY_VOID(place(span, fresh, next_version, who, privileged, tx, st));
          sign(span);
          assert_sealed(span);
          return tx.insert(span);
        }));
    return span;
  }

  result<std::vector<Span>> append_many(std::vector<Span> spans, std::vector<bool> next_version,
                                        const logline::identity& who, bool privileged) {
    LOGLINE_TRY_VOID(check_can_sign());
    std::vector<char> fresh(spans.size(), 0);
    for (std::size_t i = 0; i < spans.size(); ++i) {
      bool f = false;
      if (auto r = prepare(spans[i], f, !next_version.empty() && next_version[i], who, privileged);
          !r)
        return with_context(r.error(), batch_prefix(i));
      fresh[i] = f;
    }
    LOGLINE_TRY_VOID(store_.write(
        tenancy_of(who), privileged, [&](typename store_type::transaction& tx) -> result<void> {
          batch_state st;
          const std::size_t n = spans.size();
          auto place_one = [&](std::size_t i) -> result<void> {
            if (auto r = place(spans[i], fresh[i] != 0, !next_version.empty() && next_version[i],
                               who, privileged, tx, st);
                !r)
              return with_context(r.error(), batch_prefix(i));
            return {};
          };
          if constexpr (is_signed) {
            // A pipeline over the batch: this thread places (seq, chain, hash) span after span, then
            // inserts them in order; signers sign each span as soon as it is placed. This thread signs
            // too whenever the span it is to insert next is not signed yet.
            std::vector<std::atomic<bool>> ready(n);
            std::atomic<std::size_t> placed{0}, next{0};
            std::atomic<bool> stop{false};
            auto try_sign = [&]() -> int {  // 1: signed one, 0: none placed yet, -1: nothing left
              std::size_t j = next.load(std::memory_order_relaxed);
              for (;;) {
                if (j >= n || stop.load(std::memory_order_relaxed)) return -1;
                if (j >= placed.load(std::memory_order_acquire)) return 0;
                if (next.compare_exchange_weak(j, j + 1, std::memory_order_acq_rel)) break;
              }
              sign(spans[j]);
              ready[j].store(true, std::memory_order_release);
              return 1;
            };
            std::optional<detail::work_pool> pool;
            if (n >= 32 && options_.sign_threads > 1) {
              pool.emplace(options_.sign_threads - 1);
              pool->start(pool->extra_threads(), [&](std::size_t) {
                for (int r; (r = try_sign()) >= 0;)
                  if (r == 0) std::this_thread::yield();
              });
            }
            auto fail = [&](error_info e) -> result<void> {
              stop.store(true);
              if (pool) pool->help_until_done();
              return e;
            };
            for (std::size_t i = 0; i < n; ++i) {
              if (auto r = place_one(i); !r) return fail(std::move(r).error());
              placed.store(i + 1, std::memory_order_release);
            }
            for (std::size_t i = 0; i < n; ++i) {
              while (!ready[i].load(std::memory_order_acquire))
                if (try_sign() <= 0) std::this_thread::yield();
              assert_sealed(spans[i]);
              if (auto r = tx.insert(spans[i]); !r)
                return fail(with_context(r.error(), batch_prefix(i)));
            }
            if (pool) pool->help_until_done();
          } else {
            for (std::size_t i = 0; i < n; ++i) LOGLINE_TRY_VOID(place_one(i));
            for (std::size_t i = 0; i < n; ++i) {
              assert_sealed(spans[i]);
              if (auto r = tx.insert(spans[i]); !r) return with_context(r.error(), batch_prefix(i));
            }
          }
          return {};
        }));
    return spans;
  }

  static std::string batch_prefix(std::size_t i) {
    return "span #" + std::to_string(i) + " of the batch: ";
  }

  store_type store_;
  options options_;
};

// What the runtime and the HTTP component need of a ledger besides reads and writes, kept off
// the ledger's own interface: its store, locks across processes and commit notifications.
struct ledger_plumbing {
  template <class Ledger>
  static typename Ledger::store_type& store(Ledger& l) noexcept {
    return l.store_;
  }
  // An exclusive lock on `key`, held until the returned handle is dropped (PostgreSQL: an
  // advisory lock other processes respect; SQLite: within this process). The runtime holds one
  // on a function for the whole of its run.
  template <class Ledger>
  static result<std::shared_ptr<void>> hold(Ledger& l, std::string_view key) {
    return l.store_.hold(key);
  }
  // The commits made in this process so far, and a wait for one after the value seen (or the
  // timeout): how the change feed's followers sleep until there is something to read.
  template <class Ledger>
  static std::uint64_t commits(const Ledger& l) {
    return l.store_.db().commits();
  }
  template <class Ledger>
  static bool wait_for_commit(const Ledger& l, std::uint64_t seen,
                              std::chrono::milliseconds timeout) {
    return l.store_.db().wait_for_commit(seen, timeout);
  }
};

// audited_ledger<Span, Backend>, the full audited policy set, is declared in fwd.hpp.

}  // namespace logline
