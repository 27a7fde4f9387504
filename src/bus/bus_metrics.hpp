#pragma once
// The bus's metrics, the same for every backend (docs/bus.md lists them). Children are looked up
// once per label set: prometheus-cpp's own lookup hashes the labels under a lock on every call.
#include <map>
#include <mutex>
#include <string>

#include "svckit/bus/bus.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::bus::detail {

class BusMetrics {
 public:
  BusMetrics(metrics::Registry* registry, std::string backend);

  // The children one group and type count into, for a backend to keep beside its own state
  // (the in-process bus looks them up once per type under its lock). Null without a registry.
  struct TypeCounters {
    prometheus::Counter* consumed[3] = {};  // by Outcome
    prometheus::Counter* acked = nullptr;
    prometheus::Histogram* handling = nullptr;
  };
  TypeCounters counters(const std::string& group, const std::string& type);
  static void consumed(const TypeCounters& c, Outcome outcome, double seconds);
  struct PublishCounters {
    prometheus::Counter* published = nullptr;
    prometheus::Counter* confirmed = nullptr;
  };
  PublishCounters publish_counters(const std::string& type);
  prometheus::Gauge* depth_gauge(const std::string& group);

  void published(const std::string& type);
  void confirmed(const std::string& type);
  void consumed(const std::string& group, const std::string& type, Outcome outcome, double seconds);
  void retried(const std::string& group);
  void dead_lettered(const std::string& group);
  void depth(const std::string& group, double events);
  void connected(bool up);

 private:
  struct GroupChildren {
    prometheus::Gauge* depth;
    prometheus::Histogram* handling;
    prometheus::Counter* retried;
    prometheus::Counter* dead_lettered;
  };
  GroupChildren& group(const std::string& name);
  prometheus::Counter& child(prometheus::Family<prometheus::Counter>& family,
                             const std::map<std::string, std::string>& labels);

  metrics::Registry* registry_;
  std::string backend_;
  std::mutex mutex_;
  std::map<std::string, GroupChildren, std::less<>> groups_;
  std::map<std::string, prometheus::Counter*, std::less<>> counters_;  // by family + labels
  prometheus::Family<prometheus::Counter>* published_ = nullptr;
  prometheus::Family<prometheus::Counter>* confirmed_ = nullptr;
  prometheus::Family<prometheus::Counter>* consumed_ = nullptr;
  prometheus::Family<prometheus::Counter>* acked_ = nullptr;
  prometheus::Family<prometheus::Counter>* retried_ = nullptr;
  prometheus::Family<prometheus::Counter>* dead_lettered_ = nullptr;
  prometheus::Family<prometheus::Histogram>* handling_ = nullptr;
  prometheus::Family<prometheus::Gauge>* depth_ = nullptr;
  prometheus::Gauge* connected_ = nullptr;
};

}  // namespace svckit::bus::detail
