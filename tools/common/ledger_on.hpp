#pragma once
// The ledger the example programs (logline-cli, logline-server, logline-scheduler) open: universal
// spans with every policy, on a backend.
#include <logline/logline.hpp>

namespace logline_tools {

template <class Backend>
using ledger_on = logline::audited_ledger<logline::universal_span, Backend>;

}  // namespace logline_tools
