#pragma once
// Matches a method and path to a route. Patterns are literal segments and `{name}` parameters
// ("/api/v1/tasks/{id}/complete"); a literal segment wins over a parameter, so "/tasks/stats"
// and "/tasks/{id}" live side by side. A last segment "{name...}" takes the rest of the path,
// slashes included ("/{bucket}/{key...}"), after literals and single parameters have been tried.
// A trailing slash is ignored.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/http/handler.hpp"
#include "svckit/http/method.hpp"

namespace svckit::http {

struct Route {
  Method method;
  std::string pattern;  // the template, reported as the `handler` metric label
  Handler handler;
  std::shared_ptr<RouteDoc> doc;  // what /openapi.json says of it (route_doc.hpp)
};

class Router {
 public:
  enum class Outcome { found, not_found, method_not_allowed };
  struct Match {
    Outcome outcome = Outcome::not_found;
    const Route* route = nullptr;
    std::vector<Request::Param> params;  // views into the matched path and the route
    std::string allow;                   // for 405: "GET, PUT, DELETE"
  };

  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;

  // Throws std::invalid_argument for a malformed pattern or a route registered twice.
  Route& add(Method method, std::string_view pattern, Handler handler);
  // Every route, in the order added.
  std::vector<const Route*> routes() const;
  // HEAD falls back to the GET route.
  Match match(Method method, std::string_view path) const;

 private:
  struct Node;
  std::unique_ptr<Node> root_;
  std::vector<std::unique_ptr<Route>> routes_;
};

}  // namespace svckit::http
