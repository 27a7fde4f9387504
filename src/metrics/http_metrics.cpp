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

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

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

// One thread's cells for one (handler, method), resolved once and then used without label
// lookups; summed over threads when scraped. Each I/O thread writes only its own cells, on
// cache lines of their own: two threads counting the same route never write the same line, as
// prometheus-cpp's counters and gauges (one atomic double each, shared) and its Histogram (a
// mutex per Observe) would make them. The Python bindings' started()/finished() share one set
// per series, from whatever thread calls.
struct alignas(64) RouteSeries {
  // http_request_duration_seconds: one counter per bucket of default_latency_buckets() plus
  // +Inf, non-cumulative; made cumulative at scrape time.
  std::array<std::atomic<std::uint64_t>, 15> duration_buckets{};
  std::atomic<double> duration_sum{0};
  std::atomic<std::int64_t> inprogress{0};
  std::array<std::atomic<std::uint64_t>, 6> requests{};  // by status / 100 (5 for nonsense)
  // The size summaries carry only _count and _sum, like prometheus_client's Summary.
  std::atomic<std::uint64_t> sizes_observed{0};
  std::atomic<std::uint64_t> request_bytes{0};
  std::atomic<std::uint64_t> response_bytes{0};
  std::string handler;
  std::string method;
};

struct HttpMetrics::Impl : prometheus::Collectable {
  explicit Impl(Registry& r)
      : errors(r.counter("http_requests_errors_total",
                         "Requests answered with an error status, by error type.")) {}

  prometheus::Family<prometheus::Counter>& errors;

  // Never reused, unlike an address: keys the per-thread caches of every HttpMetrics ever made.
  const std::uint64_t instance_id = next_instance_id();
  static std::uint64_t next_instance_id() {
    static std::atomic<std::uint64_t> next{1};
    return next++;
  }

  mutable std::mutex mutex;
  std::vector<std::unique_ptr<RouteSeries>> cells;             // every thread's, for Collect()
  std::unordered_map<std::string, RouteSeries*> shared_cells;  // started()/finished()'s

  RouteSeries& new_cells(std::string_view handler, std::string_view method) {  // under mutex
    auto s = std::make_unique<RouteSeries>();
    s->handler = std::string(handler);
    s->method = std::string(method);
    cells.push_back(std::move(s));
    return *cells.back();
  }

  RouteSeries& lookup(std::string_view handler, std::string_view method) {
    std::string key;
    key.reserve(handler.size() + method.size() + 1);
    key.append(method).append(" ").append(handler);
    std::lock_guard lock(mutex);
    auto& slot = shared_cells[key];
    if (!slot) slot = &new_cells(handler, method);
    return *slot;
  }

  // This thread's cells for a matched route (or for "none"), remembered per thread so that the
  // hot path takes no lock and builds no key.
  RouteSeries& series_for(const http::Request& req) {
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
    thread_local std::unordered_map<Key, RouteSeries*, KeyHash> cache;
    // In front of the map, the last series this thread used: started() and finished() of one
    // request ask for the same one, and a busy route asks again and again.
    thread_local std::pair<Key, RouteSeries*> last{Key{0, nullptr, http::Method::get}, nullptr};
    Key key{instance_id, req.matched_route(), req.method()};
    if (last.second && last.first == key) return *last.second;
    if (auto it = cache.find(key); it != cache.end()) {
      last = {key, it->second};
      return *it->second;
    }
    std::string_view handler = req.route().empty() ? std::string_view("none") : req.route();
    std::lock_guard lock(mutex);
    RouteSeries& s = new_cells(handler, http::method_name(req.method()));
    cache.emplace(key, &s);
    last = {key, &s};
    return s;
  }

  void record(RouteSeries& s, int status, std::size_t request_bytes, std::size_t response_bytes,
              double seconds) {
    const auto& bounds = default_latency_buckets();
    std::size_t bucket = std::lower_bound(bounds.begin(), bounds.end(), seconds) - bounds.begin();
    s.duration_buckets[bucket].fetch_add(1, std::memory_order_relaxed);
    s.duration_sum.fetch_add(seconds, std::memory_order_relaxed);
    s.sizes_observed.fetch_add(1, std::memory_order_relaxed);
    s.request_bytes.fetch_add(request_bytes, std::memory_order_relaxed);
    s.response_bytes.fetch_add(response_bytes, std::memory_order_relaxed);
    std::size_t cls = status >= 100 && status < 600 ? static_cast<std::size_t>(status / 100) : 5;
    s.requests[cls].fetch_add(1, std::memory_order_relaxed);
    if (status >= 400)
      errors
          .Add({{"handler", s.handler},
                {"method", s.method},
                {"error_type", error_type_for_status(status)}})
          .Increment();
  }

