#pragma once
// API tokens, kept in the ledger itself: a token is an `api_token` span owned by the token
// administrator identity (user "logline-admin", no tenant), whose metadata holds the BLAKE3 hash
// of the token (never the token), the identity it stands for and its scopes. Revoking appends a
// new version with status "revoked". Tokens are thus append-only, hashed, signed and verified
// like every other span. `api_token` is in the operator's namespace: only operator identities
// write one, and the registry takes only those owned by the token administrator and signed by
// the ledger's own key (ledger::operator_wrote), for an identity that is not an operator's; any
// other is no token.
#include <sodium.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "logline/backend.hpp"
#include "logline/blake3.hpp"
#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/span.hpp"
#include "logline/types.hpp"

namespace logline::http {

inline const logline::identity token_admin{"logline-admin", std::nullopt};
inline constexpr std::string_view token_entity_type = entity::api_token;
inline constexpr std::string_view all_scopes[] = {"spans:read", "spans:write", "execute", "admin"};

struct token_record {
  uuid id{};  // the api_token span
  logline::identity identity;
  std::set<std::string> scopes;
  bool active = true;
  bool allows(std::string_view scope) const {
    return scopes.count(std::string(scope)) != 0 || scopes.count("admin") != 0;
  }
};

// A new random token: "llt_" + 64 hex characters (32 bytes from libsodium).
inline std::string generate_token() {
  unsigned char raw[32];
  randombytes_buf(raw, sizeof raw);
  std::string out = "llt_";
  static constexpr char digits[] = "0123456789abcdef";
  for (unsigned char b : raw) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  sodium_memzero(raw, sizeof raw);
  return out;
}
inline std::string token_hash(std::string_view token) { return blake3_hex(token); }

inline result<std::set<std::string>> parse_scopes(std::string_view list) {
  std::set<std::string> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string scope(list.substr(0, comma));
    bool known = false;
    for (auto s : all_scopes) known = known || s == scope;
    if (!known)
      return make_error(errc::invalid_argument,
                        "unknown scope '" + scope + "' (spans:read, spans:write, execute, admin)");
    out.insert(scope);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (out.empty()) return make_error(errc::invalid_argument, "no scope given");
  return out;
}

// The span that records a new token (append it as token_admin).
inline universal_span token_span(std::string_view token, const logline::identity& who,
                                 const std::set<std::string>& scopes, std::string label = {}) {
  universal_span s;
  s.entity_type = std::string(token_entity_type);
  s.who = token_admin.user_id;
  s.did = "issued";
  s.this_ = "api token for " + who.user_id;
  s.status = "active";
  if (!label.empty()) s.name = std::move(label);
  json sc = json::array();
  for (const auto& x : scopes) sc.push_back(x);
  s.metadata = json{{"token_blake3", token_hash(token)},
                    {"user_id", who.user_id},
                    {"tenant_id", who.tenant_id ? json(*who.tenant_id) : json(nullptr)},
                    {"scopes", sc}};
  return s;
}

// The token hash and record an api_token span holds (nothing if it is not a well-formed one).
inline std::optional<std::pair<std::string, token_record>> read_token_span(
    const universal_span& s) {
  if (!s.metadata || !s.metadata->is_object()) return std::nullopt;
  const json& m = *s.metadata;
  auto text = [&](const char* key) -> const std::string* {
    auto it = m.find(key);
    return it != m.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
  };
  const std::string* hash = text("token_blake3");
  const std::string* user = text("user_id");
  if (!hash || !user) return std::nullopt;
  token_record r;
  r.id = s.id;
  r.identity.user_id = *user;
  if (const std::string* tenant = text("tenant_id")) r.identity.tenant_id = *tenant;
  if (auto it = m.find("scopes"); it != m.end() && it->is_array())
    for (const auto& x : *it)
      if (x.is_string()) r.scopes.insert(x.get_ref<const std::string&>());
  r.active = s.status == "active";
  return std::pair<std::string, token_record>(*hash, std::move(r));
}

// The token table of a server: loaded from the api_token spans (latest version of each wins),
// reloaded every `refresh` (so that tokens issued or revoked by another process take effect) and
// when an unknown token is presented (at most once a second). The table is immutable once built
// and swapped in whole: a request looks a token up under a lock held for a map lookup, never for
// a database read, and a reload (one at a time) builds the next table while requests go on with
// the current one. Only a request that presents an unknown token waits for a reload. The reload
// reads only api_token spans of the token administrator (an indexed query; other spans cost it
// nothing), and api_token is in the operator's namespace, so no user can grow it.
template <class Ledger>
class token_registry {
 public:
  explicit token_registry(Ledger& ledger,
                          std::chrono::milliseconds refresh = std::chrono::seconds(2))
      : ledger_(ledger), refresh_(refresh), table_(std::make_shared<const table>()) {}

