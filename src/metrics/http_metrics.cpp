#include "svckit/metrics/http_metrics.hpp"

#include <array>
#include <chrono>
#include <mutex>
#include <unordered_map>

namespace svckit::metrics {
namespace {

const char* kStatusClass[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};

}  // namespace

const char* error_type_for_status(int status) {
  switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthenticated";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 422: return "validation";
    case 429: return "rate_limited";
    case 503: return "unavailable";
    default: return status >= 500 ? "server" : "client";
  }
}

// The series of one (handler, method), resolved once and then used without label lookups.
struct RouteSeries {
  prometheus::Histogram* duration;
  prometheus::Gauge* inprogress;
  prometheus::Summary* request_size;
  prometheus::Summary* response_size;
  std::array<prometheus::Counter*, 6> requests{};  // by status / 100
  std::string handler;
  std::string method;
};

struct HttpMetrics::Impl {
  explicit Impl(Registry& r)
      : requests(r.counter("http_requests_total", "Total number of requests by method, status and handler.")),
        duration(r.histogram("http_request_duration_seconds",
                             "Latency with only few buckets by handler and method.")),
        request_size(r.summary("http_request_size_bytes",
                               "Content length of incoming requests by handler.")),
        response_size(r.summary("http_response_size_bytes",
                                "Content length of outgoing responses by handler.")),
        inprogress(r.gauge("http_requests_inprogress",
                           "Number of HTTP requests in progress by handler and method.")),
        errors(r.counter("http_requests_errors_total",
                         "Requests answered with an error status, by error type.")) {}

  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Summary>& request_size;
  prometheus::Family<prometheus::Summary>& response_size;
  prometheus::Family<prometheus::Gauge>& inprogress;
  prometheus::Family<prometheus::Counter>& errors;

  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<RouteSeries>> series;

  RouteSeries& lookup(std::string_view handler, std::string_view method) {
    std::string key;
    key.reserve(handler.size() + method.size() + 1);
    key.append(method).append(" ").append(handler);
    std::lock_guard lock(mutex);
    auto& slot = series[key];
    if (!slot) {
      slot = std::make_unique<RouteSeries>();
      slot->handler = std::string(handler);
      slot->method = std::string(method);
      prometheus::Labels hm = {{"handler", slot->handler}, {"method", slot->method}};
      prometheus::Labels h = {{"handler", slot->handler}};
      slot->duration = &duration.Add(hm, default_latency_buckets());
      slot->inprogress = &inprogress.Add(hm);
      slot->request_size = &request_size.Add(h, prometheus::Summary::Quantiles{});
      slot->response_size = &response_size.Add(h, prometheus::Summary::Quantiles{});
    }
    return *slot;
  }

  prometheus::Counter& requests_counter(RouteSeries& s, int status) {
    std::size_t cls = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 5;
    std::lock_guard lock(mutex);
    auto& slot = s.requests[cls];
    if (!slot)
      slot = &requests.Add(
          {{"handler", s.handler}, {"method", s.method}, {"status", kStatusClass[cls]}});
    return *slot;
  }

  void record(RouteSeries& s, const http::Request& req, int status, std::size_t response_bytes,
              std::chrono::steady_clock::duration elapsed) {
    s.duration->Observe(std::chrono::duration<double>(elapsed).count());
    s.request_size->Observe(static_cast<double>(req.body().size()));
    s.response_size->Observe(static_cast<double>(response_bytes));
    requests_counter(s, status).Increment();
    if (status >= 400)
      errors
          .Add({{"handler", s.handler},
                {"method", s.method},
                {"error_type", error_type_for_status(status)}})
          .Increment();
  }
};

HttpMetrics::HttpMetrics(Registry& registry) : impl_(std::make_shared<Impl>(registry)) {}
HttpMetrics::~HttpMetrics() = default;

http::Middleware HttpMetrics::middleware() {
  return [impl = impl_](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    // Unmatched paths share one series: raw paths would let clients explode the cardinality.
    std::string_view handler = req.route().empty() ? std::string_view("none") : req.route();
    RouteSeries& s = impl->lookup(handler, http::method_name(req.method()));
    s.inprogress->Increment();
    auto started = std::chrono::steady_clock::now();
    http::Response response;
    try {
      response = co_await next(req);
    } catch (...) {
      s.inprogress->Decrement();
      impl->record(s, req, 500, 0, std::chrono::steady_clock::now() - started);
      throw;
    }
    s.inprogress->Decrement();
    impl->record(s, req, response.status, response.body.size(),
                 std::chrono::steady_clock::now() - started);
    co_return response;
  };
}

}  // namespace svckit::metrics
