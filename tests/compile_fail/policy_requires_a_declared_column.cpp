// A policy of the user's own that requires a column the span type does not declare is refused
// at compile time.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: a policy requires a column (table_options::require) that the span type does not declare
struct note {
  static constexpr std::string_view span_name = "note";
  BOOST_HANA_DEFINE_STRUCT(note, (logline::uuid, id), (std::int32_t, seq), (std::string, text));
};
struct trace_required : logline::policy_base {
  static constexpr void shape(logline::table_options& t) { t.require("trace_id"); }
};
auto size = sizeof(logline::ledger<note, logline::sqlite::backend, trace_required>);
