#pragma once
// RED metrics for HTTP with prometheus-fastapi-instrumentator's names and labels:
//   http_requests_total{handler,method,status}    status grouped as 2xx, 4xx, ...
//   http_request_duration_seconds{handler,method} histogram
//   http_request_size_bytes{handler}, http_response_size_bytes{handler} summaries
//   http_requests_inprogress{handler,method}      gauge
//   http_requests_errors_total{handler,method,error_type}   the seed's error counter
// `handler` is the route template, "none" when no route matched.
#include <memory>

#include "svckit/http/handler.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::metrics {

class HttpMetrics {
 public:
  explicit HttpMetrics(Registry& registry);
  ~HttpMetrics();

  http::Middleware middleware();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// "validation" for 422, "not_found" for 404, "server" for 5xx, ...
const char* error_type_for_status(int status);

}  // namespace svckit::metrics
