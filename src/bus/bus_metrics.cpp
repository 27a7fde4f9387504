#include "bus_metrics.hpp"

namespace svckit::bus::detail {

BusMetrics::BusMetrics(metrics::Registry* r, std::string backend)
    : registry_(r), backend_(std::move(backend)) {
  if (!r) return;
  published_ = &r->counter("bus_messages_published_total", "Events published, by type.");
  confirmed_ =
      &r->counter("bus_messages_confirmed_total",
                  "Events the backend took responsibility for (a broker's confirm), by type.");
  consumed_ = &r->counter("bus_messages_consumed_total",
                          "Deliveries handled, by group, type and outcome (success, retry, drop).");
  acked_ =
      &r->counter("bus_messages_acked_total",
                  "Deliveries acknowledged (handled, dropped or settled after a retry), by group "
                  "and type.");
  retried_ = &r->counter("bus_messages_retried_total", "Deliveries scheduled again, by group.");
  dead_lettered_ = &r->counter("bus_messages_dead_lettered_total",
                               "Events moved to a dead-letter queue, by group.");
  handling_ =
      &r->histogram("bus_handler_duration_seconds", "Time a consumer's handler took, by group.");
  depth_ = &r->gauge("bus_queue_depth", "Events waiting in a group's queue, where known.");
  connected_ = &r->gauge("bus_connected", "1 while the bus can publish and consume.")
                    .Add({{"backend", backend_}});
}

prometheus::Counter& BusMetrics::child(prometheus::Family<prometheus::Counter>& family,
                                       const std::map<std::string, std::string>& labels) {
  std::string key = std::to_string(reinterpret_cast<std::uintptr_t>(&family));
  for (const auto& [k, v] : labels) key.append(1, '\0').append(v);
  std::lock_guard lock(mutex_);
  auto it = counters_.find(key);
  if (it == counters_.end()) it = counters_.emplace(key, &family.Add(labels)).first;
  return *it->second;
}

BusMetrics::GroupChildren& BusMetrics::group(const std::string& name) {
  std::lock_guard lock(mutex_);
  auto it = groups_.find(name);
  if (it != groups_.end()) return it->second;
  GroupChildren g{&depth_->Add({{"group", name}}),
                  &handling_->Add({{"group", name}}, metrics::default_latency_buckets()),
                  &retried_->Add({{"group", name}}), &dead_lettered_->Add({{"group", name}})};
  return groups_.emplace(name, g).first->second;
}

BusMetrics::TypeCounters BusMetrics::counters(const std::string& group_name,
                                              const std::string& type) {
  TypeCounters c;
  if (!registry_) return c;
  static constexpr const char* kNames[] = {"success", "retry", "drop"};
  for (int i = 0; i < 3; ++i)
    c.consumed[i] =
        &child(*consumed_, {{"group", group_name}, {"type", type}, {"outcome", kNames[i]}});
  c.acked = &child(*acked_, {{"group", group_name}, {"type", type}});
  c.handling = group(group_name).handling;
  return c;
}

BusMetrics::PublishCounters BusMetrics::publish_counters(const std::string& type) {
  if (!registry_) return {};
  return {&child(*published_, {{"type", type}}), &child(*confirmed_, {{"type", type}})};
}

void BusMetrics::consumed(const TypeCounters& c, Outcome outcome, double seconds) {
  if (!c.acked) return;
  c.consumed[static_cast<int>(outcome)]->Increment();
  if (outcome != Outcome::retry) c.acked->Increment();
  c.handling->Observe(seconds);
}

prometheus::Gauge* BusMetrics::depth_gauge(const std::string& name) {
  return registry_ ? group(name).depth : nullptr;
}

void BusMetrics::published(const std::string& type) {
  if (registry_) child(*published_, {{"type", type}}).Increment();
}

void BusMetrics::confirmed(const std::string& type) {
  if (registry_) child(*confirmed_, {{"type", type}}).Increment();
}

void BusMetrics::consumed(const std::string& group_name, const std::string& type, Outcome outcome,
                          double seconds) {
  if (!registry_) return;
  static constexpr const char* kNames[] = {"success", "retry", "drop"};
  child(*consumed_, {{"group", group_name}, {"type", type}, {"outcome", kNames[int(outcome)]}})
      .Increment();
  if (outcome != Outcome::retry)
    child(*acked_, {{"group", group_name}, {"type", type}}).Increment();
  group(group_name).handling->Observe(seconds);
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
