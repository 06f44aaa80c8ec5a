#pragma once
// tenant_isolated: every read and write happens as an identity (user_id, tenant_id) (DESIGN §5).
//   read:  owner_id = user, or visibility = public, or (tenant_id = tenant and visibility in tenant/public)
//   write: owner_id = user and (tenant_id is null or tenant_id = tenant)
#include <concepts>
#include <optional>
#include <string>

#include "logline/types.hpp"

namespace logline {

struct tenant_isolated {};

template <class S>
concept has_tenancy_columns = requires(const S& s) {
  { s.owner_id } -> std::same_as<const std::optional<std::string>&>;
  { s.tenant_id } -> std::same_as<const std::optional<std::string>&>;
  { s.visibility } -> std::same_as<const logline::visibility&>;
};

// The rules in C++ (the SQLite backend applies the same rules in SQL; a test keeps them equal).
template <has_tenancy_columns S>
bool may_read(const identity& who, const S& s) {
  if (s.owner_id && *s.owner_id == who.user_id) return true;
  if (s.visibility == visibility::public_) return true;
  return who.tenant_id && s.tenant_id && *s.tenant_id == *who.tenant_id && s.visibility == visibility::tenant;
}
template <has_tenancy_columns S>
bool may_write(const identity& who, const S& s) {
  if (!s.owner_id || *s.owner_id != who.user_id) return false;
  return !s.tenant_id || (who.tenant_id && *s.tenant_id == *who.tenant_id);
}

}  // namespace logline
