#pragma once
// The ledger the example programs (logline-cli, logline-server, logline-scheduler) open: universal
// spans with every policy, on a backend.
#include <logline/logline.hpp>

namespace logline_examples {

template <class Backend>
using ledger_on = logline::ledger<logline::universal_span, Backend, logline::append_only, logline::hash_chained<>,
                                  logline::signed_by<logline::ed25519>, logline::tenant_isolated>;

}  // namespace logline_examples
