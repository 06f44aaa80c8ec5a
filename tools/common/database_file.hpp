#pragma once
// A SQLite ledger file that every user of the host may read or write. logline::sqlite::database
// creates new files 0600 (and SQLite gives their -wal, -shm and -journal files the same mode),
// but never changes the mode of a file that is there already: the operator may have chosen it,
// e.g. for a backup group. Every user, though, is the mistake of a file made with the default
// umask (0644) by an older version or by the sqlite3 tool: the programs say so, and go on.
#include <sys/stat.h>

#include <cstdio>
#include <iostream>
#include <string>

namespace logline_tools {

// Warns on stderr (prefixed with `program`) for each of `path`, `path`-wal, `path`-shm and
// `path`-journal that exists and that others (not the owner, not the group) may read or write.
// Nothing for a path that is not there, nor for ":memory:" and URIs.
inline void warn_if_world_accessible(const std::string& program, const std::string& path) {
  if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) return;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    const std::string file = path + suffix;
    struct stat st {};
    if (::stat(file.c_str(), &st) != 0 || (st.st_mode & (S_IROTH | S_IWOTH)) == 0) continue;
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    std::cerr << program << ": warning: database file '" << file
              << "' may be read or written by every user of this host (mode " << mode
              << "): chmod 600 '" << file
              << "' (SQLite gives the files it adds beside it the same mode)\n";
  }
}

}  // namespace logline_tools
