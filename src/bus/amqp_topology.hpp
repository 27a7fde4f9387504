#pragma once
// What svckit declares on RabbitMQ (docs/bus.md draws it):
//   svckit.events   topic exchange, durable: every event, routed by its type
//   <group>         durable queue per group, bound with the group's patterns; what its consumers
//                   reject goes to svckit.dead with the group as the routing key
//   svckit.dead     direct exchange, durable
//   <group>.dlq     durable queue per group, bound to svckit.dead by the group's name
// Retries are re-published to <group> through the default exchange with an attempt count.
#include <amqp.h>

#include <cstdint>
#include <string>
#include <vector>

namespace svckit::bus::detail {

inline constexpr const char* kEventsExchange = "svckit.events";
inline constexpr const char* kDeadExchange = "svckit.dead";
std::string dead_letter_queue(const std::string& group);

void declare_exchanges(amqp_connection_state_t conn);
// A group's queue: the patterns bound to it, and its x-expires (0: none).
struct GroupQueue {
  std::vector<std::string> patterns;
  std::int64_t expires_ms = 0;
  bool operator==(const GroupQueue&) const = default;
};
void declare_group(amqp_connection_state_t conn, const std::string& group, const GroupQueue& queue);
// Messages in `queue`; throws AmqpFailure (and the channel closes) when it does not exist.
std::uint32_t queue_depth(amqp_connection_state_t conn, const std::string& queue);

}  // namespace svckit::bus::detail
