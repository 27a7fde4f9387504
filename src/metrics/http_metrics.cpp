#include "svckit/metrics/http_metrics.hpp"

#include "svckit/http/handler.hpp"
#include "svckit/http/router.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

namespace svckit::metrics {
namespace {

const char* kStatusClass[] = {"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"};

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

const char* error_type_for_status(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthenticated";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 415:
      return "unsupported_media_type";
    case 422:
      return "validation";
    case 429:
      return "rate_limited";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "server" : "client";
  }
}

// The cells of one (handler, method), shared by every thread (each counts into its own shard of
// them, svckit/meter.hpp) and found by each thread through a cache of its own, so that the hot
// path takes no lock and builds no key.
struct RouteCells {
  meter::Histogram* duration;  // http_request_duration_seconds
  meter::Gauge* inprogress;    // http_requests_inprogress
  // http_request_size_bytes / http_response_size_bytes: _count and _sum only, like
  // prometheus_client's Summary.
  meter::Summary* request_size;
  meter::Summary* response_size;
  // http_requests_total by status / 100 (5 for nonsense), made when first counted: a scrape
  // shows the classes that happened, as prometheus-cpp leaves out a child never counted.
  std::array<std::atomic<meter::Counter*>, 6> requests{};
  std::string handler;
  std::string method;
};

struct HttpMetrics::Impl {
  explicit Impl(Registry& r)
      : registry(r),
        errors(r.counter("http_requests_errors_total",
                         "Requests answered with an error status, by error type.")) {}

  Registry& registry;
  prometheus::Family<prometheus::Counter>& errors;

  // Never reused, unlike an address: keys the per-thread caches of every HttpMetrics ever made.
  const std::uint64_t instance_id = next_instance_id();
  static std::uint64_t next_instance_id() {
    static std::atomic<std::uint64_t> next{1};
    return next++;
  }

  std::mutex mutex;
  std::unordered_map<std::string, std::unique_ptr<RouteCells>> by_series;  // "METHOD handler"

  RouteCells& lookup(std::string_view handler, std::string_view method) {
    std::string key;
    key.reserve(handler.size() + method.size() + 1);
    key.append(method).append(" ").append(handler);
    std::lock_guard lock(mutex);
    auto& slot = by_series[key];
    if (!slot) slot = new_cells(std::string(handler), std::string(method));
    return *slot;
  }

  std::unique_ptr<RouteCells> new_cells(std::string handler, std::string method) {
    auto c = std::make_unique<RouteCells>();
    const meter::Labels both = {{"handler", handler}, {"method", method}};
    c->duration = &registry
                       .histograms("http_request_duration_seconds",
                                   "Latency of HTTP requests by handler and method.")
                       .add(both, meter::latency_buckets());
    c->inprogress = &registry
                         .gauges("http_requests_inprogress",
                                 "Number of HTTP requests in progress by handler and method.")
                         .add(both);
    c->request_size = &registry
                           .summaries("http_request_size_bytes",
                                      "Content length of incoming requests by handler.")
                           .add({{"handler", handler}});
    c->response_size = &registry
                            .summaries("http_response_size_bytes",
                                       "Content length of outgoing responses by handler.")
                            .add({{"handler", handler}});
    c->handler = std::move(handler);
    c->method = std::move(method);
    return c;
  }

  meter::Counter& requests(RouteCells& c, std::size_t cls) {
    if (auto* counter = c.requests[cls].load(std::memory_order_acquire)) return *counter;
    auto* counter =
        &registry
             .counters("http_requests_total",
                       "Total number of requests by method, status and handler.")
             .add({{"handler", c.handler}, {"method", c.method}, {"status", kStatusClass[cls]}});
    c.requests[cls].store(counter, std::memory_order_release);  // a race stores the same cell
    return *counter;
  }

  // The cells of a matched route (or of "none"), remembered per thread.
  RouteCells& cells_for(const http::Request& req) {
    struct Key {
      std::uint64_t owner;
      const void* route;
      http::Method method;
      bool operator==(const Key&) const = default;
    };
    struct KeyHash {
      std::size_t operator()(const Key& k) const {
        return std::hash<const void*>()(k.route) * 31 + k.owner * 7 +
               static_cast<std::size_t>(k.method);
      }
    };
    thread_local std::unordered_map<Key, RouteCells*, KeyHash> cache;
    // In front of the map, the last cells this thread used: started() and finished() of one
    // request ask for the same ones, and a busy route asks again and again.
    thread_local std::pair<Key, RouteCells*> last{Key{0, nullptr, http::Method::get}, nullptr};
    Key key{instance_id, req.matched_route(), req.method()};
    if (last.second && last.first == key) return *last.second;
    if (auto it = cache.find(key); it != cache.end()) {
      last = {key, it->second};
      return *it->second;
    }
    std::string_view handler = req.route().empty() ? std::string_view("none") : req.route();
    RouteCells& c = lookup(handler, http::method_name(req.method()));
    cache.emplace(key, &c);
    last = {key, &c};
    return c;
  }

  void record(RouteCells& c, int status, std::size_t request_bytes, std::size_t response_bytes,
              double seconds) {
    c.duration->observe(seconds);
    c.request_size->observe(request_bytes);
    c.response_size->observe(response_bytes);
    std::size_t cls = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 5;
    requests(c, cls).increment();
    if (status >= 400)
      errors
          .Add({{"handler", c.handler},
                {"method", c.method},
                {"error_type", error_type_for_status(status)}})
          .Increment();
  }
};

HttpMetrics::HttpMetrics(Registry& registry) : impl_(std::make_shared<Impl>(registry)) {}
HttpMetrics::~HttpMetrics() = default;

http::Middleware HttpMetrics::middleware() {
  return [impl = impl_](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    RouteCells& s = impl->cells_for(req);
    s.inprogress->add(1);
    auto started = std::chrono::steady_clock::now();
    http::Response response;
    try {
      response = co_await next(req);
    } catch (...) {  // its problem answer, here: the status counted is the one the client gets
      response = http::response_for_current_exception(req);
    }
    s.inprogress->add(-1);
    impl->record(s, response.status, req.body().size(), response.body.size(),
                 seconds_since(started));
    co_return response;
  };
}

std::shared_ptr<http::RequestObserver> HttpMetrics::observer() {
  // A class of this member function's own: it sees Impl.
  class Observer : public http::RequestObserver {
   public:
    explicit Observer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
    // The same thread's cells both times: a request stays on its loop.
    void started(const http::Request& req) override { impl_->cells_for(req).inprogress->add(1); }
    void finished(const http::Request& req, const http::Response& res, double seconds) override {
      RouteCells& s = impl_->cells_for(req);
      s.inprogress->add(-1);
      impl_->record(s, res.status, req.body().size(), res.body.size(), seconds);
    }

   private:
    std::shared_ptr<Impl> impl_;
  };
  return std::make_shared<Observer>(impl_);
}

void HttpMetrics::started(std::string_view handler, std::string_view method) {
  impl_->lookup(handler, method).inprogress->add(1);
}

void HttpMetrics::finished(std::string_view handler, std::string_view method, int status,
                           double seconds, std::size_t request_bytes, std::size_t response_bytes) {
  RouteCells& s = impl_->lookup(handler, method);
  s.inprogress->add(-1);
  impl_->record(s, status, request_bytes, response_bytes, std::max(0.0, seconds));
}

}  // namespace svckit::metrics
