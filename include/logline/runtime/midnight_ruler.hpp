#pragma once
// The midnight ruler (DESIGN §7): at a boundary (00:00 Europe/Paris, a cron job of
// runtime::node), every governable span is judged by the laws that apply to it and each
// decision is recorded.
//
//   runtime::midnight_ruler<Ledger> ruler;
//   auto summary = ruler(ledger, boundary);     // what the node's job does at each midnight
//
// - Laws: spans with entity_type "law", status "active" (their latest version, by its first
//   version's owner), whose `code` is a law text (law.hpp). A law that does not parse is skipped
//   and reported.
// - Governable spans: the latest version has status "open", and it has metadata.deadline_at or
//   some law's `scope:` is its entity_type. The laws that apply to a span are those whose scope
//   is its entity_type or "*" and that govern its tenant: the operator's laws (ledger's
//   operator_wrote) govern every tenant, a tenant's laws only that tenant's spans (a law of no
//   tenant that is not the operator's governs nothing else).
// - Variables: the span as JSON, plus `now` (the boundary, RFC 3339) and, when deadline_at is
//   set, `overdue` (deadline_at <= boundary).
// - Records, owned by the span's owner and written on its behalf (the types are the operator's;
//   parent_id = the span, related_to = the laws):
//   one `law.decision` per applicable law (the record of laws::decision_record, status = its
//   triage) and one `law.verdict` with laws::compose over them (a governable span with no law
//   gets the default doubt). Their ids derive from the idempotency keys, so judging the same
//   span version at the same boundary again appends nothing.
// - A run missed while the node was down is made up once, for its intended boundary: the node
//   keeps this job's next due time on the ledger (ledger_state).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "logline/backend.hpp"
#include "logline/entity_types.hpp"
#include "logline/json.hpp"
#include "logline/ledger.hpp"
#include "logline/runtime/law.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/runtime/scheduler.hpp"

namespace logline::runtime {

template <class Ledger>
struct midnight_ruler {
  result<json> operator()(Ledger& ledger, timestamp boundary) const {
    const std::string at = boundary.to_string();
    timeline_query lq;
    lq.entity_type = entity::law;
    lq.status = "active";
    LOGLINE_TRY(law_spans, detail::latest_matching(ledger, lq));
    struct parsed_law {
      universal_span span;
      laws::law law;
      bool everywhere = false;  // the operator's: governs every tenant
    };
    std::vector<parsed_law> in_force;
    json skipped = json::array();
    for (auto& s : law_spans) {
      if (auto ok = check_owner_continuity(ledger, s); !ok) {
        skipped.push_back({{"law", s.id.to_string()}, {"error", ok.error().message()}});
        continue;
      }
      auto l = laws::parse(s.code.value_or(""));
      if (!l) {
        skipped.push_back({{"law", s.id.to_string()}, {"error", l.error().message()}});
        continue;
      }
      const bool everywhere = ledger.operator_wrote(s);
      in_force.push_back({std::move(s), std::move(*l), everywhere});
    }

    timeline_query oq;
    oq.status = "open";
    LOGLINE_TRY(open_spans, detail::latest_matching(ledger, oq));
    std::int64_t judged = 0, recorded = 0, existing = 0;
    json failed = json::array();
    for (const auto& s : open_spans) {
      std::vector<const parsed_law*> applicable;
      for (const auto& l : in_force) {
        const bool governs = l.everywhere || (l.span.tenant_id && l.span.tenant_id == s.tenant_id);
        if (governs && (l.law.scope == s.entity_type || l.law.scope == "*"))
          applicable.push_back(&l);
      }
      const json* deadline =
          s.metadata && s.metadata->is_object() && s.metadata->contains("deadline_at")
              ? &(*s.metadata)["deadline_at"]
              : nullptr;
      if (applicable.empty() && !deadline) continue;
      if (!s.owner_id) continue;
      ++judged;
      LOGLINE_TRY(vars, parse_json(span_to_json_text(s)));
      vars["now"] = at;
      if (deadline) {
        auto d = deadline->is_string() ? timestamp::parse(deadline->template get<std::string>())
                                       : result<timestamp>(make_error(errc::invalid_span, ""));
        vars["overdue"] = d ? json(*d <= boundary) : json(nullptr);
      }
      const std::string subject = laws::subject_key(s.id.to_string(), s.seq);
      std::vector<laws::decision> decisions;
      std::vector<universal_span> records;
      for (const auto* l : applicable) {
        decisions.push_back(laws::evaluate(l->law, vars));
        LOGLINE_TRY(record, laws::decision_record(l->law, decisions.back(), subject, at));
        records.push_back(made_for(s, entity::law_decision, record, {l->span.id}));
      }
      const laws::decision verdict = laws::compose(decisions);
      json v = laws::to_json(verdict);
      v["subject"] = subject;
      v["boundary"] = at;
      json law_ids = json::array();
      std::vector<uuid> related;
      for (const auto* l : applicable) {
        law_ids.push_back({{"id", l->law.id}, {"version", l->law.version}, {"hash", l->law.hash}});
        related.push_back(l->span.id);
      }
      v["laws"] = law_ids;
      v["idempotency_key"] =
          blake3_hex("logline.law.verdict/1\n" + subject + "\n" + at + "\n" + canonical(v));
      records.push_back(made_for(s, entity::law_verdict, v, related));

      auto as = ledger.on_behalf_of(identity{*s.owner_id, s.tenant_id});
      for (auto& r : records) {
        auto stored = as.append(std::move(r));
        if (stored)
          ++recorded;
        else if (stored.error() == errc::version_conflict)
          ++existing;  // judged before
        else
          failed.push_back({{"span", s.id.to_string()}, {"error", stored.error().message()}});
      }
    }
    return json{{"boundary", at},       {"laws", in_force.size()},      {"judged", judged},
                {"recorded", recorded}, {"already_recorded", existing}, {"skipped_laws", skipped},
                {"failed", failed}};
  }

