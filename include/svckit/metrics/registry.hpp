#pragma once
// The metrics registry App owns: prometheus-cpp underneath, text format 0.0.4 out.
// Services add their business metrics here: registry.counter("tasks_created_total", "...").
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/summary.h>

#include "svckit/meter.hpp"

namespace svckit::metrics {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Also the Meter that svckit's protocols count into: their cells are exported on every scrape.
class Registry : public meter::Meter {
 public:
  Registry();

  prometheus::Family<prometheus::Counter>& counter(const std::string& name,
                                                   const std::string& help);
  prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Histogram>& histogram(const std::string& name,
                                                       const std::string& help);
  prometheus::Family<prometheus::Summary>& summary(const std::string& name,
                                                   const std::string& help);

  // Families of sharded cells (svckit/meter.hpp), for what every request counts.
  meter::Family<meter::Counter>& counters(const std::string& name,
                                          const std::string& help) override;
  meter::Family<meter::Histogram>& histograms(const std::string& name,
                                              const std::string& help) override;
  meter::Family<meter::Gauge>& gauges(const std::string& name, const std::string& help) override;
  meter::Family<meter::Summary>& summaries(const std::string& name,
                                           const std::string& help) override;

  // Collected on every scrape (process metrics, queue depths, ...). Families of one name from
  // several collectables are rendered as one, and series with the same labels are summed
  // (counters, histograms, summaries; of gauges the first is kept): a component can count into
  // shards of its own (one per thread or consumer) and export each.
  void add_collectable(std::shared_ptr<prometheus::Collectable> collectable);

  // Everything in Prometheus text format 0.0.4.
  std::string render() const;

  prometheus::Registry& prometheus() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_;  // guards collectables_ and families_
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::map<std::string, std::unique_ptr<meter::FamilyBase>> families_;  // by name

  template <class Cell>
  meter::Family<Cell>& family(const std::string& name, const std::string& help);
  std::vector<prometheus::MetricFamily> collect_families() const;
};

// Buckets of Python's prometheus_client, so dashboards built for the monolith keep working.
inline const prometheus::Histogram::BucketBoundaries& default_latency_buckets() {
  return meter::latency_buckets();
}

}  // namespace svckit::metrics
