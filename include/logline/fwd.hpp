#pragma once
// Declarations of logline's main types without their definitions, for a header that only names
// them (a function taking `logline::audited_ledger<note, logline::sqlite::backend>&`, a member
// `logline::result<T>`) and should not pay for the definitions, as <nlohmann/json_fwd.hpp>
// does for JSON. Include the type's own header where it is used:
//
//   result, errc, error      <logline/error.hpp>        ledger, audited_ledger  <logline/ledger.hpp>
//   uuid, timestamp,         <logline/types.hpp>        the policies            <logline/policy/*.hpp>
//     identity                                          sqlite::*               <logline/sqlite.hpp>
//   universal_span           <logline/span.hpp>         postgres::*             <logline/postgres.hpp>
//   ed25519                  <logline/ed25519.hpp>      http::api               <logline/http/server.hpp>
//                                                       runtime::node           <logline/runtime/node.hpp>
//
// The policy aliases and signed_by's default are declared here, and only here, so that they
// cannot disagree with the definitions.

namespace logline {

enum class errc;
class error;
template <class T>
class result;

struct uuid;
struct timestamp;
struct identity;
struct universal_span;
struct ed25519;

// The policies (policy/*.hpp).
struct policy_base;
struct append_only;
struct tenant_isolated;
enum class chain_scope { per_tenant, global };
template <chain_scope Scope>
struct basic_hash_chained;
using hash_chained = basic_hash_chained<chain_scope::per_tenant>;
using globally_hash_chained = basic_hash_chained<chain_scope::global>;
template <class Algorithm = ed25519>
struct signed_by;

template <class Span, class Backend, class... Policies>
class ledger;

// The full audited policy set, the one LogLineOS's universal registry uses: append-only,
// hash-chained per tenant, signed with Ed25519, tenant-isolated.
template <class Span, class Backend>
using audited_ledger =
    ledger<Span, Backend, append_only, hash_chained, signed_by<ed25519>, tenant_isolated>;

namespace sqlite {
struct backend;
class database;
}  // namespace sqlite

namespace postgres {
struct backend;
class database;
}  // namespace postgres

namespace http {
template <class Ledger>
class api;
}  // namespace http

namespace runtime {
template <class Ledger>
class node;
}  // namespace runtime

}  // namespace logline
