#include "svckit/http/handler.hpp"

#include "svckit/error.hpp"

namespace svckit::http {

Task<Response> ready(Response response) {
  co_return response;
}

Handler chain(std::span<const Middleware> middleware, Handler handler) {
  for (auto it = middleware.rbegin(); it != middleware.rend(); ++it) {
    handler = [mw = *it, next = std::move(handler)](Request& req) { return mw(req, next); };
  }
  return handler;
}

Response response_for_current_exception(const Request& req) {
  try {
    throw;
  } catch (const Error& e) {
    if (e.status() >= 500) req.log(log::Level::error, "request failed", {{"detail", e.detail()}});
    return Response::problem(e, req.request_id(), req.path());
  } catch (const std::exception& e) {
    // A bug or a failed dependency: the detail goes to the log, never to the client.
    req.log(log::Level::error, "unhandled exception", {{"detail", e.what()}});
  } catch (...) {
    req.log(log::Level::error, "unhandled exception", {{"detail", "not a std::exception"}});
  }
  return Response::problem(
      Error(500, "about:blank", "Internal Server Error", "the server failed to handle the request"),
      req.request_id(), req.path());
}

Middleware problem_responses() {
  return [](Request& req, const Handler& next) -> Task<Response> {
    // A coroutine cannot co_return from a handler block that holds the exception, so the
    // response is made there and returned after it.
    Response response;
    try {
      co_return co_await next(req);
    } catch (...) {
      response = response_for_current_exception(req);
    }
    co_return response;
  };
}

}  // namespace svckit::http
