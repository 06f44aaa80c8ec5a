// A span type needs an id of type logline::uuid.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
// expect: logline: a span type needs a member `id` of type logline::uuid
struct event {
  static constexpr std::string_view span_name = "event";
  BOOST_HANA_DEFINE_STRUCT(event, (std::string, id), (std::int32_t, seq));
};
auto n = logline::schema<event>::size;
