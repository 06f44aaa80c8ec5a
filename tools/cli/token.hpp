#pragma once
// logline-cli token issue and revoke: API tokens, written as the operator.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

// ---- token -------------------------------------------------------------------------------------

// API tokens for logline-server are api_token spans written as the token administrator
// (logline::http::token_admin); only the token's hash is stored.
int run_token_issue(const arguments& a) {
  logline::identity who{a.required("user"), std::nullopt};
  if (a.has("tenant")) who.tenant_id = a.required("tenant");
  auto scopes = logline::http::parse_scopes(a.required("scopes"));
  if (!scopes) throw cli_error("--scopes: " + scopes.error().message(), true);
  auto key = load_key(a);
  auto t = open_target(a, false);
  const std::string token = logline::http::generate_token();
  return with_ledger(t, logline::http::token_admin, std::move(key), [&](auto& ledger) {
    if (ledger.operators().is_operator(who))
      throw cli_error("'" + who.user_id +
                      "' without a tenant is an operator identity: tokens are for users (servers "
                      "ignore a token for an operator)");
    auto stored =
        ledger.append(logline::http::token_span(token, who, *scopes, a.get("label").value_or("")));
    if (!stored) throw cli_error("cannot issue the token: " + stored.error().message());
    out(token + "\n");
    err("token " + stored->id.to_string() + " issued for " + who.user_id +
        (who.tenant_id ? " (tenant " + *who.tenant_id + ")" : std::string()) +
        "; it is shown once: only its hash is stored\n");
    return finish_stdout(exit_ok);
  });
}

int run_token_revoke(const arguments& a) {
  auto id = logline::uuid::parse(a.required("id"));
  if (!id) throw cli_error("--id: " + id.error().message(), true);
  auto key = load_key(a);
  auto t = open_target(a, false);
  return with_ledger(t, logline::http::token_admin, std::move(key), [&](auto& ledger) {
    auto current = ledger.get(*id);
    if (!current || current->entity_type != logline::http::token_entity_type)
      throw cli_error("no api token " + id->to_string());
    if (current->status == "revoked")
      throw cli_error("token " + id->to_string() + " is already revoked");
    auto next = logline::universal_span{};
    next.id = current->id;
    next.entity_type = current->entity_type;
    next.who = logline::http::token_admin.user_id;
    next.did = "revoked";
    next.this_ = current->this_;
    next.status = "revoked";
    next.metadata = current->metadata;
    auto stored = ledger.append_version(std::move(next));
    if (!stored) throw cli_error("cannot revoke: " + stored.error().message());
    err("token " + id->to_string() + " revoked (version " + std::to_string(stored->seq) + ")\n");
    return finish_stdout(exit_ok);
  });
}

}  // namespace
