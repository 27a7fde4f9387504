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

#include "svckit/metrics/sharded.hpp"

namespace svckit::metrics {

inline constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

class Registry {
 public:
  Registry();

  prometheus::Family<prometheus::Counter>& counter(const std::string& name,
                                                   const std::string& help);
  prometheus::Family<prometheus::Gauge>& gauge(const std::string& name, const std::string& help);
  prometheus::Family<prometheus::Histogram>& histogram(const std::string& name,
                                                       const std::string& help);
  prometheus::Family<prometheus::Summary>& summary(const std::string& name,
                                                   const std::string& help);

  // Families for series that every request counts from several threads (sharded.hpp). One
  // name, one family: a second call with the name returns the first's.
  ShardedFamily<ShardedCounter>& sharded_counter(const std::string& name, const std::string& help);
  ShardedFamily<ShardedHistogram>& sharded_histogram(const std::string& name,
                                                     const std::string& help);

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
  mutable std::mutex mutex_;  // guards collectables_
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables_;
  std::map<std::string, std::shared_ptr<prometheus::Collectable>> sharded_;  // by name

  template <class Family>
  Family& sharded(const std::string& name, const std::string& help);
};

// Buckets of Python's prometheus_client, so dashboards built for the monolith keep working.
const prometheus::Histogram::BucketBoundaries& default_latency_buckets();

}  // namespace svckit::metrics
