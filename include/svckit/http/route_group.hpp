#pragma once
// Routes under a shared prefix with shared middleware:
//   auto tasks = server.group("/api/v1/tasks", {auth});
//   tasks.get("/{id}", handler);
// A group's middleware applies to the routes added to it after the middleware was.
#include <string>
#include <string_view>
#include <vector>

#include "svckit/http/handler.hpp"
#include "svckit/http/router.hpp"

namespace svckit::http {

class RouteGroup {
 public:
  RouteGroup(Router& router, std::string prefix, std::vector<Middleware> middleware = {});

  RouteGroup group(std::string_view prefix, std::vector<Middleware> middleware = {}) const;
  void use(Middleware middleware);

  void route(Method method, std::string_view pattern, std::vector<Middleware> middleware,
             Handler handler);

  void get(std::string_view pattern, Handler h) { route(Method::get, pattern, {}, std::move(h)); }
  void post(std::string_view pattern, Handler h) { route(Method::post, pattern, {}, std::move(h)); }
  void put(std::string_view pattern, Handler h) { route(Method::put, pattern, {}, std::move(h)); }
  void patch(std::string_view pattern, Handler h) {
    route(Method::patch, pattern, {}, std::move(h));
  }
  void del(std::string_view pattern, Handler h) { route(Method::del, pattern, {}, std::move(h)); }

  void get(std::string_view pattern, Middleware m, Handler h) {
    route(Method::get, pattern, {std::move(m)}, std::move(h));
  }
  void post(std::string_view pattern, Middleware m, Handler h) {
    route(Method::post, pattern, {std::move(m)}, std::move(h));
  }
  void put(std::string_view pattern, Middleware m, Handler h) {
    route(Method::put, pattern, {std::move(m)}, std::move(h));
  }
  void patch(std::string_view pattern, Middleware m, Handler h) {
    route(Method::patch, pattern, {std::move(m)}, std::move(h));
  }
  void del(std::string_view pattern, Middleware m, Handler h) {
    route(Method::del, pattern, {std::move(m)}, std::move(h));
  }

  const std::string& prefix() const { return prefix_; }

 private:
  Router* router_;
  std::string prefix_;
  std::vector<Middleware> middleware_;
};

}  // namespace svckit::http
