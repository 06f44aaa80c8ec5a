#pragma once
// The policy agent (LogLineOS id …004): runs active policies over the spans that arrived since
// each policy last ran.
//
//   boot.register_kernel(runtime::ids::policy_agent, runtime::policy_agent<Ledger>{});
//
// A policy is a span with entity_type "policy", status "active" (its latest version), language
// "lua" and code that defines `on(span)`, returning a list of actions:
//
//   function on(span)
//     if span.entity_type == "execution" and (span.duration_ms or 0) > 1000 then
//       return {{emit_span = {entity_type = "alert", this = "slow run", parent_id = span.id}}}
//     end
//     return {}
//   end
//
// For each policy, as its owner: the spans the owner may read in the policy's tenant that
// arrived in the change feed after the policy's cursor, oldest first, at most `batch` (500) per
// run, each evaluated in a fresh sandbox (a 3 s limit) with
//   ctx.span, ctx.policy {id, name, metadata}, ctx.now (a timestamp), ctx.now_ms (ms since the
//   epoch), ctx.revisit (null, or {at = "<due time>"} when this is a revisit), and the host
//   functions ctx.epoch_ms("<timestamp>") -> ms since the epoch, ctx.timestamp(ms) -> timestamp.
// Actions:
//   {run = "run_code", span_id = "<function>", input = ...}  → a `request` span (status
//       scheduled, parent_id = the function, metadata.request_key "policy:<policy>:<span>:<seq>:<n>")
//   {emit_span = {...}}  → a new span with entity_type required, `this` the entity_type and
//       `did` "emitted" by default, `who` "policy_agent"; owner, tenant and visibility are the
//       policy's. It is held to the owner's rights (DESIGN §5): no type or id of the operator's
//       namespace, no `id`, `seq` or `who` of its own; anything else is a policy_error.
//   {revisit_at = "<timestamp>"}  → the policy sees the span again at that time (its latest
//       version, with ctx.revisit set): a `policy_revisit` span (parent_id = the policy, status
//       scheduled, metadata {policy_id, target {id, seq}, due_at}) whose id is derived from the
//       policy, the span and the time, so asking twice for the same revisit is one revisit. When
//       it is due, the agent evaluates the policy on the span and writes the revisit's next
//       version (status done, metadata.outcome) in the same batch as the evaluation's output:
//       each revisit is evaluated once. This is how a policy acts on time passing (the TTL
//       reaper): a policy sees each arriving span once, and nothing arrives when a TTL expires.
// Every span the agent writes for a policy has the policy's id in related_to, and the policy
// does not see its own output (no feedback loops); no policy sees the agent's records of where
// policies are (policy_cursor and policy_revisit spans). A failing evaluation (a Lua error, a
// limit, an action that is not one of the above) becomes a `policy_error` span (parent_id = the
// policy, error {code, message}, metadata.target {id, seq}) and the agent moves on.
//
// The cursor is a `policy_cursor` span (parent_id = the policy, one entity per policy: its id is
// derived from the policy's) whose metadata records the feed position of the last span
// processed. Cursors and revisits are the operator's (owned by runtime_identity, private, signed
// by the ledger's key; the agent must be booted by an operator identity): the agent takes no
// other span for one, so nobody can move a policy's cursor or plant a revisit. The policy's
// outputs and errors are owned by the policy's owner and written on its behalf. The outputs of a batch and the cursor's next version are one append_batch: all or
// nothing. A crash before it leaves nothing written and the batch is evaluated again; after
// it, the cursor is past the batch. Two agents at once: the second batch conflicts on the
// cursor's version and writes nothing. No span is missed or processed twice. The cursor also
// keeps `revisit_since`, the `at` of the oldest pending revisit, so that looking for due revisits
// after a restart reads only the revisits written since; between runs, an agent remembers a
// policy's pending revisits as long as the cursor is at the version it wrote. The agent's
// output says when the next revisit is due (`wake_at`); runtime::node boots the agent then
// even if nothing arrives.
//
// Fairness: policies run on `lanes` threads, one tenant's on one lane at a time, tenants in turn,
// each tenant within `tenant_budget` per run (see the fields below); a tenant's policies that
// did not get their turn are `deferred` to the next run, which starts with them.
#include <algorithm>
#include <chrono>
#include <deque>
#include <thread>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/entity_types.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/runtime/lua.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/pipeline.hpp"
#include "logline/runtime/scheduler.hpp"
#include "logline/runtime/stage0.hpp"
#include "logline/schema.hpp"

