// hash_chained on a span type without the hash columns is refused at compile time.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: hash_chained requires the span to have members prev_hash and curr_hash
struct note {
  static constexpr std::string_view span_name = "note";
  BOOST_HANA_DEFINE_STRUCT(note, (logline::uuid, id), (std::int32_t, seq), (std::string, text));
};
logline::ledger<note, logline::sqlite::backend, logline::hash_chained>* p = nullptr;
auto size = sizeof(logline::ledger<note, logline::sqlite::backend, logline::hash_chained>);
