// A member type the schema cannot store is refused at compile time, in one error that names
// the member and its type.
#include <boost/hana/define_struct.hpp>
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: unsupported member type in a span
// expect: Member = member_name<7>{"celsius"}
// expect: Type = float
struct reading {
  static constexpr std::string_view span_name = "reading";
  BOOST_HANA_DEFINE_STRUCT(reading, (logline::uuid, id), (std::int32_t, seq), (float, celsius));
};
auto& columns = logline::schema<reading>::columns();