namespace logline::runtime {

// The id of a policy's cursor entity.
inline uuid policy_cursor_id(const uuid& policy) {
  return derived_uuid("logline.policy_cursor\n" + policy.to_string());
}

// Whether s is one of the policy agent's records of where policies are (any policy's cursor and
// revisits): bookkeeping, not events; no policy is shown them.
inline bool policy_agent_record(const universal_span& s) {
  return s.entity_type == entity::policy_cursor || s.entity_type == entity::policy_revisit;
}

// The id of a policy's revisit of a span at a time.
inline uuid policy_revisit_id(const uuid& policy, const uuid& target, const timestamp& due) {
  return derived_uuid("logline.policy_revisit\n" + policy.to_string() + "\n" + target.to_string() +
                      "\n" + due.to_string());
}

template <class Ledger>
struct policy_agent {
  using call = typename stage0<Ledger>::call;
  std::size_t batch = 500;
  lua_limits limits = [] {
    lua_limits l;
    l.timeout = std::chrono::seconds(3);
    return l;
  }();
  // Called after a batch is evaluated, before it is written (tests simulate a crash here).
  std::function<result<void>(const universal_span& policy)> before_write;
  // What "now" is for ctx.now and for whether a revisit is due (runtime::node passes its
  // scheduler's clock; tests a manual one). Null: the system clock.
  const runtime::clock* time = nullptr;

  // Fairness across tenants: the policies run on `lanes` threads (the booting thread is one),
  // one tenant's policies on one lane at a time, the tenants taken in turn. A tenant's policies
  // get `tenant_budget` of time per run: past it (after at least one evaluation), its current
  // policy stops at a span boundary (its cursor is written there: the rest is evaluated next
  // run) and its remaining policies wait for the next run, where the turn starts after the last
  // policy that ran. So one tenant's slow or hostile policies hold one lane for at most the
  // budget plus one evaluation's limit per run. On PostgreSQL each running policy holds a
  // pooled connection for its lock: keep lanes below the pool size.
  std::size_t lanes = 2;
  std::chrono::milliseconds tenant_budget{3000};
  // The time the budget is measured by (tests give a manual one). Null: std::chrono::steady_clock.
  std::function<std::chrono::steady_clock::time_point()> steady_now;
  // Called before each evaluation of a policy on a span (tests hold a lane here).
  std::function<void(const universal_span& policy, const universal_span& span)> before_evaluate;

  result<json> operator()(call& c) const {
    if (!c.ledger.operators().is_operator(c.as.identity()))
      return make_error(
          errc::permission_denied,
          "the policy agent runs as an operator identity (it reads every tenant's feed)");
    std::lock_guard run_lock(state_->run_mutex);
    // The operator's feed, read up to its end: where to resume when every policy is there (or
    // there is none), so an idle ledger does not wake the agent (runtime::node).
    LOGLINE_TRY_VOID(detail::follow_feed(c, state_->feed, std::size_t{1} << 20,
                                         [](const universal_span&, const std::string&) {}));
    LOGLINE_TRY(policies, active_policies(c.ledger));
    tally t;
    t.resume = state_->feed.cursor;  // the least position of the feed and the policies
    t.policies = policies.size();
    // A policy whose latest version is not its first writer's is not run.
    std::erase_if(policies, [&](const universal_span& p) {
      auto ok = check_owner_continuity(c.ledger, p);
      if (!ok) t.failed.push_back({{"policy", p.id.to_string()}, {"error", ok.error().message()}});
      return !ok;
    });
    const timestamp now = now_ms();
    auto work = in_turn(std::move(policies));

    std::mutex m;  // guards work and t
    auto lane = [&] {
      for (;;) {
        std::unique_lock lock(m);
        if (work.empty()) return;
        auto [tenant, queue] = std::move(work.front());
        work.pop_front();
        lock.unlock();
        run_tenant(c, tenant, queue, now, t, m);
      }
    };
    {
      // Counted before the first lane starts: lanes take from `work` under m, and the first
      // one may already be taking while the others start.
      const std::size_t lane_count = std::min(std::max<std::size_t>(lanes, 1), work.size());
      std::vector<std::jthread> others;
      for (std::size_t i = 1; i < lane_count; ++i) others.emplace_back(lane);
      lane();
    }
    return json{{"policies", t.policies},
                {"evaluated", t.evaluated},
                {"revisited", t.revisited},
                {"spans_written", t.written},
                {"policy_errors", t.errors},
                {"deferred", t.deferred},
                {"failed", t.failed},
                {"resume_cursor", t.resume},
                {"wake_at", t.wake ? json(t.wake->to_string()) : json(nullptr)}};
  }

