#pragma once
// logline-cli keygen: a new Ed25519 seed file (0600), or the public key of one.
// Part of logline-cli, one translation unit (logline_cli.cpp includes each command once).

#include "common.hpp"

namespace {

int run_keygen(const arguments& a) {
  if (a.has("public")) {
    if (a.has("out") || a.has("force"))
      throw cli_error(
          "--public reads an existing key; it takes --key or --key-env, not --out/--force", true);
    out(load_key(a).public_key().to_string() + "\n");
    return finish_stdout(exit_ok);
  }
  if (a.has("key") || a.has("key-env"))
    throw cli_error("--key and --key-env go with --public", true);
  const std::string path = a.required("out");
  const auto key = logline::ed25519::key::generate();
  std::string seed = key.seed_hex() + "\n";
  try {
    write_secret_file(path, seed, a.has("force"));
  } catch (...) {
    sodium_memzero(seed.data(), seed.size());
    throw;
  }
  sodium_memzero(seed.data(), seed.size());
  out(key.public_key().to_string() + "\n");
  return finish_stdout(exit_ok);
}

}  // namespace
