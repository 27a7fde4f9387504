#pragma once
// Routes under a shared prefix with shared middleware:
//   auto tasks = server.group("/api/v1/tasks", {auth});
//   tasks.get("/{id}", handler);
// A group's middleware applies to the routes added to it after the middleware was.
#include <string>
#include <string_view>
#include <vector>

#include "svckit/http/event_stream.hpp"
#include "svckit/http/handler.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/http/router.hpp"
#include "svckit/http/websocket.hpp"

namespace svckit::http {

class RouteGroup {
 public:
  RouteGroup(Router& router, std::string prefix, std::vector<Middleware> middleware = {});

  RouteGroup group(std::string_view prefix, std::vector<Middleware> middleware = {}) const;
  void use(Middleware middleware);

  // Adds the route; what is returned says more of it for /openapi.json (route_doc.hpp).
  Documented route(Method method, std::string_view pattern, std::vector<Middleware> middleware,
                   Handler handler);

  Documented get(std::string_view pattern, Handler h) {
    return route(Method::get, pattern, {}, std::move(h));
  }
  Documented post(std::string_view pattern, Handler h) {
    return route(Method::post, pattern, {}, std::move(h));
  }
  Documented put(std::string_view pattern, Handler h) {
    return route(Method::put, pattern, {}, std::move(h));
  }
  Documented patch(std::string_view pattern, Handler h) {
    return route(Method::patch, pattern, {}, std::move(h));
  }
  Documented del(std::string_view pattern, Handler h) {
    return route(Method::del, pattern, {}, std::move(h));
  }

  Documented get(std::string_view pattern, Middleware m, Handler h) {
    return route(Method::get, pattern, {std::move(m)}, std::move(h));
  }
  Documented post(std::string_view pattern, Middleware m, Handler h) {
    return route(Method::post, pattern, {std::move(m)}, std::move(h));
  }
  Documented put(std::string_view pattern, Middleware m, Handler h) {
    return route(Method::put, pattern, {std::move(m)}, std::move(h));
  }
  Documented patch(std::string_view pattern, Middleware m, Handler h) {
    return route(Method::patch, pattern, {std::move(m)}, std::move(h));
  }
  Documented del(std::string_view pattern, Middleware m, Handler h) {
    return route(Method::del, pattern, {std::move(m)}, std::move(h));
  }

  // A WebSocket route (websocket.hpp): the upgrade request passes the group's middleware and
  // `middleware` first, so authentication and permissions are checked before the switch.
  Documented websocket(std::string_view pattern, WebSocketHandler handler,
                       WebSocketOptions options = {}, std::vector<Middleware> middleware = {});

  // A server-sent events route (event_stream.hpp), after the group's middleware and
  // `middleware`.
  Documented events(std::string_view pattern, EventStreamHandler handler,
                    EventStreamOptions options = {}, std::vector<Middleware> middleware = {});

  const std::string& prefix() const { return prefix_; }

 private:
  Router* router_;
  std::string prefix_;
  std::vector<Middleware> middleware_;
};

}  // namespace svckit::http
