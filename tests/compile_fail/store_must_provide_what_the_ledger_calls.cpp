// A backend whose store lacks a member the ledger calls is refused at compile time, and the
// error names the member.
#include <logline/logline.hpp>
#include <logline/sqlite.hpp>
// expect: logline: Backend::store<Span> does not provide what a store must
// expect: s.feed_head()
template <class Span>
class store_without_feed_head : public logline::sqlite::store<Span> {
 public:
  using logline::sqlite::store<Span>::store;

 private:
  using logline::sqlite::store<Span>::feed_head;
};
struct partial_backend {
  using database = logline::sqlite::database;
  template <class Span>
  using store = store_without_feed_head<Span>;
};
auto size = sizeof(logline::ledger<logline::universal_span, partial_backend>);
