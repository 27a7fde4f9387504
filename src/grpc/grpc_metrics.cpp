#include "grpc_metrics.hpp"

#include <algorithm>
#include <limits>
#include <mutex>

#include <grpcpp/server_context.h>
#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include "svckit/grpc/status.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::grpc::detail {
namespace {

constexpr auto kRelaxed = std::memory_order_relaxed;
constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

struct GrpcMetrics::Series {
  const MethodInfo* method;
  std::atomic<std::uint64_t> started{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> sent{0};
  std::array<std::atomic<std::uint64_t>, kCodes> handled{};
  std::array<std::atomic<std::uint64_t>, 15> buckets{};  // default_latency_buckets() and +Inf
  std::atomic<double> seconds{0};
};

// The collectable the registry scrapes. It holds the series map by reference: the map is full
// before the first call and never changes after, and the GrpcMetrics outlives the App's
// registry renders (both belong to the App).
struct GrpcMetrics::Export : prometheus::Collectable {
  mutable std::mutex mutex;  // guards `owner` going away
  const GrpcMetrics* owner;
  explicit Export(const GrpcMetrics* o) : owner(o) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    auto family = [](const char* name, const char* help, MetricType type) {
      return prometheus::MetricFamily{name, help, type, {}};
    };
    auto started =
        family("grpc_server_started_total", "RPCs started on the server.", MetricType::Counter);
    auto handled = family("grpc_server_handled_total",
                          "RPCs completed on the server, regardless of success or failure.",
                          MetricType::Counter);
    auto received = family("grpc_server_msg_received_total",
                           "RPC stream messages received on the server.", MetricType::Counter);
    auto sent = family("grpc_server_msg_sent_total", "gRPC stream messages sent on the server.",
                       MetricType::Counter);
    auto handling =
        family("grpc_server_handling_seconds",
               "Response latency of gRPC calls handled by the server.", MetricType::Histogram);
    std::lock_guard lock(mutex);
    if (!owner) return {};
    const auto& bounds = metrics::default_latency_buckets();
    for (const auto& [info, s] : owner->series_) {
      auto labels = [&] {
        prometheus::ClientMetric m;
        m.label = {{"grpc_method", info->name},
                   {"grpc_service", info->service},
                   {"grpc_type", info->type}};
        return m;
      };
      auto counter = [&](prometheus::MetricFamily& f, std::uint64_t value) {
        auto m = labels();
        m.counter.value = static_cast<double>(value);
        f.metric.push_back(std::move(m));
      };
      counter(started, s->started.load(kRelaxed));
      counter(received, s->received.load(kRelaxed));
      counter(sent, s->sent.load(kRelaxed));
      for (int code = 0; code < kCodes; ++code) {
        auto n = s->handled[code].load(kRelaxed);
        if (n == 0) continue;
        auto m = labels();
        m.label.push_back(
            {"grpc_code", std::string(code_name(static_cast<::grpc::StatusCode>(code)))});
        m.counter.value = static_cast<double>(n);
        handled.metric.push_back(std::move(m));
      }
      auto h = labels();
      std::uint64_t cumulative = 0;
      for (std::size_t i = 0; i <= bounds.size(); ++i) {
        cumulative += s->buckets[i].load(kRelaxed);
        h.histogram.bucket.push_back(
            {cumulative, i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity()});
      }
      h.histogram.sample_count = cumulative;
      h.histogram.sample_sum = s->seconds.load(kRelaxed);
      handling.metric.push_back(std::move(h));
    }
    return {std::move(started), std::move(handled), std::move(received), std::move(sent),
            std::move(handling)};
  }
};

GrpcMetrics::GrpcMetrics(metrics::Registry& registry) : export_(std::make_shared<Export>(this)) {
  if (metrics::default_latency_buckets().size() + 1 != Series{}.buckets.size())
    throw std::logic_error("GrpcMetrics buckets must hold every latency bucket plus +Inf");
  registry.add_collectable(export_);
}

GrpcMetrics::~GrpcMetrics() {
  std::lock_guard lock(export_->mutex);
  export_->owner = nullptr;
}

void GrpcMetrics::add(const MethodInfo& method) {
  std::lock_guard lock(export_->mutex);
  auto& slot = series_[&method];
  if (!slot) {
    slot = std::make_unique<Series>();
    slot->method = &method;
  }
}

GrpcMetrics::Series* GrpcMetrics::series(const MethodInfo& method) const {
  auto it = series_.find(&method);
  return it == series_.end() ? nullptr : it->second.get();
}

std::optional<Task<void>> GrpcMetrics::before(Call& call) {
  if (auto* s = series(call.method())) {
    s->started.fetch_add(1, kRelaxed);
    s->received.fetch_add(1, kRelaxed);  // unary and server-streaming calls bring one message
  }
  return std::nullopt;
}

void GrpcMetrics::after(Call& call, const ::grpc::Status& status) noexcept {
  auto* s = series(call.method());
  if (!s) return;
  int code = std::clamp(static_cast<int>(status.error_code()), 0, kCodes - 1);
  s->handled[code].fetch_add(1, kRelaxed);
  if (status.ok() && call.method().type == "unary") s->sent.fetch_add(1, kRelaxed);
  double took = seconds_since(call.received_at());
  const auto& bounds = metrics::default_latency_buckets();
  auto bucket = std::lower_bound(bounds.begin(), bounds.end(), took) - bounds.begin();
  s->buckets[static_cast<std::size_t>(bucket)].fetch_add(1, kRelaxed);
  s->seconds.fetch_add(took, kRelaxed);
}

void GrpcMetrics::sent(const MethodInfo& method) noexcept {
  if (auto* s = series(method)) s->sent.fetch_add(1, kRelaxed);
}

}  // namespace svckit::grpc::detail
