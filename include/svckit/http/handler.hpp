#pragma once
// A handler is a function from a request to a response; middleware is a function that wraps the
// next handler (Go net/http style). Both are coroutines. A middleware may also say what it means
// for the API description of the routes it wraps (route_doc.hpp).
#include <concepts>
#include <functional>
#include <span>
#include <type_traits>

#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

using Handler = std::function<Task<Response>(Request&)>;
struct RouteDoc;

class Middleware {
 public:
  using Function = std::function<Task<Response>(Request&, const Handler& next)>;
  using Describe = std::function<void(RouteDoc&)>;

  Middleware() = default;
  // Any function of (Request&, const Handler& next); `describe` adds what it means to the API
  // description of each route it wraps.
  template <class F>
  requires(!std::same_as<std::remove_cvref_t<F>, Middleware> &&
           std::is_constructible_v<Function, F>)
      Middleware(F function, Describe describe = {})  // NOLINT: implicit, a lambda is a middleware
      : function_(std::move(function)), describe_(std::move(describe)) {}

  Task<Response> operator()(Request& req, const Handler& next) const {
    return function_(req, next);
  }
  explicit operator bool() const { return static_cast<bool>(function_); }
  void describe(RouteDoc& doc) const {
    if (describe_) describe_(doc);
  }

 private:
  Function function_;
  Describe describe_;
};

// A member function of `self` as a handler: tasks.get("/{id}", read, bind(this, &Tasks::find)).
template <class C>
Handler bind(C* self, Task<Response> (C::*member)(Request&)) {
  return [self, member](Request& req) { return (self->*member)(req); };
}

// A task whose answer is already known: what a handler that decides without waiting returns
// (after throwing, if it refuses, before any task exists).
Task<Response> ready(Response response);

// Wraps `handler` so that middleware[0] runs first and calls middleware[1], ..., then handler.
Handler chain(std::span<const Middleware> middleware, Handler handler);

// The response for the exception being handled; call it only inside a catch block. An
// svckit::Error becomes its problem+json; anything else a 500 whose detail is logged, never sent.
Response response_for_current_exception(const Request& req);

// Turns svckit::Error (and anything else thrown) into problem+json responses. App installs it
// right after the metrics middleware, so metrics and logs see the final status.
Middleware problem_responses();

}  // namespace svckit::http