  // The record of an active token, or nothing.
  std::optional<token_record> find(std::string_view token) {
    const std::string h = token_hash(token);
    auto t = current();
    const auto now = std::chrono::steady_clock::now();
    auto it = t->by_hash.find(h);
    if (it == t->by_hash.end()) {
      // Unknown: perhaps issued a moment ago by another process. One reload a second at most;
      // concurrent callers share it.
      if (now - t->loaded > std::chrono::seconds(1)) {
        reload_shared();
        t = current();
        it = t->by_hash.find(h);
      }
    } else if (now - t->loaded > refresh_) {
      refresh_in_background();
    }
    if (it == t->by_hash.end() || !it->second.active) return std::nullopt;
    return it->second;
  }

  // The current record of the token whose api_token span is `id` (nothing once it is revoked,
  // superseded or gone): what an open stream re-checks.
  std::optional<token_record> find_by_id(const uuid& id) {
    auto t = current();
    if (std::chrono::steady_clock::now() - t->loaded > refresh_) refresh_in_background();
    auto it = t->hash_of.find(id);
    if (it == t->hash_of.end()) return std::nullopt;
    auto r = t->by_hash.find(it->second);
    if (r == t->by_hash.end() || !r->second.active) return std::nullopt;
    return r->second;
  }

  result<void> reload() {
    if (!reload_shared()) return make_error(errc::busy, "cannot read the api tokens");
    return {};
  }

  ~token_registry() {
    std::unique_lock lock(reload_mutex_);
    reloaded_.wait(lock, [&] { return !reloading_; });
  }

 private:
  struct table {
    std::map<std::string, token_record> by_hash;
    std::map<uuid, std::string> hash_of;  // api_token span id -> token hash
    std::chrono::steady_clock::time_point loaded{};
  };

  std::shared_ptr<const table> current() {
    std::lock_guard lock(table_mutex_);
    return table_;
  }

  // Reloads, or waits for the reload in progress; true if the table is fresh afterwards.
  bool reload_shared() {
    std::unique_lock lock(reload_mutex_);
    if (reloading_) {
      const auto generation = generation_;
      reloaded_.wait(lock, [&] { return generation_ != generation; });
      return last_ok_;
    }
    reloading_ = true;
    lock.unlock();
    return finish_reload(load());
  }
  bool finish_reload(bool ok) {
    std::lock_guard lock(reload_mutex_);
    reloading_ = false;
    last_ok_ = ok;
    ++generation_;
    reloaded_.notify_all();
    return ok;
  }

  // A stale table: one thread reloads it (detached from the request that noticed); the others go
  // on with the current one. The destructor waits for it (reloading_ is set before it starts).
  void refresh_in_background() {
    {
      std::lock_guard lock(reload_mutex_);
      if (reloading_) return;
      reloading_ = true;
    }
    std::thread([this] { finish_reload(load()); }).detach();
  }

  bool load() {
    auto admin = ledger_.as(token_admin);
    timeline_query q;
    q.entity_type = std::string(token_entity_type);
    q.owner_id = token_admin.user_id;
    q.limit = timeline_query::max_limit;
    std::map<uuid, universal_span> latest;
    for (;;) {
      auto page = admin.timeline(q);
      if (!page) return false;
      for (auto& s : page->spans) {
        if (s.owner_id != token_admin.user_id || s.tenant_id != token_admin.tenant_id ||
            !ledger_.operator_wrote(s))
          continue;
        auto& slot = latest[s.id];
        if (slot.id.is_nil() || s.seq > slot.seq) slot = std::move(s);
      }
      if (page->next_cursor.empty()) break;
      q.cursor = page->next_cursor;
    }
    // A token stands for an ordinary identity: one naming an operator identity is none (the
    // operator's rights are not for a bearer over the network).
    auto next = std::make_shared<table>();
    for (const auto& entry : latest)
      if (auto t = read_token_span(entry.second);
          t && !ledger_.operators().is_operator(t->second.identity)) {
        next->hash_of[entry.first] = t->first;
        next->by_hash[t->first] = std::move(t->second);
      }
    next->loaded = std::chrono::steady_clock::now();
    std::lock_guard lock(table_mutex_);
    table_ = std::move(next);
    return true;
  }

  Ledger& ledger_;
  std::chrono::milliseconds refresh_;
  std::mutex table_mutex_;  // held to copy the pointer only
  std::shared_ptr<const table> table_;
  std::mutex reload_mutex_;
  std::condition_variable reloaded_;
  bool reloading_ = false, last_ok_ = false;
  std::uint64_t generation_ = 0;
};

}  // namespace logline::http
