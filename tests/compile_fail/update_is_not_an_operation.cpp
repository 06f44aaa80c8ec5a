// A ledger has no update(): calling it is a compile error with a logline: sentence.
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: a ledger is append-only
// expect: there is no update()
using L = logline::ledger<logline::universal_span, logline::sqlite::backend, logline::append_only>;
void f(L& ledger, const logline::universal_span& s) { ledger.update(s); }
