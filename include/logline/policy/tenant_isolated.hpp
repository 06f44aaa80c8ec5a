#pragma once
// tenant_isolated: every read and write happens as an identity (user_id, tenant_id) (DESIGN §5).
// A span's owner is the pair (owner_id, tenant_id); the same user name in another tenant (or
// without one) is another identity.
//   read:  the caller owns it, or visibility = public, or (tenant_id = the caller's tenant and
//          visibility = tenant)
//   write: the caller owns it (owner_id = user and tenant_id = tenant, both null or both equal);
//          versions after the first keep the owner pair of the first (ledger.hpp), and the
//          operator may write on anyone's behalf (operator_namespace.hpp)
#include <concepts>
#include <optional>
#include <string>

#include "logline/policy/policy.hpp"
#include "logline/types.hpp"

namespace logline {

template <class S>
concept has_tenancy_columns = requires(const S& s) {
  { s.owner_id } -> std::same_as<const std::optional<std::string>&>;
  { s.tenant_id } -> std::same_as<const std::optional<std::string>&>;
  { s.visibility } -> std::same_as<const logline::visibility&>;
};

struct tenant_isolated : policy_base {
  static constexpr void shape(table_options& t) { t.tenancy = true; }
  template <class Span>
  static constexpr bool fits() {
    static_assert(
        has_tenancy_columns<Span>,
        "logline: tenant_isolated requires the span to have members owner_id and tenant_id "
        "(std::optional<std::string>) and visibility (logline::visibility)");
    return true;
  }
};

// Whether `who` is the owner pair (owner_id, tenant_id).
inline bool is_owner(const identity& who, const std::optional<std::string>& owner_id,
                     const std::optional<std::string>& tenant_id) {
  return owner_id && *owner_id == who.user_id && tenant_id == who.tenant_id;
}

// The rules in C++ (the SQLite backend applies the same rules in SQL, PostgreSQL in row-level
// security policies; the conformance suite keeps them equal).
template <has_tenancy_columns S>
bool may_read(const identity& who, const S& s) {
  if (is_owner(who, s.owner_id, s.tenant_id)) return true;
  if (s.visibility == visibility::public_) return true;
  return who.tenant_id && s.tenant_id && *s.tenant_id == *who.tenant_id &&
         s.visibility == visibility::tenant;
}
template <has_tenancy_columns S>
bool may_write(const identity& who, const S& s) {
  return is_owner(who, s.owner_id, s.tenant_id);
}

}  // namespace logline
