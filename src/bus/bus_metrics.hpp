#pragma once
// The bus's metrics, the same for every backend (docs/bus.md lists them). What is counted per
// event (published, confirmed, consumed, acked, handling time) lives in atomics that the counting
// code holds a pointer to, and is summed into Prometheus families when scraped: prometheus-cpp's
// children hash their labels under a lock to be found, and its Histogram takes a mutex on every
// observation. The rarer counts (retries, dead letters, depth, connection) are prometheus-cpp's.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "svckit/bus/bus.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::bus::detail {

class BusMetrics {
 public:
  BusMetrics(metrics::Registry* registry, std::string backend);
  ~BusMetrics();

  // bus_messages_published_total / bus_messages_confirmed_total of one type, in a slot per
  // publishing thread (8, each on its own cache line) so that threads publishing the same type
  // do not pass one line back and forth.
  struct PublishSeries {
    struct alignas(64) Slot {
      std::atomic<std::uint64_t> published{0};
      std::atomic<std::uint64_t> confirmed{0};
    };
    std::array<Slot, 8> slots;
    Slot& mine();  // the calling thread's
  };
  // What one group's deliveries of one type came to, as counted by one owner.
  struct DeliverySeries {
    std::array<std::atomic<std::uint64_t>, 3> outcomes{};  // by Outcome
    std::atomic<std::uint64_t> acked{0};
    std::array<std::atomic<std::uint64_t>, 15> buckets{};  // default_latency_buckets() and +Inf
    std::atomic<double> seconds{0};
    void record(Outcome outcome, double handling_seconds);
  };

  // Null without a registry; otherwise valid as long as this object. Looked up under a lock:
  // callers on a hot path keep the pointer.
  PublishSeries* publish_series(const std::string& type);
  // `owner` keeps apart what different consumers count (each then counts without sharing a cache
  // line with the others); owners of one group and type are summed when scraped.
  DeliverySeries* delivery_series(const std::string& group, const std::string& type,
                                  const void* owner = nullptr);
  prometheus::Gauge* depth_gauge(const std::string& group);

  void published(const std::string& type);
  void confirmed(const std::string& type);
  void consumed(const std::string& group, const std::string& type, Outcome outcome, double seconds);
  void retried(const std::string& group);
  void dead_lettered(const std::string& group);
  void depth(const std::string& group, double events);
  void connected(bool up);

 private:
  struct Series;  // the atomics and their Prometheus export
  struct GroupChildren {
    prometheus::Gauge* depth;
    prometheus::Counter* retried;
    prometheus::Counter* dead_lettered;
  };
  GroupChildren& group(const std::string& name);

  metrics::Registry* registry_;
  std::string backend_;
  std::shared_ptr<Series> series_;  // shared with the registry, which collects it
  std::mutex mutex_;
  std::map<std::string, GroupChildren, std::less<>> groups_;
  prometheus::Family<prometheus::Counter>* retried_ = nullptr;
  prometheus::Family<prometheus::Counter>* dead_lettered_ = nullptr;
  prometheus::Family<prometheus::Gauge>* depth_ = nullptr;
  prometheus::Gauge* connected_ = nullptr;
};

}  // namespace svckit::bus::detail
