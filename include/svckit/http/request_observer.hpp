#pragma once
// Told of every request a Server runs through its middleware chain, before and after, without
// a coroutine frame: a middleware that only counts or times (metrics) would cost one per
// request. Both calls come from the request's own loop; neither may throw or block.
#include "svckit/http/request.hpp"
#include "svckit/http/response.hpp"

namespace svckit::http {

class RequestObserver {
 public:
  virtual ~RequestObserver() = default;
  // The request is routed (Request::route()) and about to enter the chain.
  virtual void started(const Request& req) = 0;
  // The answer the client gets (a thrown error already its problem+json answer) and the
  // seconds since the request arrived.
  virtual void finished(const Request& req, const Response& res, double seconds) = 0;
};

}  // namespace svckit::http
