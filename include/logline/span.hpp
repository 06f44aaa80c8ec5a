#pragma once
// logline::universal_span: the columns of LogLineOS's ledger.universal_registry (DESIGN §3.1),
// plus chain_position, the column the hash_chained policy needs (DESIGN §4.3). A plain struct
// (so members have defaults and designated initializers work) adapted for Hana.
#include <boost/hana/adapt_struct.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "logline/json.hpp"
#include "logline/types.hpp"

namespace logline {

struct universal_span {
  static constexpr std::string_view span_name = "universal_registry";

  uuid id{};             // nil: the ledger generates a UUIDv7
  std::int32_t seq = 0;  // version
  std::string entity_type;
  std::string who;
  std::optional<std::string> did;
  std::string this_;  // column "this"
  timestamp at{};     // set by the ledger
  std::optional<uuid> parent_id;
  std::optional<std::vector<uuid>> related_to;
  std::optional<std::string> owner_id;   // defaults to the writer's user
  std::optional<std::string> tenant_id;  // defaults to the writer's tenant
  logline::visibility visibility = logline::visibility::private_;
  std::optional<std::string> status;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<std::string> code;
  std::optional<std::string> language;
  std::optional<std::string> runtime;
  std::optional<std::string> trace_id;
  bool is_deleted = false;
  std::optional<json> input;
  std::optional<json> output;
  std::optional<json> error;
  std::optional<json> metadata;
  std::optional<json> content;
  std::optional<std::int64_t> duration_ms;
  std::optional<digest> prev_hash;              // set by hash_chained
  std::optional<digest> curr_hash;              // set by the ledger
  std::optional<logline::signature> signature;  // set by signed_by
  std::optional<logline::public_key> public_key;
  std::optional<std::int64_t> chain_position;  // set by hash_chained
};

}  // namespace logline

BOOST_HANA_ADAPT_STRUCT(logline::universal_span, id, seq, entity_type, who, did, this_, at,
                        parent_id, related_to, owner_id, tenant_id, visibility, status, name,
                        description, code, language, runtime, trace_id, is_deleted, input, output,
                        error, metadata, content, duration_ms, prev_hash, curr_hash, signature,
                        public_key, chain_position);
