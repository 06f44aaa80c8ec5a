// A span type needs a table name.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
// expect: logline: a span type needs `static constexpr std::string_view span_name`
struct nameless {
  BOOST_HANA_DEFINE_STRUCT(nameless, (logline::uuid, id), (std::int32_t, seq));
};
auto n = logline::schema<nameless>::size;
