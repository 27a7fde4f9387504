#pragma once
// RED metrics for HTTP with prometheus-fastapi-instrumentator's names and labels:
//   http_requests_total{handler,method,status}    status grouped as 2xx, 4xx, ...
//   http_request_duration_seconds{handler,method} histogram
//   http_request_size_bytes{handler}, http_response_size_bytes{handler} summaries
//   http_requests_inprogress{handler,method}      gauge
//   http_requests_errors_total{handler,method,error_type}   the seed's error counter
// `handler` is the route template, "none" when no route matched.
#include <cstddef>
#include <memory>
#include <string_view>

#include "svckit/http/handler.hpp"
#include "svckit/http/request_observer.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::metrics {

class HttpMetrics {
 public:
  explicit HttpMetrics(Registry& registry);
  ~HttpMetrics();

  // Counts and times every request through it. An exception thrown inside becomes its
  // problem+json answer here (http::response_for_current_exception), so the status counted is
  // the one the client gets and nothing outside sees an exception.
  http::Middleware middleware();
  // The same counts as a Server's observer (Server::observe), without the middleware's
  // coroutine frame per request: what App installs. The server answers exceptions itself.
  std::shared_ptr<http::RequestObserver> observer();

  // The same series for a server that is not svckit's (the Python bindings' FastAPI middleware):
  // started() when a request arrives, finished() once it is answered. `handler` is the route
  // template ("none" for unmatched paths), `method` upper case.
  void started(std::string_view handler, std::string_view method);
  void finished(std::string_view handler, std::string_view method, int status, double seconds,
                std::size_t request_bytes, std::size_t response_bytes);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "validation" for 422, "not_found" for 404, "server" for 5xx, ...
const char* error_type_for_status(int status);

}  // namespace svckit::metrics