 private:
  // A revisit whose latest version is still scheduled (what is needed to write its next one).
  struct pending_revisit {
    uuid id;
    std::int32_t seq = 0;
    timestamp at;  // of that version
    uuid target;
    timestamp due;
  };
  // Pending revisits are kept in (due, id) order: the due ones are a prefix, the next one due is
  // the first after it, and since a revisit's id derives from its time, it is found by its time.
  static bool by_due(const pending_revisit& a, const pending_revisit& b) {
    return std::tie(a.due, a.id) < std::tie(b.due, b.id);
  }
  static bool pending_has(const std::vector<pending_revisit>& pending, const timestamp& due,
                          const uuid& id) {
    pending_revisit key;
    key.due = due;
    key.id = id;
    return std::binary_search(pending.begin(), pending.end(), key, by_due);
  }
  // What this agent knows of a policy's pending revisits as of a cursor version: every batch
  // that schedules or completes a revisit writes the cursor's next version (explicit seq), so
  // while the cursor is at the version this agent wrote, the list is exact and the ledger need
  // not be searched. Another version (another agent, or none cached): search it.
  struct revisit_cache {
    std::int32_t cursor_seq = -1;          // -1: no cursor yet
    std::vector<pending_revisit> pending;  // by_due
  };
  struct state {
    std::mutex run_mutex;  // one run of this agent at a time
    std::mutex mutex;      // guards the rest (lanes share it)
    detail::feed_position feed;
    std::map<uuid, revisit_cache> revisits;   // by policy
    std::string last_tenant;                  // the tenant served first last run
    std::map<std::string, uuid> last_policy;  // per tenant: the policy that ran last
  };
  std::shared_ptr<state> state_ = std::make_shared<state>();

  // A run's totals (guarded by the run's mutex).
  struct tally {
    std::size_t policies = 0;
    std::int64_t evaluated = 0, written = 0, errors = 0, revisited = 0, deferred = 0;
    json failed = json::array();
    std::string resume;
    std::optional<timestamp> wake;
  };
  // A tenant's time in one run: evaluations may start until `deadline`, and always one.
  struct budget {
    std::function<std::chrono::steady_clock::time_point()> clock;
    std::chrono::steady_clock::time_point deadline;
    std::int64_t evaluations = 0;
    bool spent() const { return evaluations > 0 && clock() >= deadline; }
  };

  static std::string tenant_key(const universal_span& s) {
    return s.tenant_id ? "t:" + *s.tenant_id : std::string("-");
  }

  // The policies by tenant, the tenants in turn after the one served first last run, each
  // tenant's policies (by id) in turn after the one that ran last.
  std::deque<std::pair<std::string, std::vector<universal_span>>> in_turn(
      std::vector<universal_span> policies) const {
    std::map<std::string, std::vector<universal_span>> by_tenant;
    for (auto& p : policies) by_tenant[tenant_key(p)].push_back(std::move(p));
    std::lock_guard lock(state_->mutex);
    std::deque<std::pair<std::string, std::vector<universal_span>>> out;
    for (auto& [tenant, list] : by_tenant) {
      std::sort(list.begin(), list.end(),
                [](const universal_span& a, const universal_span& b) { return a.id < b.id; });
      if (auto last = state_->last_policy.find(tenant); last != state_->last_policy.end()) {
        auto after = std::find_if(list.begin(), list.end(),
                                  [&](const universal_span& p) { return last->second < p.id; });
        std::rotate(list.begin(), after, list.end());
      }
      out.emplace_back(tenant, std::move(list));
    }
    auto first = std::find_if(out.begin(), out.end(),
                              [&](const auto& e) { return state_->last_tenant < e.first; });
    std::rotate(out.begin(), first, out.end());
    if (!out.empty()) state_->last_tenant = out.front().first;
    return out;
  }

