#include "svckit/metrics/registry.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <prometheus/text_serializer.h>

namespace svckit::metrics {
namespace {

// Adds `more` into `into`: both have the same name, type and labels.
void add_into(prometheus::ClientMetric& into, const prometheus::ClientMetric& more,
              prometheus::MetricType type) {
  switch (type) {
    case prometheus::MetricType::Counter:
      into.counter.value += more.counter.value;
      break;
    case prometheus::MetricType::Untyped:
      into.untyped.value += more.untyped.value;
      break;
    case prometheus::MetricType::Summary:
      into.summary.sample_count += more.summary.sample_count;
      into.summary.sample_sum += more.summary.sample_sum;
      break;
    case prometheus::MetricType::Histogram:
      into.histogram.sample_count += more.histogram.sample_count;
      into.histogram.sample_sum += more.histogram.sample_sum;
      if (into.histogram.bucket.size() == more.histogram.bucket.size())
        for (std::size_t i = 0; i < into.histogram.bucket.size(); ++i)
          into.histogram.bucket[i].cumulative_count += more.histogram.bucket[i].cumulative_count;
      break;
    default:  // gauges and anything else: the first one stands
      break;
  }
}

// One family per name, one series per label set, labels in name order (as prometheus-cpp's own
// families keep them).
std::vector<prometheus::MetricFamily> merged(std::vector<prometheus::MetricFamily> families) {
  std::vector<prometheus::MetricFamily> out;
  std::map<std::string, std::size_t> family_at;                          // by name
  std::map<std::pair<std::size_t, std::string>, std::size_t> series_at;  // by family and labels
  for (auto& f : families) {
    auto [it, fresh] = family_at.emplace(f.name, out.size());
    if (fresh) out.push_back(prometheus::MetricFamily{f.name, f.help, f.type, {}});
    auto& family = out[it->second];
    for (auto& m : f.metric) {
      std::sort(m.label.begin(), m.label.end(),
                [](const auto& a, const auto& b) { return a.name < b.name; });
      std::string key;
      for (const auto& l : m.label)
        key.append(l.name).append(1, '\0').append(l.value).append(1, '\0');
      auto [at, new_series] =
          series_at.emplace(std::pair{it->second, std::move(key)}, family.metric.size());
      if (new_series)
        family.metric.push_back(std::move(m));
      else
        add_into(family.metric[at->second], m, family.type);
    }
  }
  // As prometheus-cpp leaves out its own families that have no series yet.
  std::erase_if(out, [](const auto& f) { return f.metric.empty(); });
  return out;
}

}  // namespace

Registry::Registry() : registry_(std::make_shared<prometheus::Registry>()) {}

prometheus::Family<prometheus::Counter>& Registry::counter(const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(*registry_);
}

prometheus::Family<prometheus::Gauge>& Registry::gauge(const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(*registry_);
}

prometheus::Family<prometheus::Histogram>& Registry::histogram(const std::string& name,
                                                               const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(*registry_);
}

prometheus::Family<prometheus::Summary>& Registry::summary(const std::string& name,
                                                           const std::string& help) {
  return prometheus::BuildSummary().Name(name).Help(help).Register(*registry_);
}

template <class Family>
Family& Registry::sharded(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = sharded_[name];
  if (!slot) {
    slot = std::make_shared<Family>(name, help);
    collectables_.push_back(slot);
  }
  auto* family = dynamic_cast<Family*>(slot.get());
  if (!family) throw std::invalid_argument("metric " + name + " is already of another type");
  return *family;
}

ShardedFamily<ShardedCounter>& Registry::sharded_counter(const std::string& name,
                                                         const std::string& help) {
  return sharded<ShardedFamily<ShardedCounter>>(name, help);
}

ShardedFamily<ShardedHistogram>& Registry::sharded_histogram(const std::string& name,
                                                             const std::string& help) {
  return sharded<ShardedFamily<ShardedHistogram>>(name, help);
}

void Registry::add_collectable(std::shared_ptr<prometheus::Collectable> collectable) {
  std::lock_guard lock(mutex_);
  collectables_.push_back(std::move(collectable));
}

std::string Registry::render() const {
  auto families = registry_->Collect();
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables;
  {
    std::lock_guard lock(mutex_);
    collectables = collectables_;
  }
  for (const auto& c : collectables) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(merged(std::move(families)));
}

const prometheus::Histogram::BucketBoundaries& default_latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries kBuckets = {
      0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0};
  return kBuckets;
}

}  // namespace svckit::metrics
