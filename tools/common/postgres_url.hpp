#pragma once
// The PostgreSQL connection strings of an example program (logline-server, logline-scheduler,
// logline-cli), and how to keep their passwords out of the command line, which every user of
// the host can read (ps, /proc/PID/cmdline):
//
//   --postgres URL            the URL on the command line: fine without a password (libpq then
//                             takes it from ~/.pgpass, $PGPASSFILE or $PGPASSWORD); one that
//                             holds a password gets a warning
//   --postgres-env VAR        the URL in environment variable VAR (only the process's own user
//                             and root read /proc/PID/environ), e.g. LOGLINE_POSTGRES_URL
//
// and the same for --postgres-owner / --postgres-owner-env (LOGLINE_POSTGRES_OWNER_URL).
// Nothing here rewrites a URL: libpq reads it as given, with its environment defaults.
#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <logline/error.hpp>

namespace logline_tools {

// Whether a libpq connection string (key=value or URL) sets a password. libpq's own parser
// reads it, so every spelling counts (password=..., user:secret@host, ?password=...); it fills
// in no defaults, so $PGPASSWORD is not counted. A string libpq cannot parse counts as none (the
// connection attempt reports it).
inline bool conninfo_has_password(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  if (!options) return false;
  bool found = false;
  for (const PQconninfoOption* o = options; o->keyword; ++o)
    if (std::strcmp(o->keyword, "password") == 0 && o->val && *o->val) found = true;
  PQconninfoFree(options);
  return found;
}

// The connection string of option `option` ("--postgres"), given on the command line as
// `--OPTION URL` (url) or `--OPTION-env VAR` (variable); nullopt when neither was given. A URL on
// the command line that holds a password gets a warning on stderr, prefixed with `program`.
// Errors (errc::invalid_argument): both given, or VAR unset or empty.
inline logline::result<std::optional<std::string>> postgres_url(
    const std::string& program, std::string_view option, const std::optional<std::string>& url,
    const std::optional<std::string>& variable) {
  const std::string name(option);
  if (url && variable)
    return logline::make_error(logline::errc::invalid_argument,
                               "give " + name + " URL or " + name + "-env VAR, not both");
  if (variable) {
    const char* value = variable->empty() ? nullptr : std::getenv(variable->c_str());
    if (!value)
      return logline::make_error(
          logline::errc::invalid_argument,
          name + "-env: environment variable '" + *variable + "' is not set");
    if (!*value)
      return logline::make_error(logline::errc::invalid_argument,
                                 name + "-env: environment variable '" + *variable + "' is empty");
    return std::optional<std::string>(value);
  }
  if (url && conninfo_has_password(*url))
    std::cerr << program << ": warning: the " << name
              << " URL holds a password, which every user of this host can read (ps, "
                 "/proc/PID/cmdline): give the URL with "
              << name
              << "-env VAR instead, or leave the password out and let libpq read it from "
                 "~/.pgpass, $PGPASSFILE or $PGPASSWORD\n";
  return url;
}

}  // namespace logline_tools