  // One tenant's policies, in turn, within its budget; totals into t (under m).
  void run_tenant(call& c, const std::string& tenant, const std::vector<universal_span>& queue,
                  const timestamp& now, tally& t, std::mutex& m) const {
    budget b;
    b.clock = steady_now ? steady_now : [] { return std::chrono::steady_clock::now(); };
    b.deadline = b.clock() + tenant_budget;
    for (std::size_t i = 0; i < queue.size(); ++i) {
      const universal_span& p = queue[i];
      if (b.spent()) {  // the rest wait for the next run, which starts with them
        for (; i < queue.size(); ++i) {
          auto position = stored_position(c.ledger, queue[i]);
          std::lock_guard lock(m);
          ++t.deferred;
          if (feed_cursor_before(position, t.resume)) t.resume = position;
          t.wake = t.wake ? std::min(*t.wake, now) : now;  // due again at once
        }
        return;
      }
      {
        std::lock_guard lock(state_->mutex);
        state_->last_policy[tenant] = p.id;
      }
      auto r = run_policy(c, p, now, b);
      std::lock_guard lock(m);
      if (!r) {
        t.failed.push_back({{"policy", p.id.to_string()},
                            {"error", r.error().message()}});  // tried again when something arrives
        continue;
      }
      t.evaluated += r->evaluated;
      t.written += r->written;
      t.errors += r->errors;
      t.revisited += r->revisited;
      if (feed_cursor_before(r->position, t.resume)) t.resume = r->position;
      if (r->wake && (!t.wake || *r->wake < *t.wake)) t.wake = r->wake;
    }
  }

  // The feed position a policy's cursor records ("" when there is none to take).
  static std::string stored_position(Ledger& ledger, const universal_span& policy) {
    auto cursor = ledger.as_operator().get(policy_cursor_id(policy.id));
    if (!cursor || !ledger.operator_wrote(*cursor) || cursor->parent_id != policy.id ||
        !cursor->metadata || !cursor->metadata->is_object())
      return std::string();
    auto it = cursor->metadata->find("cursor");
    return it != cursor->metadata->end() && it->is_string() ? it->template get<std::string>()
                                                            : std::string();
  }

  struct outcome {
    std::int64_t evaluated = 0, written = 0, errors = 0, revisited = 0;
    std::string position;           // the policy's feed position after this run
    std::optional<timestamp> wake;  // when its next pending revisit is due
  };

  timestamp now_ms() const { return time ? to_timestamp(time->now()) : timestamp::now(); }

  // A revisit the policy asked for: what is in its scheduled span.
  static std::optional<pending_revisit> revisit_of(const universal_span& s) {
    const auto due = timestamp_at(s.metadata, "due_at");  // set: metadata is an object
    if (!due || !s.metadata->contains("target") || !(*s.metadata)["target"].is_object())
      return std::nullopt;
    const json& t = (*s.metadata)["target"];
    if (!t.contains("id") || !t["id"].is_string()) return std::nullopt;
    auto target = uuid::parse(t["id"].template get<std::string>());
    if (!target) return std::nullopt;
    return pending_revisit{s.id, s.seq, s.at, *target, *due};
  }

  // A version of the policy's revisit of span `target` (version `target_seq`) at `due`.
  static universal_span revisit_span(const identity& op, const universal_span& policy,
                                     const uuid& target, std::int32_t target_seq,
                                     const timestamp& due, const char* status) {
    universal_span r = bookkeeping(op, policy, entity::policy_revisit, status);
    r.id = policy_revisit_id(policy.id, target, due);
    r.parent_id = policy.id;
    r.status = status;
    r.this_ = "revisit " + target.to_string() + " at " + due.to_string();
    r.metadata = json{{"policy_id", policy.id.to_string()},
                      {"target", {{"id", target.to_string()}, {"seq", target_seq}}},
                      {"due_at", due.to_string()}};
    relate(r, target);
    return r;
  }

  static std::optional<timestamp> timestamp_at(const std::optional<json>& md, const char* key) {
    if (!md || !md->is_object() || !md->contains(key) || !(*md)[key].is_string())
      return std::nullopt;
    auto t = timestamp::parse((*md)[key].template get<std::string>());
    return t ? std::optional<timestamp>(*t) : std::nullopt;
  }

  // Margin for clock steps between the writes of revisits: the search for pending ones starts
  // this much before the oldest known pending one.
  static constexpr std::int64_t revisit_margin_ms = 5 * 60 * 1000;

