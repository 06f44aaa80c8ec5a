// tenant_isolated on a span type without owner/tenant/visibility is refused at compile time.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: tenant_isolated requires the span to have members owner_id and tenant_id
struct note {
  static constexpr std::string_view span_name = "note";
  BOOST_HANA_DEFINE_STRUCT(note, (logline::uuid, id), (std::int32_t, seq),
                           (std::optional<std::string>, owner_id));
};
auto size = sizeof(logline::ledger<note, logline::sqlite::backend, logline::tenant_isolated>);
