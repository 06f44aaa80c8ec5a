#pragma once
// A process that serves tenants (logline-server, logline-scheduler) refuses to run on PostgreSQL
// when its application role is not held by row-level security: a role that owns the table, is a
// superuser or has BYPASSRLS would read every tenant's spans through any bug (DESIGN §5). It
// says why and exits with status 2. SQLite has no roles: nothing to check.
#include <cstdlib>
#include <iostream>
#include <string>

namespace logline_tools {

template <class Ledger>
void refuse_unfit_application_role(const std::string& program, Ledger& ledger) {
  if constexpr (requires { logline::ledger_plumbing::store(ledger).application_role_problem(); }) {
    auto problem = logline::ledger_plumbing::store(ledger).application_role_problem();
    if (!problem) {
      std::cerr << program << ": cannot check the application role: " << problem.error().message()
                << "\n";
      std::exit(2);
    }
    if (*problem) {
      std::cerr << program << ": refusing to serve: " << **problem << "\n";
      std::exit(2);
    }
  }
}

}  // namespace logline_tools
