#include "bus_metrics.hpp"

namespace svckit::bus::detail {
namespace {

constexpr const char* kOutcomeNames[] = {"success", "retry", "drop"};

}  // namespace

void BusMetrics::DeliveryCells::record(Outcome outcome, double handling_seconds) const {
  outcomes[static_cast<int>(outcome)]->increment();
  if (outcome != Outcome::retry) acked->increment();
  handling->observe(handling_seconds);
}

BusMetrics::BusMetrics(meter::Meter* m, std::string backend) : meter_(m) {
  if (m)
    connected_ = &m->gauges("bus_connected", "1 while the bus can publish and consume.")
                      .add({{"backend", std::move(backend)}});
}

const BusMetrics::PublishCells* BusMetrics::publish_cells(const std::string& type) {
  if (!meter_) return nullptr;
  std::lock_guard lock(mutex_);
  if (auto it = publishes_.find(type); it != publishes_.end()) return &it->second;
  PublishCells cells{
      &meter_->counters("bus_messages_published_total", "Events published, by type.")
           .add({{"type", type}}),
      &meter_
           ->counters("bus_messages_confirmed_total",
                      "Events the backend took responsibility for (a broker's confirm), by type.")
           .add({{"type", type}})};
  return &publishes_.emplace(type, cells).first->second;
}

const BusMetrics::DeliveryCells* BusMetrics::delivery_cells(const std::string& group,
                                                            const std::string& type) {
  if (!meter_) return nullptr;
  std::lock_guard lock(mutex_);
  auto key = std::pair{group, type};
  if (auto it = deliveries_.find(key); it != deliveries_.end()) return &it->second;
  DeliveryCells cells{};
  auto& consumed =
      meter_->counters("bus_messages_consumed_total",
                       "Deliveries handled, by group, type and outcome (success, retry, drop).");
  for (int o = 0; o < 3; ++o)
    cells.outcomes[o] =
        &consumed.add({{"group", group}, {"outcome", kOutcomeNames[o]}, {"type", type}});
  cells.acked = &meter_
                     ->counters("bus_messages_acked_total",
                                "Deliveries acknowledged (handled, dropped or settled after a "
                                "retry), by group and type.")
                     .add({{"group", group}, {"type", type}});
  cells.handling =
      &meter_
           ->histograms("bus_handler_duration_seconds", "Time a consumer's handler took, by group.")
           .add({{"group", group}}, meter::latency_buckets());
  return &deliveries_.emplace(std::move(key), cells).first->second;
}

meter::Gauge* BusMetrics::depth_gauge(const std::string& group) {
  if (!meter_) return nullptr;
  return &meter_->gauges("bus_queue_depth", "Events waiting in a group's queue, where known.")
              .add({{"group", group}});
}

void BusMetrics::published(const std::string& type) {
  if (auto* c = publish_cells(type)) c->published->increment();
}

void BusMetrics::confirmed(const std::string& type) {
  if (auto* c = publish_cells(type)) c->confirmed->increment();
}

void BusMetrics::consumed(const std::string& group, const std::string& type, Outcome outcome,
                          double seconds) {
  if (auto* c = delivery_cells(group, type)) c->record(outcome, seconds);
}

void BusMetrics::retried(const std::string& group) {
  if (meter_)
    meter_->counters("bus_messages_retried_total", "Deliveries scheduled again, by group.")
        .add({{"group", group}})
        .increment();
}

void BusMetrics::dead_lettered(const std::string& group) {
  if (meter_)
    meter_
        ->counters("bus_messages_dead_lettered_total",
                   "Events moved to a dead-letter queue, by group.")
        .add({{"group", group}})
        .increment();
}

void BusMetrics::subscribed(const std::string& group) {
  if (!meter_) return;
  meter_->counters("bus_messages_retried_total", "Deliveries scheduled again, by group.")
      .add({{"group", group}});
  meter_
      ->counters("bus_messages_dead_lettered_total",
                 "Events moved to a dead-letter queue, by group.")
      .add({{"group", group}});
}

void BusMetrics::depth(const std::string& group, double events) {
  if (auto* g = depth_gauge(group)) g->set(events);
}

void BusMetrics::connected(bool up) {
  if (connected_) connected_->set(up ? 1 : 0);
}

}  // namespace svckit::bus::detail