  // The policy's revisits written since `since` whose latest version is still scheduled, by due
  // time.
  // Only revisits the operator wrote count.
  static result<std::vector<pending_revisit>> pending_revisits(
      Ledger& ledger, const identity& op, const universal_span& policy,
      const std::optional<timestamp>& since) {
    timeline_query q;
    q.entity_type = entity::policy_revisit;
    q.parent_id = policy.id;
    q.owner_id = op.user_id;
    q.limit = timeline_query::max_limit;
    if (since) q.since = timestamp{since->unix_ms - revisit_margin_ms};
    std::map<uuid, universal_span> latest;
    for (;;) {
      LOGLINE_TRY(page, ledger.as_operator().timeline(q));
      for (auto& s : page.spans) {
        if (s.tenant_id != op.tenant_id || !ledger.operator_wrote(s)) continue;
        auto [it, fresh] = latest.try_emplace(s.id, s);
        if (!fresh && it->second.seq < s.seq) it->second = std::move(s);
      }
      if (page.next_cursor.empty()) break;
      q.cursor = page.next_cursor;
    }
    std::vector<pending_revisit> out;
    for (auto& [id, s] : latest) {
      if (s.status != "scheduled") continue;
      if (auto r = revisit_of(s)) out.push_back(std::move(*r));
    }
    std::sort(out.begin(), out.end(), by_due);
    return out;
  }

  // The latest version of every policy whose latest version is active.
  static result<std::vector<universal_span>> active_policies(Ledger& ledger) {
    timeline_query q;
    q.entity_type = entity::policy;
    q.status = "active";
    return detail::latest_matching(ledger, q);
  }

  static void relate(universal_span& s, const uuid& id) {
    if (!s.related_to) s.related_to.emplace();
    s.related_to->push_back(id);
  }

  // What the agent wrote for this policy (its errors, and whatever relates to it).
  static bool own_output(const universal_span& s, const universal_span& policy) {
    if (s.entity_type == entity::policy_error && s.parent_id == policy.id) return true;
    return s.related_to &&
           std::find(s.related_to->begin(), s.related_to->end(), policy.id) != s.related_to->end();
  }

