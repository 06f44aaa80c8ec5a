#pragma once
// The signing key of an example program: --key FILE, else $LOGLINE_SIGNING_KEY, else (when the
// program allows it) a new key for this run. A key that cannot be read ends the program (exit 2).
//
// A key file that group or others may read or write is refused by the services
// (logline-server, logline-scheduler), unless started with --allow-readable-key, which
// downgrades the refusal to a warning. They run unattended and sign for every tenant: a warning
// in a log nobody reads protects nothing, and anyone who can read the seed can sign as the
// operator. logline-cli, run by a person who sees the warning at once, warns and goes on (it
// also reads seed files only to print or trust their public key).
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include <logline/ed25519.hpp>
#include <logline/error.hpp>

namespace logline_tools {

// What to do with a key file that group or others may access.
enum class readable_key { refuse, warn };

// The flag that makes a service start with such a key file.
inline constexpr std::string_view allow_readable_key_flag = "--allow-readable-key";

// Why a key file with these permission bits is exposed (empty: it is not): any bit for group or
// others (read: they can sign as the operator; write: they can put their own key in its place).
inline std::string key_file_exposure(const std::string& path, unsigned permissions) {
  if ((permissions & 077) == 0) return {};
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", permissions & 07777);
  return "key file '" + path + "' is accessible by group or others (mode " + mode +
         "): chmod 600 '" + path + "'";
}

// Reads the seed file `path` for `program` (the name that prefixes a warning on stderr). An
// exposed file (key_file_exposure) is an error (errc::permission_denied) with readable_key::refuse,
// or read after a warning with readable_key::warn. The one check logline-server,
// logline-scheduler and logline-cli make.
inline logline::result<logline::ed25519::key> read_key_file(const std::string& program,
                                                            const std::string& path,
                                                            readable_key policy) {
  unsigned permissions = 0;
  auto k = logline::ed25519::key::from_file(path, &permissions);
  if (!k) return k;
  const std::string exposure = key_file_exposure(path, permissions);
  if (exposure.empty()) return k;
  if (policy == readable_key::refuse)
    return logline::make_error(logline::errc::permission_denied,
                               exposure + " (or start with " +
                                   std::string(allow_readable_key_flag) + " to use it anyway)");
  std::cerr << program << ": warning: " << exposure << "\n";
  return k;
}

// The key of a service: --key FILE (exposed files: `readable`), else $LOGLINE_SIGNING_KEY, else
// with may_generate a new key for this run; otherwise exit 2 with the reason.
inline logline::ed25519::key signing_key(const std::string& program,
                                         const std::optional<std::string>& key_file,
                                         bool may_generate,
                                         readable_key readable = readable_key::refuse) {
  auto fail = [&](const std::string& what) {
    std::cerr << program << ": " << what << "\n";
    std::exit(2);
  };
  if (key_file) {
    auto k = read_key_file(program, *key_file, readable);
    if (!k) fail("--key: " + k.error().message());
    return *k;
  }
  if (std::getenv("LOGLINE_SIGNING_KEY")) {
    auto k = logline::ed25519::key::from_env();
    if (!k) fail("LOGLINE_SIGNING_KEY: " + k.error().message());
    return *k;
  }
  if (!may_generate) fail("no --key FILE and no $LOGLINE_SIGNING_KEY");
  std::cerr << program
            << ": no --key and no $LOGLINE_SIGNING_KEY: signing with a new key for this run\n";
  return logline::ed25519::key::generate();
}

}  // namespace logline_tools
