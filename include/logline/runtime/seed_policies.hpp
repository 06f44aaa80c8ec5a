#pragma once
// The seed policies (policy_agent.hpp runs them), installed per owner and tenant:
//
//   runtime::install_seed_policies(ledger, identity{"ops", "acme"});   // or: logline-cli seed --policies
//
// - ttl_reaper: a span whose metadata.ttl_minutes have passed since its latest version was
//   written gets one `status_patch` (parent_id = the span, status "archived"). On arrival the
//   policy asks to revisit the span when it expires; at the revisit it archives the span unless
//   a newer version moved the expiry (then the newer version's revisit does it) or the span is
//   archived already. Each (span, expiry) is revisited once, so a span is archived once.
// - slow_execution: an `execution` whose duration_ms is above the policy's
//   metadata.threshold_ms (1000 when unset) gets an `alert` (parent_id = the execution, status
//   open, metadata {duration_ms, threshold_ms, function_id}).
//
// They are ordinary policy spans (entity_type "policy", language "lua", status "active"), owned
// by the given identity, visible to its tenant, with ids derived from their name and the owner
// and tenant: installing twice appends nothing; deactivating one is a new version with another
// status; changing the threshold, a new version with other metadata.
#include <optional>
#include <string>
#include <vector>

#include "logline/backend.hpp"
#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/span.hpp"
#include "logline/types.hpp"

namespace logline::runtime {

namespace seed_policy_code {
inline constexpr const char* ttl_reaper =
    R"lua(-- ttl_reaper: archive a span once its metadata.ttl_minutes have passed.
function on(span)
  local md = span.metadata
  local ttl = type(md) == "table" and md.ttl_minutes or nil
  if type(ttl) ~= "number" or ttl < 0 then return {} end
  if span.entity_type == "status_patch" or span.status == "archived" then return {} end
  local due = ctx.epoch_ms(span.at) + math.floor(ttl * 60000)
  if ctx.revisit == nil or ctx.now_ms < due then
    return {{revisit_at = ctx.timestamp(due)}}
  end
  return {{emit_span = {
    entity_type = "status_patch", parent_id = span.id, status = "archived",
    this = "ttl expired", did = "archived",
    metadata = {ttl_minutes = ttl, expired_at = ctx.timestamp(due), target_seq = span.seq}}}}
end
)lua";

inline constexpr const char* slow_execution =
    R"lua(-- slow_execution: alert on executions slower than metadata.threshold_ms (default 1000).
function on(span)
  if span.entity_type ~= "execution" or type(span.duration_ms) ~= "number" then return {} end
  local md = ctx.policy.metadata
  local limit = 1000
  if type(md) == "table" and type(md.threshold_ms) == "number" then limit = md.threshold_ms end
  if span.duration_ms <= limit then return {} end
  return {{emit_span = {
    entity_type = "alert", parent_id = span.id, status = "open", this = "slow execution",
    metadata = {duration_ms = span.duration_ms, threshold_ms = limit, function_id = span.parent_id}}}}
end
)lua";
}  // namespace seed_policy_code

// The id of the seed policy `name` for an owner and tenant.
inline uuid seed_policy_id(std::string_view name, const identity& owner) {
  return derived_uuid("logline.seed_policy\n" + std::string(name) + "\n" + owner.user_id + "\n" +
                      owner.tenant_id.value_or(""));
}

// The seed policies for `owner`, as install_seed_policies appends them.
inline std::vector<universal_span> seed_policies(const identity& owner) {
  struct entry {
    const char* name;
    const char* code;
    const char* description;
    json metadata;
  };
  const entry entries[] = {
      {"ttl_reaper", seed_policy_code::ttl_reaper,
       "archives spans whose metadata.ttl_minutes have passed", json::object()},
      {"slow_execution", seed_policy_code::slow_execution,
       "alerts on executions slower than metadata.threshold_ms", json{{"threshold_ms", 1000}}},
  };
  std::vector<universal_span> out;
  for (const auto& e : entries) {
    universal_span s;
    s.id = seed_policy_id(e.name, owner);
    s.entity_type = entity::policy;
    s.who = "logline";
    s.did = "seeded";
    s.this_ = e.description;
    s.name = e.name;
    s.language = "lua";
    s.runtime = "lua";
    s.code = e.code;
    s.status = "active";
    s.owner_id = owner.user_id;
    s.tenant_id = owner.tenant_id;
    s.visibility = owner.tenant_id ? visibility::tenant : visibility::private_;
    s.metadata = e.metadata;
    out.push_back(std::move(s));
  }
  return out;
}

// Appends the seed policies for `owner` that are not there yet (by id), owned by `owner` and
// written on its behalf (their ids are reserved: derived, UUIDv8), signed by the ledger's key.
// Returns the number appended. An id that holds a span which is not that owner's seed policy
// (squatted) is errc::integrity_violation: nothing is appended.
template <class Ledger>
result<std::size_t> install_seed_policies(Ledger& ledger, const identity& owner) {
  if (owner.user_id.empty())
    return make_error(errc::invalid_argument, "the seed policies need an owner");
  auto as = ledger.on_behalf_of(owner);
  std::vector<universal_span> missing;
  for (auto& p : seed_policies(owner)) {
    auto existing = ledger.as_operator().get(p.id);
    if (existing) {
      const bool ours = existing->entity_type == entity::policy &&
                        existing->owner_id == p.owner_id && existing->tenant_id == p.tenant_id &&
                        existing->public_key && existing->public_key == ledger.signer() &&
                        check_owner_continuity(ledger, *existing);
      if (!ours)
        return make_error(errc::integrity_violation,
                          "seed policy " + p.name.value_or("") + " (" + p.id.to_string() +
                              "): its id holds a span that is not this owner's seed policy "
                              "(squatted); nothing installed");
      continue;
    }
    if (!(existing.error() == errc::not_found)) return std::move(existing).error();
    missing.push_back(std::move(p));
  }
  std::size_t appended = 0;
  for (auto& p : missing) {
    LOGLINE_TRY_VOID(as.append(std::move(p)));
    ++appended;
  }
  return appended;
}

}  // namespace logline::runtime
