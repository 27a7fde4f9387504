#include "svckit/metrics/registry.hpp"

#include <algorithm>
#include <limits>
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

prometheus::ClientMetric& series(prometheus::MetricFamily& family, const meter::Labels& labels) {
  auto& m = family.metric.emplace_back();
  for (const auto& [name, value] : labels) m.label.push_back({name, value});
  return m;
}

void fill(prometheus::ClientMetric::Histogram& out, const meter::Histogram& h) {
  auto t = h.totals();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < t.counts.size(); ++i) {
    cumulative += t.counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < h.bounds().size() ? h.bounds()[i] : std::numeric_limits<double>::infinity();
    out.bucket.push_back(b);
  }
  out.sample_count = cumulative;
  out.sample_sum = t.sum;
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

template <class Cell>
meter::Family<Cell>& Registry::family(const std::string& name, const std::string& help) {
  std::lock_guard lock(mutex_);
  auto& slot = families_[name];
  if (!slot) slot = std::make_unique<meter::Family<Cell>>(name, help);
  auto* family = dynamic_cast<meter::Family<Cell>*>(slot.get());
  if (!family) throw std::invalid_argument("metric " + name + " is already of another type");
  return *family;
}

meter::Family<meter::Counter>& Registry::counters(const std::string& name,
                                                  const std::string& help) {
  return family<meter::Counter>(name, help);
}

meter::Family<meter::Histogram>& Registry::histograms(const std::string& name,
                                                      const std::string& help) {
  return family<meter::Histogram>(name, help);
}

meter::Family<meter::Gauge>& Registry::gauges(const std::string& name, const std::string& help) {
  return family<meter::Gauge>(name, help);
}

meter::Family<meter::Summary>& Registry::summaries(const std::string& name,
                                                   const std::string& help) {
  return family<meter::Summary>(name, help);
}

// The meter's families as Prometheus's: the one export of svckit's cells.
std::vector<prometheus::MetricFamily> Registry::collect_families() const {
  std::vector<prometheus::MetricFamily> out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, base] : families_) {
    auto& family = out.emplace_back(prometheus::MetricFamily{name, base->help(), {}, {}});
    switch (base->kind()) {
      case meter::Kind::counter:
        family.type = prometheus::MetricType::Counter;
        static_cast<const meter::Family<meter::Counter>&>(*base).for_each(
            [&](const meter::Labels& labels, const meter::Counter& c) {
              series(family, labels).counter.value = static_cast<double>(c.value());
            });
        break;
      case meter::Kind::gauge:
        family.type = prometheus::MetricType::Gauge;
        static_cast<const meter::Family<meter::Gauge>&>(*base).for_each(
            [&](const meter::Labels& labels, const meter::Gauge& g) {
              series(family, labels).gauge.value = g.value();
            });
        break;
      case meter::Kind::summary:
        family.type = prometheus::MetricType::Summary;
        static_cast<const meter::Family<meter::Summary>&>(*base).for_each(
            [&](const meter::Labels& labels, const meter::Summary& s) {
              auto& m = series(family, labels).summary;
              m.sample_count = s.count();
              m.sample_sum = static_cast<double>(s.sum());
            });
        break;
      case meter::Kind::histogram:
        family.type = prometheus::MetricType::Histogram;
        static_cast<const meter::Family<meter::Histogram>&>(*base).for_each(
            [&](const meter::Labels& labels, const meter::Histogram& h) {
              fill(series(family, labels).histogram, h);
            });
        break;
    }
  }
  return out;
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
  auto mine = collect_families();
  families.insert(families.end(), std::make_move_iterator(mine.begin()),
                  std::make_move_iterator(mine.end()));
  for (const auto& c : collectables) {
    auto more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
  }
  return prometheus::TextSerializer().Serialize(merged(std::move(families)));
}

}  // namespace svckit::metrics