 private:
  // A decision or verdict span about `s`: its id derives from the record's idempotency key.
  static universal_span made_for(const universal_span& s, std::string_view entity_type,
                                 const json& record, const std::vector<uuid>& laws_used) {
    universal_span r;
    r.id = derived_uuid(std::string(entity_type) + "\n" +
                        record["idempotency_key"].template get<std::string>());
    r.entity_type = entity_type;
    r.who = "midnight_ruler";
    r.did = "judged";
    r.this_ = std::string(entity_type) + " on " + s.this_;
    r.status = record["triage"].template get<std::string>();
    r.parent_id = s.id;
    r.related_to = laws_used;
    r.owner_id = s.owner_id;
    r.tenant_id = s.tenant_id;
    r.visibility = s.visibility;
    r.metadata = record;
    return r;
  }
};

// A scheduler state that keeps the jobs named in `persistent` on the ledger (a `schedule_state`
// span per job, the operator's: written as runtime_identity, a new version at each change) and
// the others in memory.
// With it a restarted node makes up a missed midnight once.
template <class Ledger>
class ledger_state : public state {
 public:
  ledger_state(Ledger& ledger, std::set<std::string> persistent)
      : ledger_(ledger), persistent_(std::move(persistent)) {}

  // Only a state the operator wrote counts (anything else under the id is no state).
  std::optional<sys_seconds> next_due(const std::string& job) override {
    if (!persistent_.count(job)) return memory_.next_due(job);
    auto s = ledger_.as_operator().get(id_of(job));
    if (!s || !ledger_.operator_wrote(*s) || !s->metadata || !s->metadata->contains("next_due"))
      return std::nullopt;
    auto t = timestamp::parse((*s->metadata)["next_due"].template get<std::string>());
    if (!t) return std::nullopt;
    return sys_seconds(std::chrono::seconds(t->unix_ms / 1000));
  }
  void set_next_due(const std::string& job, sys_seconds at) override {
    if (!persistent_.count(job)) return memory_.set_next_due(job, at);
    // The next version of the operator's state (keeping its owner), or the first one.
    auto existing = ledger_.as_operator().get(id_of(job));
    universal_span s =
        existing && ledger_.operator_wrote(*existing) ? unsealed(*existing) : universal_span{};
    s.id = id_of(job);
    s.entity_type = entity::schedule_state;
    s.who = "scheduler";
    s.did = "scheduled";
    s.this_ = job;
    s.name = job;
    s.metadata = json{{"job", job}, {"next_due", to_timestamp(at).to_string()}};
    // A failure leaves the previous due time: the run is made up later. (A squatted id fails
    // every time: its state is never read, and the job runs at its schedule.)
    (void)ledger_.as(runtime_identity).append_version(std::move(s));
  }

 private:
  static uuid id_of(const std::string& job) {
    return derived_uuid("logline.schedule_state\n" + job);
  }
  Ledger& ledger_;
  std::set<std::string> persistent_;
  memory_state memory_;
};

}  // namespace logline::runtime
