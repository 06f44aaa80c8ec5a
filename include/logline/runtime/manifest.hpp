#pragma once
// The LogLineOS manifest and seed spans (DESIGN §7).
//
// The manifest is the newest span with entity_type "manifest" that the operator wrote (owned by
// an operator identity, signed by the ledger's key: ledger::operator_wrote); any other manifest
// span is not one (only the operator may write that type, and a reader takes nothing else). Its
// metadata says which
// kernels exist, which function ids Stage-0 may boot, the per-tenant daily execution quota, the
// slow threshold, the override key and whether signatures are required:
//
//   {"kernels": {"run_code": "<id>", ...}, "allowed_boot_ids": ["<id>", ...],
//    "throttle": {"per_tenant_daily_exec_limit": 100, "time_zones": {"<tenant>": "Europe/Paris"}},
//    "policy": {"slow_ms": 5000},
//    "override_pubkey_hex": "<64 hex>", "features": {"signatures_required": true}}
//
// `seed(ledger)` appends LogLineOS's manifest and its five kernel function spans, with
// LogLineOS's ids, signed by the ledger's key; seeding twice appends nothing, and an id already
// taken by a span that is not the operator's is reported (errc::integrity_violation).
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/span.hpp"
#include "logline/types.hpp"

namespace logline::runtime {

// The operator identity the runtime boots its kernels as and writes its bookkeeping as (policy
// cursors and revisits, job states, the seed spans): one of operator_namespace's operators.
inline const identity runtime_identity{"logline", std::nullopt};

// LogLineOS's ids.
namespace ids {
inline const uuid manifest = uuid::parse("00000000-0000-4000-8000-0000000000aa").value();
inline const uuid run_code = uuid::parse("00000000-0000-4000-8000-000000000001").value();
inline const uuid observer_bot = uuid::parse("00000000-0000-4000-8000-000000000002").value();
inline const uuid request_worker = uuid::parse("00000000-0000-4000-8000-000000000003").value();
inline const uuid policy_agent = uuid::parse("00000000-0000-4000-8000-000000000004").value();
inline const uuid provider_exec = uuid::parse("00000000-0000-4000-8000-000000000005").value();
}  // namespace ids

// A stable id for an entity the runtime keeps one of per name (a policy's cursor, a job's state,
// a law decision): BLAKE3 of the name as a UUIDv8 (RFC 9562).
inline uuid derived_uuid(std::string_view name) {
  const auto h = blake3(name);
  uuid u;
  std::copy_n(h.begin(), 16, u.bytes.begin());
  u.bytes[6] = static_cast<std::uint8_t>((u.bytes[6] & 0x0f) | 0x80);
  u.bytes[8] = static_cast<std::uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

struct manifest {
  uuid id;
  std::int32_t seq = 0;
  std::map<std::string, uuid> kernels;  // name -> function id
  std::vector<uuid> allowed_boot_ids;
  std::int64_t per_tenant_daily_exec_limit = 100;
  std::map<std::string, std::string>
      tenant_time_zones;  // throttle.time_zones: tenant -> IANA zone (default UTC)
  std::int64_t slow_ms = 5000;
  std::optional<public_key> override_key;
  bool signatures_required = true;

  bool may_boot(const uuid& id) const {
    return std::find(allowed_boot_ids.begin(), allowed_boot_ids.end(), id) !=
           allowed_boot_ids.end();
  }

  // Reads a manifest span's metadata; a field of the wrong type is an error naming it.
  static result<manifest> from_span(const universal_span& s) {
    manifest m;
    m.id = s.id;
    m.seq = s.seq;
    if (!s.metadata || !s.metadata->is_object()) return bad("metadata is not an object");
    const json& md = *s.metadata;
    if (auto it = md.find("kernels"); it != md.end()) {
      if (!it->is_object()) return bad("kernels is not an object");
      for (const auto& [name, value] : it->items()) {
        auto id = uuid_of(value);
        if (!id) return bad("kernels." + name + " is not a uuid");
        m.kernels[name] = *id;
      }
    }
    if (auto it = md.find("allowed_boot_ids"); it != md.end()) {
      if (!it->is_array()) return bad("allowed_boot_ids is not an array");
      for (const auto& value : *it) {
        auto id = uuid_of(value);
        if (!id) return bad("allowed_boot_ids holds something that is not a uuid");
        m.allowed_boot_ids.push_back(*id);
      }
    }
    LOGLINE_TRY(daily_limit, integer_at(md, "throttle", "per_tenant_daily_exec_limit"));
    if (daily_limit) m.per_tenant_daily_exec_limit = *daily_limit;
    if (auto t = md.find("throttle"); t != md.end() && t->is_object()) {
      if (auto z = t->find("time_zones"); z != t->end()) {
        if (!z->is_object()) return bad("throttle.time_zones is not an object");
        for (const auto& [tenant, zone] : z->items()) {
          if (!zone.is_string()) return bad("throttle.time_zones." + tenant + " is not a string");
          m.tenant_time_zones[tenant] = zone.get<std::string>();
        }
      }
    }
    LOGLINE_TRY(slow_threshold, integer_at(md, "policy", "slow_ms"));
    if (slow_threshold) m.slow_ms = *slow_threshold;
    if (auto it = md.find("override_pubkey_hex"); it != md.end() && !it->is_null()) {
      auto key = it->is_string() ? public_key::parse(it->get<std::string>())
                                 : result<public_key>(make_error(errc::invalid_span, ""));
      if (!key) return bad("override_pubkey_hex is not 64 hex digits");
      m.override_key = *key;
    }
    if (auto f = md.find("features"); f != md.end()) {
      if (!f->is_object()) return bad("features is not an object");
      if (auto it = f->find("signatures_required"); it != f->end()) {
        if (!it->is_boolean()) return bad("features.signatures_required is not a boolean");
        m.signatures_required = it->get<bool>();
      }
    }
    return m;
  }

 private:
  static error_info bad(const std::string& what) {
    return make_error(errc::invalid_span, "manifest: " + what);
  }
  static std::optional<uuid> uuid_of(const json& v) {
    if (!v.is_string()) return std::nullopt;
    auto id = uuid::parse(v.get<std::string>());
    return id ? std::optional<uuid>(*id) : std::nullopt;
  }
  static result<std::optional<std::int64_t>> integer_at(const json& md, const char* object,
                                                        const char* field) {
    auto o = md.find(object);
    if (o == md.end()) return std::optional<std::int64_t>{};
    if (!o->is_object()) return bad(std::string(object) + " is not an object");
    auto it = o->find(field);
    if (it == o->end()) return std::optional<std::int64_t>{};
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
      return bad(std::string(object) + "." + field + " is not a non-negative integer");
    return std::optional<std::int64_t>{it->get<std::int64_t>()};
  }
};

// The newest manifest span that `reader` (a ledger or a session) sees and `accept` takes.
template <class Reader, class Accept>
result<manifest> load_manifest(Reader& reader, Accept&& accept) {
  timeline_query q;
  q.entity_type = entity::manifest;
  q.limit = 50;
  for (;;) {
    LOGLINE_TRY(page, reader.timeline(q));
    for (const auto& s : page.spans)
      if (accept(s)) return manifest::from_span(s);
    if (page.next_cursor.empty()) break;
    q.cursor = page.next_cursor;
  }
  return make_error(errc::not_found,
                    "no manifest span of the operator's: seed the ledger first (logline-cli seed)");
}
// The newest manifest span the operator wrote (ledger::operator_wrote) that `reader` sees.
template <class Reader>
result<manifest> load_manifest(Reader& reader) {
  return load_manifest(reader, [&](const universal_span& s) { return reader.operator_wrote(s); });
}

// Whether a span read as "the latest version" of user code (a function, a policy, a provider,
// a law) is still its first writer's: version 0 and the latest have one owner pair. Both
// backends refuse a version that changes it; a reader that acts on the code checks again.
template <class Ledger>
result<void> check_owner_continuity(Ledger& ledger, const universal_span& s) {
  if (s.seq == 0) return {};
  auto first = ledger.as_operator().get(s.id, 0);
  if (!first) {
    if (first.error() == errc::not_found)
      return make_error(errc::integrity_violation,
                        "span " + s.id.to_string() + " has no version 0");
    return std::move(first).error();
  }
  if (first->owner_id != s.owner_id || first->tenant_id != s.tenant_id)
    return make_error(errc::integrity_violation, "span " + s.id.to_string() + " version " +
                                                     std::to_string(s.seq) +
                                                     " is not owned by its first version's owner");
  return {};
}

namespace detail {
// The latest version of every entity whose latest version matches q (operator reads).
template <class Ledger>
result<std::vector<universal_span>> latest_matching(Ledger& ledger, timeline_query q) {
  q.limit = timeline_query::max_limit;
  std::set<uuid> seen;
  std::vector<universal_span> out;
  auto reader = ledger.as_operator();
  for (;;) {
    LOGLINE_TRY(page, reader.timeline(q));
    for (auto& s : page.spans) {
      if (!seen.insert(s.id).second) continue;
      LOGLINE_TRY(latest, reader.get(s.id));
      if (latest.seq == s.seq) out.push_back(std::move(latest));
    }
    if (page.next_cursor.empty()) return out;
    q.cursor = page.next_cursor;
  }
}
}  // namespace detail

// LogLineOS's kernel function spans and manifest, as `seed` appends them.
inline std::vector<universal_span> seed_kernels() {
  const std::pair<const uuid*, const char*> kernels[] = {
      {&ids::run_code, "run_code"},
      {&ids::observer_bot, "observer_bot"},
      {&ids::request_worker, "request_worker"},
      {&ids::policy_agent, "policy_agent"},
      {&ids::provider_exec, "provider_exec"},
  };
  std::vector<universal_span> out;
  for (const auto& [id, name] : kernels) {
    universal_span s;
    s.id = *id;
    s.entity_type = entity::function;
    s.who = "logline";
    s.did = "seeded";
    s.this_ = name;
    s.name = name;
    s.language = "native";
    s.runtime = "logline";
    s.code = std::string("native kernel ") + name;
    s.status = "active";
    s.visibility = visibility::public_;
    out.push_back(std::move(s));
  }
  return out;
}

inline universal_span seed_manifest(const std::optional<public_key>& override_key) {
  universal_span s;
  s.id = ids::manifest;
  s.entity_type = entity::manifest;
  s.who = "logline";
  s.did = "seeded";
  s.this_ = "kernel_manifest";
  s.name = "kernel_manifest";
  s.status = "active";
  s.visibility = visibility::public_;
  json kernels = json::object();
  json allowed = json::array();
  for (const auto& k : seed_kernels()) {
    kernels[*k.name] = k.id.to_string();
    allowed.push_back(k.id.to_string());
  }
  s.metadata =
      json{{"kernels", kernels},
           {"allowed_boot_ids", allowed},
           {"throttle", {{"per_tenant_daily_exec_limit", 100}}},
           {"policy", {{"slow_ms", 5000}}},
           {"override_pubkey_hex", override_key ? json(override_key->to_string()) : json(nullptr)},
           {"features", {{"signatures_required", true}}}};
  return s;
}

// Whether a span with this id is stored (any version, whoever owns it).
template <class Ledger>
result<bool> is_stored(Ledger& ledger, const uuid& id) {
  auto existing = ledger.as_operator().get(id);
  if (existing) return true;
  if (existing.error() == errc::not_found) return false;
  return std::move(existing).error();
}

// Whether the operator's span `id` is stored: true if it is there and the operator wrote it,
// false if there is nothing, errc::integrity_violation naming the squatter if something else
// holds the id (a reserved id taken before the rules, or written around them).
template <class Ledger>
result<bool> operator_span_stored(Ledger& ledger, const uuid& id, std::string_view what) {
  auto existing = ledger.as_operator().get(id);
  if (!existing) {
    if (existing.error() == errc::not_found) return false;
    return std::move(existing).error();
  }
  if (!ledger.operator_wrote(*existing)) {
    const bool operators_own =
        ledger.operators().is_operator(existing->owner_id, existing->tenant_id);
    return make_error(errc::integrity_violation,
                      std::string(what) + " " + id.to_string() +
                          " is taken by a span the operator did not write (" +
                          (operators_own ? std::string("signed by another key than this ledger's")
                                         : "owned by '" + existing->owner_id.value_or("") + "'") +
                          "): the runtime will not use it");
  }
  return true;
}

// Appends the kernel function spans and the manifest unless they exist already (by id). The
// manifest's override key is the seeding key. Returns the number of spans appended. The ledger's
// identity must be an operator identity.
template <class Ledger>
result<std::size_t> seed(Ledger& ledger) {
  if (!ledger.operators().is_operator(ledger.identity()))
    return make_error(
        errc::permission_denied,
        "seeding is the operator's: open the ledger as an operator identity (e.g. 'logline')");
  std::size_t appended = 0;
  std::optional<public_key> key = ledger.signer();
  for (auto& k : seed_kernels()) {
    LOGLINE_TRY(kernel_stored, operator_span_stored(ledger, k.id, "kernel function"));
    if (kernel_stored) continue;
    LOGLINE_TRY_VOID(ledger.append(std::move(k)));
    ++appended;
  }
  LOGLINE_TRY(manifest_stored, operator_span_stored(ledger, ids::manifest, "the manifest"));
  if (!manifest_stored) {
    LOGLINE_TRY_VOID(ledger.append(seed_manifest(key)));
    ++appended;
  }
  return appended;
}

}  // namespace logline::runtime
