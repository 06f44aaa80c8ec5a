#pragma once
// Stage-0 (DESIGN §7): boots a function span by id.
//
//   runtime::stage0<Ledger> boot(ledger);
//   boot.register_kernel(runtime::ids::run_code, run_code_kernel);
//   auto execution = boot.boot(runtime::ids::run_code, input, {"alice", "acme"});
//
// 1. load the manifest (the newest manifest span the operator wrote);
// 2. refuse an id that is not in its allowed_boot_ids (errc::permission_denied);
// 3. load the latest version of the function span, as the caller (errc::not_found if there is
//    none it may see; the ledger verifies every span it reads, errc::integrity_violation for a
//    stored span that does not hash to its curr_hash). A native kernel's span must be the
//    operator's (anything else is treated as absent); any other function's latest version must
//    have its first version's owner;
// 4. check its hash and, when the manifest requires signatures (or the span carries one), its
//    Ed25519 signature (errc::bad_signature);
// 5. append a `boot_event` span, run the function, append an `execution` span (parent_id = the
//    function, status complete or error, input, output or error, duration_ms, trace_id),
//    hashed and signed by the ledger's policies. Both are owned by the caller and written on
//    its behalf with the operator's rights (they are in the operator's namespace: no identity
//    can forge a record of a run).
// Steps 1-4 failing append nothing. A function that fails while running is not a boot error:
// the execution span records it (status "error") and boot returns that span.
//
// Functions run as native kernels registered under their ids, or through a language runner
// (e.g. "lua") given to register_language. A function whose language has no runner is an
// error execution.
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "logline/entity_types.hpp"
#include "logline/error.hpp"
#include "logline/json.hpp"
#include "logline/runtime/manifest.hpp"
#include "logline/span.hpp"
#include "logline/verify.hpp"

namespace logline::runtime {

// The name an execution's error.code gives an error: its errc's name (logline::name), "error"
// for an error of another category.
inline std::string error_code_name(const error_info& e) {
  if (e.code().category() != logline_category()) return "error";
  return std::string(name(static_cast<errc>(e.code().value())));
}

// A span a kernel (`who`) writes about a function: a boot_event, an execution, a patch.
inline universal_span about_function(const universal_span& function, std::string_view entity_type,
                                     const char* who, const char* did, const std::string& trace) {
  universal_span s;
  s.entity_type = entity_type;
  s.who = who;
  s.did = did;
  s.this_ = function.name.value_or(function.id.to_string());
  s.parent_id = function.id;
  s.trace_id = trace;
  return s;
}

template <class Ledger>
class stage0 {
 public:
  using view = typename Ledger::view;

  // What a running function gets.
  struct call {
    view& as;                        // the caller's view: reads and writes under its identity
    view& records;                   // on the caller's behalf, with the operator's rights: the
                                     // kernel's own records (never content user code chose)
    const universal_span& function;  // the verified function span
    const json& input;
    const runtime::manifest& manifest;
    const std::string& trace_id;
    Ledger& ledger;  // for what runs beside the caller's identity (locks)
  };
  using runner = std::function<result<json>(call&)>;

  explicit stage0(Ledger& ledger) : ledger_(ledger) {}

  void register_kernel(const uuid& function_id, runner r) { kernels_[function_id] = std::move(r); }
  void register_language(std::string language, runner r) {
    languages_[std::move(language)] = std::move(r);
  }

  // Boots `function_id` as `who`; returns the execution span.
  result<universal_span> boot(const uuid& function_id, json input, const identity& who,
                              std::optional<std::string> trace_id = {}) {
    auto as = ledger_.as(who);
    auto records = ledger_.on_behalf_of(who);
    LOGLINE_TRY(current_manifest, load_manifest(as));
    if (!current_manifest.may_boot(function_id))
      return make_error(errc::permission_denied, "function " + function_id.to_string() +
                                                     " is not in the manifest's allowed_boot_ids");
    auto function = as.get(function_id);
    const bool native = kernels_.count(function_id) != 0;
    if (function && native &&
        !ledger_.operator_wrote(*function))  // a kernel span that is not the operator's is none
      function = make_error(errc::not_found, "");
    if (!function) {
      if (function.error() == errc::not_found)
        return make_error(errc::not_found, "function " + function_id.to_string() + " not found");
      return std::move(function).error();
    }
    if (function->entity_type != entity::function)
      return make_error(errc::invalid_argument, "span " + function_id.to_string() + " is a " +
                                                    function->entity_type + ", not a function");
    LOGLINE_TRY_VOID(authentic(*function, current_manifest.signatures_required));
    LOGLINE_TRY_VOID(check_owner_continuity(ledger_, *function));

    const std::string trace = trace_id ? *trace_id : uuid::v7().to_string();
    universal_span boot_event =
        about_function(*function, entity::boot_event, "stage0", "booted", trace);
    boot_event.status = "complete";
    boot_event.metadata = json{{"function_seq", function->seq},
                               {"manifest", current_manifest.id.to_string()},
                               {"manifest_seq", current_manifest.seq}};
    LOGLINE_TRY_VOID(records.append(std::move(boot_event)));

    call c{as, records, *function, input, current_manifest, trace, ledger_};
    const auto started = std::chrono::steady_clock::now();
    result<json> out = run(c);
    const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);

    universal_span execution =
        about_function(*function, entity::execution, "stage0", "executed", trace);
    execution.input = std::move(input);
    execution.duration_ms = elapsed.count();
    if (out) {
      execution.status = "complete";
      execution.output = std::move(*out);
    } else {
      execution.status = "error";
      execution.error =
          json{{"code", error_code_name(out.error())}, {"message", public_message(out.error())}};
    }
    return records.append(std::move(execution));
  }

  // Whether a span is what it claims: its content hashes to curr_hash and, when signatures are
  // required or present, the signature verifies.
  static result<void> authentic(const universal_span& s, bool signatures_required) {
    const auto a = authenticity_of(s);
    if (!a.hash_ok)
      return make_error(errc::integrity_violation,
                        "function " + s.id.to_string() + " does not hash to its curr_hash");
    if (signatures_required || s.signature) {
      if (!s.signature || !s.public_key)
        return make_error(errc::bad_signature, "function " + s.id.to_string() + " is not signed");
      if (!a.signature_ok)
        return make_error(errc::bad_signature,
                          "function " + s.id.to_string() + ": the signature does not verify");
    }
    return {};
  }

 private:
  result<json> run(call& c) {
    try {
      if (auto k = kernels_.find(c.function.id); k != kernels_.end()) return k->second(c);
      const std::string language = c.function.language.value_or("");
      if (auto l = languages_.find(language); l != languages_.end()) return l->second(c);
      return make_error(
          errc::execution_failed,
          "no runner for language '" + language + "' (function " + c.function.id.to_string() + ")");
    } catch (const std::exception& e) {
      return make_error(errc::execution_failed, std::string("the function threw: ") + e.what());
    }
  }

  Ledger& ledger_;
  std::map<uuid, runner> kernels_;
  std::map<std::string, runner> languages_;
};

}  // namespace logline::runtime
