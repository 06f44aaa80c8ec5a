// --help and --version, answered the same way by logline-server and logline-scheduler: on
// stdout, exit 0. (logline-cli has its own command table.)
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>

#include <logline/version.hpp>

namespace logline_tools {

// Answers argument `a` and exits when it is --help, -h or --version; false otherwise.
inline bool answer_help_or_version(const std::string& a, const char* program,
                                   std::string (*usage_text)()) {
  if (a == "--help" || a == "-h")
    std::cout << usage_text();
  else if (a == "--version")
    std::cout << program << " " << logline::version << "\n";
  else
    return false;
  std::exit(0);
}

}  // namespace logline_tools
