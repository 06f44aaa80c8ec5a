#pragma once
// The flags with which logline-server and logline-scheduler reach their ledger and its key:
// --db FILE, or --postgres URL with --postgres-owner URL (each also as --...-env VAR: the URL in
// an environment variable, which keeps its password out of ps), --key FILE and
// --allow-readable-key. A program's config derives from ledger_flags and hands each argument to
// parse() before its own.
#include <optional>
#include <string>
#include <utility>

#include "postgres_url.hpp"
#include "signing_key.hpp"

namespace logline_tools {

struct ledger_flags {
  std::string db = "logline.db";
  bool db_given = false;  // --db was on the command line
  std::optional<std::string> postgres, postgres_owner, key_file;
  std::optional<std::string> postgres_env,
      postgres_owner_env;  // names of environment variables holding the URLs
  bool allow_readable_key = false;

  // Takes `flag` if it is one of these; `value()` reads the argument after it.
  template <class Value>
  bool parse(const std::string& flag, Value&& value) {
    if (flag == "--db")
      db = value(), db_given = true;
    else if (flag == "--postgres")
      postgres = value();
    else if (flag == "--postgres-owner")
      postgres_owner = value();
    else if (flag == "--postgres-env")
      postgres_env = value();
    else if (flag == "--postgres-owner-env")
      postgres_owner_env = value();
    else if (flag == "--key")
      key_file = value();
    else if (flag == allow_readable_key_flag)
      allow_readable_key = true;
    else
      return false;
    return true;
  }

  // Reads the URLs given as environment variables; `usage(problem)` does not return.
  template <class Usage>
  void resolve_urls(const char* program, Usage&& usage) {
    auto resolve = [&](const char* option, std::optional<std::string>& url,
                       const std::optional<std::string>& variable) {
      auto resolved = postgres_url(program, option, url, variable);
      if (!resolved) usage(resolved.error().message());
      url = std::move(*resolved);
    };
    resolve("--postgres", postgres, postgres_env);
    resolve("--postgres-owner", postgres_owner, postgres_owner_env);
  }
};

}  // namespace logline_tools
