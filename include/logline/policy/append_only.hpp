#pragma once
// append_only: the backends install triggers that refuse UPDATE and DELETE (and TRUNCATE on
// PostgreSQL). The ledger API has no operation that changes or removes a stored span in any
// case; with this policy the database refuses it too.
#include "logline/policy/policy.hpp"

namespace logline {
struct append_only : policy_base {
  static constexpr void shape(table_options& t) { t.append_only = true; }
};
}  // namespace logline
