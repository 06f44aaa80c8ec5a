// signed_by on a span type without signature columns is refused at compile time.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: signed_by requires the span to have members curr_hash
struct note {
  static constexpr std::string_view span_name = "note";
  BOOST_HANA_DEFINE_STRUCT(note, (logline::uuid, id), (std::int32_t, seq),
                           (std::optional<logline::digest>, curr_hash));
};
auto size =
    sizeof(logline::ledger<note, logline::sqlite::backend, logline::signed_by<logline::ed25519>>);
