#pragma once
// The bus's metrics, the same for every backend (docs/bus.md lists them), counted into the
// meter's cells (svckit/meter.hpp): what is counted per event (published, confirmed, consumed,
// acked, handling time) through cells looked up once per type and kept by the counting code.
#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "svckit/bus/bus.hpp"
#include "svckit/meter.hpp"

namespace svckit::bus::detail {

class BusMetrics {
 public:
  BusMetrics(meter::Meter* meter, std::string backend);  // counts nothing without a meter

  // bus_messages_published_total / bus_messages_confirmed_total of one type.
  struct PublishCells {
    meter::Counter* published;
    meter::Counter* confirmed;
  };
  // What one group's deliveries of one type came to.
  struct DeliveryCells {
    std::array<meter::Counter*, 3> outcomes;  // by Outcome
    meter::Counter* acked;
    meter::Histogram* handling;  // the group's: labelled by group only
    void record(Outcome outcome, double handling_seconds) const;
  };

  // Null without a meter; otherwise valid as long as this object. Looked up under a lock:
  // callers on a hot path keep the pointer.
  const PublishCells* publish_cells(const std::string& type);
  const DeliveryCells* delivery_cells(const std::string& group, const std::string& type);
  meter::Gauge* depth_gauge(const std::string& group);

  void published(const std::string& type);
  void confirmed(const std::string& type);
  void consumed(const std::string& group, const std::string& type, Outcome outcome, double seconds);
  void retried(const std::string& group);
  void dead_lettered(const std::string& group);
  // A group subscribed to: its retry and dead-letter counts are exported from 0 on, so that an
  // alert's increase() sees the first one.
  void subscribed(const std::string& group);
  void depth(const std::string& group, double events);
  void connected(bool up);

 private:
  meter::Meter* meter_;
  meter::Gauge* connected_ = nullptr;
  std::mutex mutex_;
  std::map<std::string, PublishCells, std::less<>> publishes_;  // by type
  std::map<std::pair<std::string, std::string>, DeliveryCells, std::less<>>
      deliveries_;  // by group, type
};

}  // namespace svckit::bus::detail