  result<outcome> run_policy(call& c, const universal_span& policy, const timestamp& now,
                             budget& b) const {
    outcome o;
    if (policy.language != "lua" || !policy.code || !policy.owner_id)
      return make_error(errc::invalid_span, "a policy needs language lua, code and an owner");
    LOGLINE_TRY_VOID(stage0<Ledger>::authentic(policy, c.manifest.signatures_required));
    LOGLINE_TRY(held, ledger_plumbing::hold(
                          c.ledger, "policy:" + policy.id.to_string()));  // held for the run
    // Reads as the owner: what the owner may see. Writes as the operator (c.as, an operator
    // identity): the outputs, owned by the policy's owner and checked against the owner's rules
    // (evaluate), and the operator's own bookkeeping, in one batch.
    auto as = c.ledger.as(identity{*policy.owner_id, policy.tenant_id});
    const identity& op = runtime_identity;

    const uuid cursor_id = policy_cursor_id(policy.id);
    std::optional<universal_span> cursor;
    if (auto existing = c.ledger.as_operator().get(cursor_id); existing) {
      if (!c.ledger.operator_wrote(*existing) || existing->parent_id != policy.id ||
          existing->entity_type != entity::policy_cursor)
        return make_error(errc::integrity_violation,
                          "policy " + policy.id.to_string() +
                              ": its cursor id holds a span the operator did not write");
      cursor = std::move(*existing);
    } else if (!(existing.error() == errc::not_found)) {
      return std::move(existing).error();
    }
    std::string position;
    if (cursor && cursor->metadata && cursor->metadata->contains("cursor") &&
        (*cursor->metadata)["cursor"].is_string())
      position = (*cursor->metadata)["cursor"].template get<std::string>();

    LOGLINE_TRY(page, as.feed(position, batch));
    o.position = position;
    const std::optional<timestamp> revisit_since =
        cursor ? timestamp_at(cursor->metadata, "revisit_since") : std::nullopt;
    const std::int32_t cursor_seq = cursor ? cursor->seq : -1;
    std::vector<pending_revisit> pending;
    // Taken out of the cache for this run and put back when it ends well (a failed run searches
    // the ledger again next time).
    bool cached = false;
    {
      std::lock_guard lock(state_->mutex);
      if (auto known = state_->revisits.find(policy.id);
          known != state_->revisits.end() && known->second.cursor_seq == cursor_seq) {
        pending = std::move(known->second.pending);
        cached = true;
      }
      state_->revisits.erase(policy.id);
    }
    if (!cached) {
      LOGLINE_TRY(found, pending_revisits(c.ledger, op, policy, revisit_since));
      pending = std::move(found);
    }

    std::vector<universal_span> out;
    auto record_failure = [&](const universal_span& s, const error_info& failure) {
      universal_span e = made_by(policy, entity::policy_error, "failed");
      e.parent_id = policy.id;
      e.status = "open";
      e.error = json{{"code", error_code_name(failure)}, {"message", failure.message()}};
      e.metadata = json{{"policy_id", policy.id.to_string()},
                        {"target", {{"id", s.id.to_string()}, {"seq", s.seq}}}};
      relate(e, s.id);
      out.push_back(std::move(e));
      ++o.errors;
    };
    std::optional<universal_span> last;
    bool stopped = false;  // the tenant's budget ran out: the rest of the page is next run's
    for (const auto& ch : page.changes) {
      const universal_span& s = ch.span;
      const bool skip =
          s.tenant_id != policy.tenant_id || policy_agent_record(s) || own_output(s, policy);
      if (!skip && b.spent()) {
        stopped = true;
        break;
      }
      position = ch.cursor;
      if (skip) continue;
      last = s;
      ++o.evaluated;
      ++b.evaluations;
      auto produced = evaluate(op, c.ledger.operators(), policy, s, now, std::nullopt);
      if (produced) {
        for (auto& p : *produced) out.push_back(std::move(p));
      } else {
        record_failure(s, produced.error());
      }
    }
    // The page reached the end of the feed: the cursor moves past what the tenant cannot see.
    if (!stopped && page.changes.size() < batch) position = page.next;

    // Revisits that are due, oldest first, at most `batch`: evaluated on the target's latest
    // version; each one's next version (done) goes in this batch.
    std::size_t fired = 0;
    for (; fired < pending.size() && fired < batch && pending[fired].due <= now && !stopped;
         ++fired) {
      if (b.spent()) break;
      ++b.evaluations;
      const pending_revisit& r = pending[fired];
      auto target = as.get(r.target);
      if (!target && !(target.error() == errc::not_found)) return std::move(target).error();
      universal_span done =
          revisit_span(op, policy, r.target, target ? target->seq : -1, r.due, "done");
      done.seq = r.seq + 1;
      done.did = "revisited";
      json& md = *done.metadata;
      md["revisited_at"] = now.to_string();
      if (!target) {
        md["outcome"] = "target not found";
        md["target"].erase("seq");
      } else if (auto produced = evaluate(op, c.ledger.operators(), policy, *target, now, r.due)) {
        md["outcome"] = "evaluated";
        for (auto& p : *produced) out.push_back(std::move(p));
      } else {
        md["outcome"] = "policy_error";
        record_failure(*target, produced.error());
      }
      out.push_back(std::move(done));
    }
    o.revisited = static_cast<std::int64_t>(fired);

    // The revisits asked for in this batch: one per (span, time), whatever asked for it, and
    // none that is pending, done in this batch, or done before.
    std::optional<timestamp> wake;
    std::set<uuid> asked;
    std::vector<universal_span> kept;
    for (auto& s : out) {
      if (s.entity_type == entity::policy_revisit && s.status == "scheduled")
        if (auto r = revisit_of(s)) {
          if (pending_has(pending, r->due, s.id) || !asked.insert(s.id).second) continue;
          LOGLINE_TRY(done_before, is_stored(c.ledger, s.id));
          if (done_before) continue;
          if (!wake || r->due < *wake) wake = r->due;
        }
      kept.push_back(std::move(s));
    }
    out = std::move(kept);
    pending.erase(pending.begin(),
                  pending.begin() + static_cast<std::ptrdiff_t>(fired));  // what still waits
    if (!pending.empty() && (!wake || pending.front().due < *wake)) wake = pending.front().due;
    o.wake = wake;

    // Nothing evaluated (only the policy's own output, or other tenants' public spans): the cursor
    // moves only when a whole batch was skipped, so that writing it does not feed the next run.
    if (o.evaluated == 0 && o.revisited == 0 && (page.changes.size() < batch || stopped)) {
      std::lock_guard lock(state_->mutex);
      state_->revisits[policy.id] = {cursor_seq, std::move(pending)};  // nothing new, nothing done
      return o;
    }
    o.position = position;
    universal_span next =
        cursor ? unsealed(*cursor) : bookkeeping(op, policy, entity::policy_cursor, "advanced");
    if (cursor) {
      next.seq = cursor->seq + 1;
    } else {
      next.id = cursor_id;
      next.parent_id = policy.id;
      next.this_ = "cursor of " + policy.name.value_or(policy.id.to_string());
    }
    next.status = "active";
    json md{{"cursor", position}};
    if (last)
      md["last_span"] = {{"id", last->id.to_string()}, {"seq", last->seq}};
    else if (next.metadata && next.metadata->contains("last_span"))
      md["last_span"] = (*next.metadata)["last_span"];
    // Where a search for pending revisits starts: the oldest one still pending, or (none) now,
    // by the ledger's clock, which stamps the revisits this batch writes.
    timestamp since = timestamp::now();
    for (const auto& r : pending) since = std::min(since, r.at);
    md["revisit_since"] = since.to_string();
    next.metadata = std::move(md);

    if (before_write) LOGLINE_TRY_VOID(before_write(policy));
    o.written = static_cast<std::int64_t>(out.size()) + 1;
    const std::int32_t next_seq = next.seq;
    out.push_back(std::move(next));
    std::vector<bool> next_version(out.size(),
                                   false);  // explicit seqs: a concurrent batch conflicts
    LOGLINE_TRY(stored, c.as.append_batch(std::move(out), std::move(next_version)));
    const auto old_end = static_cast<std::ptrdiff_t>(pending.size());
    for (const auto& s : stored)
      if (s.entity_type == entity::policy_revisit && s.status == "scheduled")
        if (auto r = revisit_of(s)) pending.push_back(std::move(*r));
    std::sort(pending.begin() + old_end, pending.end(), by_due);
    std::inplace_merge(pending.begin(), pending.begin() + old_end, pending.end(), by_due);
    std::lock_guard lock(state_->mutex);
    state_->revisits[policy.id] = {next_seq, std::move(pending)};
    return o;
  }