  // Every thread's cells summed per (handler, method); the size summaries per handler.
  std::vector<prometheus::MetricFamily> Collect() const override {
    struct Totals {
      std::array<std::uint64_t, 15> buckets{};
      double sum = 0;
      std::int64_t inprogress = 0;
      std::array<std::uint64_t, 6> requests{};
    };
    std::map<std::pair<std::string, std::string>, Totals> by_series;
    std::map<std::string, std::array<std::uint64_t, 3>> by_handler;
    {
      std::lock_guard lock(mutex);
      for (const auto& s : cells) {
        auto& t = by_series[{s->handler, s->method}];
        for (std::size_t i = 0; i < t.buckets.size(); ++i)
          t.buckets[i] += s->duration_buckets[i].load(std::memory_order_relaxed);
        t.sum += s->duration_sum.load(std::memory_order_relaxed);
        t.inprogress += s->inprogress.load(std::memory_order_relaxed);
        for (std::size_t i = 0; i < t.requests.size(); ++i)
          t.requests[i] += s->requests[i].load(std::memory_order_relaxed);
        auto& sizes = by_handler[s->handler];
        sizes[0] += s->sizes_observed.load(std::memory_order_relaxed);
        sizes[1] += s->request_bytes.load(std::memory_order_relaxed);
        sizes[2] += s->response_bytes.load(std::memory_order_relaxed);
      }
    }
    auto family = [](const char* name, const char* help, prometheus::MetricType type) {
      prometheus::MetricFamily f;
      f.name = name;
      f.help = help;
      f.type = type;
      return f;
    };
    auto requests =
        family("http_requests_total", "Total number of requests by method, status and handler.",
               prometheus::MetricType::Counter);
    auto inprogress = family("http_requests_inprogress",
                             "Number of HTTP requests in progress by handler and method.",
                             prometheus::MetricType::Gauge);
    auto duration =
        family("http_request_duration_seconds", "Latency of HTTP requests by handler and method.",
               prometheus::MetricType::Histogram);
    const auto& bounds = default_latency_buckets();
    for (const auto& [series, t] : by_series) {
      const auto& [handler, method] = series;
      for (std::size_t cls = 1; cls < t.requests.size(); ++cls) {
        if (!t.requests[cls]) continue;  // as prometheus-cpp leaves out a child never counted
        prometheus::ClientMetric m;
        m.label = {{"handler", handler}, {"method", method}, {"status", kStatusClass[cls]}};
        m.counter.value = static_cast<double>(t.requests[cls]);
        requests.metric.push_back(std::move(m));
      }
      prometheus::ClientMetric g;
      g.label = {{"handler", handler}, {"method", method}};
      g.gauge.value = static_cast<double>(t.inprogress);
      inprogress.metric.push_back(std::move(g));
      prometheus::ClientMetric h;
      h.label = {{"handler", handler}, {"method", method}};
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += t.buckets[i];
        prometheus::ClientMetric::Bucket b;
        b.cumulative_count = cumulative;
        b.upper_bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
        h.histogram.bucket.push_back(b);
      }
      h.histogram.sample_count = cumulative;
      h.histogram.sample_sum = t.sum;
      duration.metric.push_back(std::move(h));
    }
    auto sizes = [&](const char* name, const char* help, std::size_t sum_index) {
      auto f = family(name, help, prometheus::MetricType::Summary);
      for (const auto& [handler, totals] : by_handler) {
        prometheus::ClientMetric m;
        m.label.push_back({"handler", handler});
        m.summary.sample_count = totals[0];
        m.summary.sample_sum = static_cast<double>(totals[sum_index]);
        f.metric.push_back(std::move(m));
      }
      return f;
    };
    return {
        std::move(requests), std::move(inprogress), std::move(duration),
        sizes("http_request_size_bytes", "Content length of incoming requests by handler.", 1),
        sizes("http_response_size_bytes", "Content length of outgoing responses by handler.", 2)};
  }
};

HttpMetrics::HttpMetrics(Registry& registry) : impl_(std::make_shared<Impl>(registry)) {
  if (default_latency_buckets().size() + 1 != RouteSeries{}.duration_buckets.size())
    throw std::logic_error("duration_buckets must hold every latency bucket plus +Inf");
  registry.add_collectable(impl_);
}
HttpMetrics::~HttpMetrics() = default;

http::Middleware HttpMetrics::middleware() {
  return [impl = impl_](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    RouteSeries& s = impl->series_for(req);
    s.inprogress.fetch_add(1, std::memory_order_relaxed);
    auto started = std::chrono::steady_clock::now();
    http::Response response;
    try {
      response = co_await next(req);
    } catch (...) {  // its problem answer, here: the status counted is the one the client gets
      response = http::response_for_current_exception(req);
    }
    s.inprogress.fetch_sub(1, std::memory_order_relaxed);
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
    void started(const http::Request& req) override {
      impl_->series_for(req).inprogress.fetch_add(1, std::memory_order_relaxed);
    }
    void finished(const http::Request& req, const http::Response& res, double seconds) override {
      RouteSeries& s = impl_->series_for(req);
      s.inprogress.fetch_sub(1, std::memory_order_relaxed);
      impl_->record(s, res.status, req.body().size(), res.body.size(), seconds);
    }

   private:
    std::shared_ptr<Impl> impl_;
  };
  return std::make_shared<Observer>(impl_);
}

void HttpMetrics::started(std::string_view handler, std::string_view method) {
  impl_->lookup(handler, method).inprogress.fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::finished(std::string_view handler, std::string_view method, int status,
                           double seconds, std::size_t request_bytes, std::size_t response_bytes) {
  RouteSeries& s = impl_->lookup(handler, method);
  s.inprogress.fetch_sub(1, std::memory_order_relaxed);
  impl_->record(s, status, request_bytes, response_bytes, std::max(0.0, seconds));
}

}  // namespace svckit::metrics
