// A table name must be a plain lowercase SQL identifier.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
// expect: logline: span_name must be a lowercase SQL identifier
struct event {
  static constexpr std::string_view span_name = "events; DROP TABLE x";
  BOOST_HANA_DEFINE_STRUCT(event, (logline::uuid, id), (std::int32_t, seq));
};
auto n = logline::schema<event>::size;
