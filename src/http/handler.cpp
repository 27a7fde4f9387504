#include "svckit/http/handler.hpp"

#include "svckit/error.hpp"

namespace svckit::http {

Handler chain(std::span<const Middleware> middleware, Handler handler) {
  for (auto it = middleware.rbegin(); it != middleware.rend(); ++it) {
    handler = [mw = *it, next = std::move(handler)](Request& req) { return mw(req, next); };
  }
  return handler;
}

Middleware problem_responses() {
  return [](Request& req, const Handler& next) -> Task<Response> {
    try {
      co_return co_await next(req);
    } catch (const Error& e) {
      if (e.status() >= 500) req.log(log::Level::error, "request failed", {{"detail", e.detail()}});
      co_return Response::problem(e, req.request_id(), req.path());
    } catch (const std::exception& e) {
      // A bug or a failed dependency: the detail goes to the log, never to the client.
      req.log(log::Level::error, "unhandled exception", {{"detail", e.what()}});
      co_return Response::problem(Error(500, "about:blank", "Internal Server Error",
                                        "the server failed to handle the request"),
                                  req.request_id(), req.path());
    }
  };
}

}  // namespace svckit::http
