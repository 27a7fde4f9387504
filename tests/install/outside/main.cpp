// A program outside the svckit tree, built against an installed svckit.
#include <iostream>

#include <svckit/svckit.hpp>

int main() {
  svckit::http::Router router;
  router.add(svckit::http::Method::get, "/things/{id}",
             [](svckit::http::Request&) -> svckit::Task<svckit::http::Response> {
               co_return svckit::http::Response::text(200, "ok");
             });
  auto match = router.match(svckit::http::Method::get, "/things/42");
  if (match.outcome != svckit::http::Router::Outcome::found) return 1;
  std::cout << "matched " << match.route->pattern << " id=" << match.params.at(0).second << "\n";
  return 0;
}
