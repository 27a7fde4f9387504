#include "bus_metrics.hpp"

#include <algorithm>
#include <limits>
#include <tuple>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace svckit::bus::detail {
namespace {

constexpr const char* kOutcomeNames[] = {"success", "retry", "drop"};
constexpr auto kRelaxed = std::memory_order_relaxed;

prometheus::ClientMetric metric(prometheus::ClientMetric::Label a,
                                prometheus::ClientMetric::Label b = {},
                                prometheus::ClientMetric::Label c = {}) {
  prometheus::ClientMetric m;
  for (auto& l : {a, b, c})
    if (!l.name.empty()) m.label.push_back(l);
  return m;
}

prometheus::MetricFamily family(const char* name, const char* help, prometheus::MetricType type) {
  return prometheus::MetricFamily{name, help, type, {}};
}

}  // namespace

BusMetrics::PublishSeries::Slot& BusMetrics::PublishSeries::mine() {
  static std::atomic<unsigned> next{0};
  thread_local const unsigned slot = next++ % 8;
  return slots[slot];
}

void BusMetrics::DeliverySeries::record(Outcome outcome, double handling_seconds) {
  outcomes[static_cast<int>(outcome)].fetch_add(1, kRelaxed);
  if (outcome != Outcome::retry) acked.fetch_add(1, kRelaxed);
  const auto& bounds = metrics::default_latency_buckets();
  auto bucket = std::lower_bound(bounds.begin(), bounds.end(), handling_seconds) - bounds.begin();
  buckets[static_cast<std::size_t>(bucket)].fetch_add(1, kRelaxed);
  seconds.fetch_add(handling_seconds, kRelaxed);
}

struct BusMetrics::Series : prometheus::Collectable {
  mutable std::mutex mutex;
  std::map<std::string, std::unique_ptr<PublishSeries>, std::less<>> publishes;  // by type
  // By group, type and owner: stable addresses, never removed while the bus lives.
  std::map<std::tuple<std::string, std::string, const void*>, std::unique_ptr<DeliverySeries>>
      deliveries;

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    auto published =
        family("bus_messages_published_total", "Events published, by type.", MetricType::Counter);
    auto confirmed =
        family("bus_messages_confirmed_total",
               "Events the backend took responsibility for (a broker's confirm), by type.",
               MetricType::Counter);
    auto consumed = family("bus_messages_consumed_total",
                           "Deliveries handled, by group, type and outcome (success, retry, drop).",
                           MetricType::Counter);
    auto acked = family(
        "bus_messages_acked_total",
        "Deliveries acknowledged (handled, dropped or settled after a retry), by group and type.",
        MetricType::Counter);
    auto handling = family("bus_handler_duration_seconds",
                           "Time a consumer's handler took, by group.", MetricType::Histogram);
    std::lock_guard lock(mutex);
    for (const auto& [type, s] : publishes) {
      std::uint64_t p = 0, c = 0;
      for (const auto& slot : s->slots) {
        p += slot.published.load(kRelaxed);
        c += slot.confirmed.load(kRelaxed);
      }
      auto m = metric({"type", type});
      m.counter.value = static_cast<double>(p);
      published.metric.push_back(m);
      m.counter.value = static_cast<double>(c);
      confirmed.metric.push_back(std::move(m));
    }
    const auto& bounds = metrics::default_latency_buckets();
    for (const auto& [key, s] : deliveries) {
      const auto& [group, type, owner] = key;
      for (int o = 0; o < 3; ++o) {
        auto m = metric({"group", group}, {"outcome", kOutcomeNames[o]}, {"type", type});
        m.counter.value = static_cast<double>(s->outcomes[o].load(kRelaxed));
        consumed.metric.push_back(std::move(m));
      }
      auto a = metric({"group", group}, {"type", type});
      a.counter.value = static_cast<double>(s->acked.load(kRelaxed));
      acked.metric.push_back(std::move(a));
      auto h = metric({"group", group});  // summed over types and owners by the registry
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
    return {std::move(published), std::move(confirmed), std::move(consumed), std::move(acked),
            std::move(handling)};
  }
};

BusMetrics::BusMetrics(metrics::Registry* r, std::string backend)
    : registry_(r), backend_(std::move(backend)) {
  if (!r) return;
  if (metrics::default_latency_buckets().size() + 1 != DeliverySeries{}.buckets.size())
    throw std::logic_error("DeliverySeries::buckets must hold every latency bucket plus +Inf");
  series_ = std::make_shared<Series>();
  r->add_collectable(series_);
  retried_ = &r->counter("bus_messages_retried_total", "Deliveries scheduled again, by group.");
  dead_lettered_ = &r->counter("bus_messages_dead_lettered_total",
                               "Events moved to a dead-letter queue, by group.");
  depth_ = &r->gauge("bus_queue_depth", "Events waiting in a group's queue, where known.");
  connected_ = &r->gauge("bus_connected", "1 while the bus can publish and consume.")
                    .Add({{"backend", backend_}});
}

BusMetrics::~BusMetrics() = default;

BusMetrics::GroupChildren& BusMetrics::group(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it != groups_.end()) return it->second;
  GroupChildren g{&depth_->Add({{"group", name}}), &retried_->Add({{"group", name}}),
                  &dead_lettered_->Add({{"group", name}})};
  return groups_.emplace(name, g).first->second;
}

BusMetrics::PublishSeries* BusMetrics::publish_series(const std::string& type) {
  if (!series_) return nullptr;
  std::lock_guard lock(series_->mutex);
  auto& slot = series_->publishes[type];
  if (!slot) slot = std::make_unique<PublishSeries>();
  return slot.get();
}

BusMetrics::DeliverySeries* BusMetrics::delivery_series(const std::string& group,
                                                        const std::string& type,
                                                        const void* owner) {
  if (!series_) return nullptr;
  std::lock_guard lock(series_->mutex);
  auto& slot = series_->deliveries[{group, type, owner}];
  if (!slot) slot = std::make_unique<DeliverySeries>();
  return slot.get();
}

prometheus::Gauge* BusMetrics::depth_gauge(const std::string& name) {
  return registry_ ? group(name).depth : nullptr;
}

void BusMetrics::published(const std::string& type) {
  if (auto* s = publish_series(type)) s->mine().published.fetch_add(1, kRelaxed);
}

void BusMetrics::confirmed(const std::string& type) {
  if (auto* s = publish_series(type)) s->mine().confirmed.fetch_add(1, kRelaxed);
}

void BusMetrics::consumed(const std::string& group_name, const std::string& type, Outcome outcome,
                          double seconds) {
  if (auto* s = delivery_series(group_name, type)) s->record(outcome, seconds);
}

void BusMetrics::retried(const std::string& name) {
  if (registry_) group(name).retried->Increment();
}

void BusMetrics::dead_lettered(const std::string& name) {
  if (registry_) group(name).dead_lettered->Increment();
}

void BusMetrics::depth(const std::string& name, double events) {
  if (registry_) group(name).depth->Set(events);
}

void BusMetrics::connected(bool up) {
  if (connected_) connected_->Set(up ? 1 : 0);
}

}  // namespace svckit::bus::detail
