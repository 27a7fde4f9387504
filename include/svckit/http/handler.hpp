#pragma once
// A handler is a function from a request to a response; middleware is a function that wraps the
// next handler (Go net/http style). Both are coroutines.
#include <functional>
#include <span>

#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

using Handler = std::function<Task<Response>(Request&)>;
using Middleware = std::function<Task<Response>(Request&, const Handler& next)>;

// Wraps `handler` so that middleware[0] runs first and calls middleware[1], ..., then handler.
Handler chain(std::span<const Middleware> middleware, Handler handler);

// The response for the exception being handled; call it only inside a catch block. An
// svckit::Error becomes its problem+json; anything else a 500 whose detail is logged, never sent.
Response response_for_current_exception(const Request& req);

// Turns svckit::Error (and anything else thrown) into problem+json responses. App installs it
// right after the metrics middleware, so metrics and logs see the final status.
Middleware problem_responses();

}  // namespace svckit::http
