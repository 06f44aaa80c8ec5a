#pragma once
// A universal span as a client sends it (a JSON object), read the same way by every entry point
// that takes spans from outside: the HTTP API's POST /api/spans and `logline-cli append`. One
// reading, so that what one refuses the other refuses too, with the same words.
//
//   auto s = logline::span_from_input(body, "", session.identity());
//   if (!s) return fail(s.error());          // 400 (invalid_span) or 403 (permission_denied)
//
// The rules: a JSON object; none of the fields the ledger sets (named first, so that
// "curr_hash": "junk" is refused for its name, not its value); only the span's own keys, each of
// the right type; the required fields `entity_type` and `this` present; `who` the caller's user
// id (absent: set to it, any other value refused: bind_who). What depends on the stored state or
// the writer's rights (owners, versions, the operator's namespace) and value ranges are the
// ledger's to check when it appends.
#include <string>
#include <string_view>

#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/operator_namespace.hpp"
#include "logline/schema.hpp"
#include "logline/span.hpp"
#include "logline/types.hpp"

namespace logline {

// The fields the ledger sets when it appends (ledger::prepare refuses them too, in these words).
inline constexpr std::string_view span_input_ledger_fields[] = {
    "at", "prev_hash", "curr_hash", "chain_position", "signature", "public_key"};

// The fields a client must name in every span it sends: what the span is and what it says.
// (The struct's defaults would otherwise store an empty entity_type and this.)
inline constexpr std::string_view span_input_required_fields[] = {"entity_type", "this"};

// Reads a client's span from `j`. `where` prefixes every error message (a batch names the span:
// "span #3 of the batch: "). `present`, when given, receives which columns `j` named (the CLI
// needs to know whether "seq" was given). Errors: errc::invalid_span for the shape,
// errc::permission_denied for a `who` that is not the caller's.
inline result<universal_span> span_from_input(const json& j, std::string_view where,
                                              const identity& caller,
                                              field_set<universal_span>* present = nullptr) {
  if (j.is_object())
    for (std::string_view field : span_input_ledger_fields)
      if (j.contains(field))
        return make_error(errc::invalid_span, std::string(where) + "field '" + std::string(field) +
                                                  "' is set by the ledger; leave it unset");
  field_set<universal_span> named{};
  auto s = span_from_json<universal_span>(j, &named);
  if (!s) return with_context(s.error(), where);
  for (std::string_view required : span_input_required_fields)
    if (!named[schema<universal_span>::index_of(required)])
      return make_error(errc::invalid_span, std::string(where) + "missing required field '" +
                                                std::string(required) + "'");
  if (auto bound = bind_who(*s, caller); !bound) return with_context(bound.error(), where);
  if (present) *present = named;
  return s;
}

}  // namespace logline
