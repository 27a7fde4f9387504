#include "svckit/http/route_group.hpp"

namespace svckit::http {

RouteGroup::RouteGroup(Router& router, std::string prefix, std::vector<Middleware> middleware)
    : router_(&router), prefix_(std::move(prefix)), middleware_(std::move(middleware)) {
  while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
}

RouteGroup RouteGroup::group(std::string_view prefix, std::vector<Middleware> middleware) const {
  std::vector<Middleware> all = middleware_;
  for (auto& m : middleware) all.push_back(std::move(m));
  return RouteGroup(*router_, prefix_ + std::string(prefix), std::move(all));
}

void RouteGroup::use(Middleware middleware) {
  middleware_.push_back(std::move(middleware));
}

Documented RouteGroup::route(Method method, std::string_view pattern,
                             std::vector<Middleware> middleware, Handler handler) {
  std::vector<Middleware> all = middleware_;
  for (auto& m : middleware) all.push_back(std::move(m));
  std::string full = prefix_ + std::string(pattern);
  if (full.empty()) full = "/";
  Route& added =
      router_->add(method, full, all.empty() ? std::move(handler) : chain(all, std::move(handler)));
  for (const auto& m : all) m.describe(*added.doc);
  return Documented(*added.doc);
}

Documented RouteGroup::websocket(std::string_view pattern, WebSocketHandler handler,
                                 WebSocketOptions options, std::vector<Middleware> middleware) {
  auto doc = route(Method::get, pattern, std::move(middleware),
                   websocket_route(std::move(handler), std::move(options)));
  return doc.summary("WebSocket (RFC 6455): GET with Upgrade: websocket switches protocols")
      .responds(101)
      .errors({400, 426});
}

Documented RouteGroup::events(std::string_view pattern, EventStreamHandler handler,
                              EventStreamOptions options, std::vector<Middleware> middleware) {
  auto doc = route(Method::get, pattern, std::move(middleware),
                   event_stream_route(std::move(handler), std::move(options)));
  return doc.summary("Server-sent events (text/event-stream); Last-Event-ID resumes");
}

}  // namespace svckit::http
