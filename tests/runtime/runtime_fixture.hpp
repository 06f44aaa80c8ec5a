#pragma once
// A ledger with every policy on one of the conformance backends, seeded, with a Stage-0: what
// the runtime tests share.
#include <logline/runtime/stage0.hpp>

#include "backends/conformance.hpp"
#include "support/catch.hpp"

namespace runtime_test {

template <class F>
struct fixture {
  F f;
  using ledger_type = conformance::full_ledger<typename F::backend>;
  using call = typename logline::runtime::stage0<ledger_type>::call;
  ledger_type ledger{
      f.database(),
      {.identity = {"logline", std::nullopt}, .signing_key = conformance::test_key()}};
  logline::runtime::stage0<ledger_type> stage0{ledger};
  const logline::identity alice{"alice", "acme"}, bob{"bob", "other"};
  const logline::identity system{"logline", std::nullopt};  // the operator the kernels boot as

  std::size_t stored() { return conformance::all_spans(ledger).size(); }
  std::vector<logline::universal_span> of_type(const std::string& type) {
    std::vector<logline::universal_span> out;
    for (auto& s : conformance::all_spans(ledger))
      if (s.entity_type == type) out.push_back(std::move(s));
    return out;
  }
  // SQL behind the ledger's back, as the table owner with the append-only guards off.
  logline::result<void> tamper(const std::string& sql) {
    LOGLINE_TRY_VOID(f.drop_append_only_guards("universal_registry"));
    return f.exec_raw(sql);
  }
  static bool authentic(const logline::universal_span& s) {
    return bool(logline::runtime::stage0<ledger_type>::authentic(s, true));
  }
};

}  // namespace runtime_test
