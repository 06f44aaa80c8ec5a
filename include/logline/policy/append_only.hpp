#pragma once
// append_only: the backends install triggers that refuse UPDATE and DELETE (and TRUNCATE on
// PostgreSQL). The ledger API has no operation that changes or removes a stored span in any
// case; with this policy the database refuses it too.
namespace logline {
struct append_only {};
}  // namespace logline
