#pragma once
// The signing key of an example program: --key FILE, else $LOGLINE_SIGNING_KEY, else (when the
// program allows it) a new key for this run. A key that cannot be read ends the program (exit 2).
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>

#include <logline/ed25519.hpp>

namespace logline_examples {

inline logline::ed25519::key signing_key(const std::string& program, const std::optional<std::string>& key_file, bool may_generate) {
  auto fail = [&](const std::string& what) {
    std::cerr << program << ": " << what << "\n";
    std::exit(2);
  };
  if (key_file) {
    auto k = logline::ed25519::key::from_file(*key_file);
    if (!k) fail("--key: " + k.error().message());
    return *k;
  }
  if (std::getenv("LOGLINE_SIGNING_KEY")) {
    auto k = logline::ed25519::key::from_env();
    if (!k) fail("LOGLINE_SIGNING_KEY: " + k.error().message());
    return *k;
  }
  if (!may_generate) fail("no --key FILE and no $LOGLINE_SIGNING_KEY");
  std::cerr << program << ": no --key and no $LOGLINE_SIGNING_KEY: signing with a new key for this run\n";
  return logline::ed25519::key::generate();
}

}  // namespace logline_examples
