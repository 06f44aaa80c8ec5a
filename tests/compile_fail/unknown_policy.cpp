// Anything but a logline policy in the policy list is refused at compile time.
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: unknown policy
struct audited {};
auto size = sizeof(logline::ledger<logline::universal_span, logline::sqlite::backend, audited>);
