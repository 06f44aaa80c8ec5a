#pragma once
// What the tests of secrets and their files share (file_mode_test, key_file_test,
// postgres_url_test): the programs' paths, a key file with a given mode, a file's mode, a word
// quoted for /bin/sh.
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "support/catch.hpp"
#include "support/process.hpp"

namespace secret_files {

using process_test::sh_quote;

namespace fs = std::filesystem;

inline const std::string scheduler = LOGLINE_SCHEDULER_PATH;
inline const std::string server = LOGLINE_SERVER_PATH;
inline const std::string cli = LOGLINE_CLI_PATH;

// The permission bits of a file.
inline unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// A key file made by `logline-cli keygen` (0600), then given `mode`.
inline std::string key_with_mode(process_test::sandbox& box, const std::string& name, mode_t mode) {
  const std::string key = (box.dir / name).string();
  box.cli("keygen --out " + key);
  REQUIRE(::chmod(key.c_str(), mode) == 0);
  return key;
}

// Appends one note to a SQLite ledger with logline-cli; its exit status and output.
inline process_test::ran append_note(const std::string& db, const std::string& key) {
  return process_test::run("echo '{\"entity_type\":\"note\",\"this\":\"x\"}' | " + cli +
                           " append --db " + db + " --key " + key + " --user alice 2>&1");
}

}  // namespace secret_files