  // The agent's own record of where `policy` is (a cursor, a revisit): the operator's, private.
  static universal_span bookkeeping(const identity& op, const universal_span& policy,
                                    std::string_view entity_type, const char* did) {
    universal_span s = made_by(policy, entity_type, did);
    s.owner_id = op.user_id;
    s.tenant_id = op.tenant_id;
    s.visibility = visibility::private_;
    return s;
  }

  // A span the agent writes for `policy`: the policy's owner, tenant and visibility, and its id
  // in related_to.
  static universal_span made_by(const universal_span& policy, std::string_view entity_type,
                                const char* did) {
    universal_span s;
    s.entity_type = entity_type;
    s.who = "policy_agent";
    s.did = did;
    s.this_ = entity_type;
    s.owner_id = policy.owner_id;
    s.tenant_id = policy.tenant_id;
    s.visibility = policy.visibility;
    relate(s, policy.id);
    return s;
  }

  // Evaluates the policy on one span (at a revisit due at `revisit`): the spans its actions produce.
  result<std::vector<universal_span>> evaluate(const identity& op, const operator_namespace& ns,
                                               const universal_span& policy,
                                               const universal_span& s, const timestamp& now,
                                               const std::optional<timestamp>& revisit) const {
    if (before_evaluate) before_evaluate(policy, s);
    lua_context ctx;
    LOGLINE_TRY(span_json, parse_json(span_to_json_text(s)));
    ctx.values["span"] = std::move(span_json);
    ctx.values["policy"] = json{{"id", policy.id.to_string()},
                                {"name", policy.name.value_or("")},
                                {"metadata", policy.metadata.value_or(json(nullptr))}};
    ctx.values["now"] = now.to_string();
    ctx.values["now_ms"] = now.unix_ms;
    ctx.values["revisit"] = revisit ? json{{"at", revisit->to_string()}} : json(nullptr);
    ctx.functions["epoch_ms"] = [](const json& args) -> result<json> {
      if (args.size() != 1 || !args[0].is_string())
        return make_error(errc::invalid_argument, "expected a timestamp string");
      LOGLINE_TRY(parsed, timestamp::parse(args[0].template get<std::string>()));
      return json(parsed.unix_ms);
    };
    ctx.functions["timestamp"] = [](const json& args) -> result<json> {
      if (args.size() != 1 || !args[0].is_number())
        return make_error(errc::invalid_argument, "expected milliseconds since the epoch");
      const double ms = args[0].template get<double>();
      if (!(ms >= 0 && ms < static_cast<double>(timestamp::max_ms) + 1))
        return make_error(errc::invalid_argument, "milliseconds out of range (years 1970-9999)");
      return json(timestamp{static_cast<std::int64_t>(ms)}.to_string());
    };
    LOGLINE_TRY(actions, run_lua(*policy.code + "\nreturn on(ctx.span)", ctx, limits));
    std::vector<universal_span> out;
    if (actions.is_null() || (actions.is_object() && actions.empty()))
      return out;  // nothing (nil, {})
    if (!actions.is_array())
      return make_error(errc::execution_failed, "on(span) must return a list of actions");
    int n = 0;
    for (const auto& a : actions) {
      const std::string where = "action " + std::to_string(n + 1) + ": ";
      if (!a.is_object()) return make_error(errc::execution_failed, where + "not a table");
      if (a.contains("run")) {
        if (a["run"] != "run_code" || !a.contains("span_id") || !a["span_id"].is_string())
          return make_error(errc::execution_failed,
                            where + "expected {run = \"run_code\", span_id = \"<function id>\"}");
        auto fn = uuid::parse(a["span_id"].template get<std::string>());
        if (!fn) return make_error(errc::execution_failed, where + "span_id is not a uuid");
        universal_span req = made_by(policy, entity::request, "scheduled");
        req.this_ = "run " + fn->to_string();
        req.status = "scheduled";
        req.parent_id = *fn;
        if (a.contains("input")) req.input = a["input"];
        relate(req, s.id);
        req.metadata =
            json{{"request_key", "policy:" + policy.id.to_string() + ":" + s.id.to_string() + ":" +
                                     std::to_string(s.seq) + ":" + std::to_string(n)},
                 {"policy_id", policy.id.to_string()}};
        out.push_back(std::move(req));
      } else if (a.contains("emit_span")) {
        json fields = a["emit_span"];
        if (!fields.is_object() || !fields.contains("entity_type") ||
            !fields["entity_type"].is_string())
          return make_error(errc::execution_failed,
                            where + "emit_span needs a table with entity_type");
        const std::string type = fields["entity_type"].template get<std::string>();
        for (const char* owned : {"owner_id", "tenant_id", "visibility"}) fields.erase(owned);
        for (const char* own : {"id", "seq", "who"})
          if (fields.contains(own))
            return make_error(errc::execution_failed, where + "emit_span makes a new span: its `" +
                                                          std::string(own) +
                                                          "` is not the policy's to set");
        fields["who"] = "policy_agent";
        if (!fields.contains("this")) fields["this"] = type;
        if (!fields.contains("did")) fields["did"] = "emitted";
        auto emitted = span_from_json<universal_span>(fields);
        if (!emitted) return make_error(errc::execution_failed, where + emitted.error().message());
        emitted->owner_id = policy.owner_id;
        emitted->tenant_id = policy.tenant_id;
        emitted->visibility = policy.visibility;
        // Written on the owner's behalf with the operator's rights: held to the owner's rules here.
        if (auto ok = ns.check_ordinary(*emitted); !ok)
          return make_error(errc::execution_failed, where + ok.error().message());
        relate(*emitted, policy.id);
        out.push_back(std::move(*emitted));
      } else if (a.contains("revisit_at")) {
        auto due = a["revisit_at"].is_string()
                       ? timestamp::parse(a["revisit_at"].template get<std::string>())
                       : result<timestamp>(make_error(errc::invalid_argument, "not a string"));
        if (!due)
          return make_error(errc::execution_failed,
                            where + "revisit_at must be a timestamp: " + due.error().message());
        out.push_back(revisit_span(op, policy, s.id, s.seq, *due, "scheduled"));
      } else {
        return make_error(errc::execution_failed,
                          where + "unknown action (run = \"run_code\", emit_span or revisit_at)");
      }
      ++n;
    }
    return out;
  }
};

}  // namespace logline::runtime
