#pragma once
// What svckit declares on RabbitMQ (docs/bus.md draws it):
//   svckit.events   topic exchange, durable: every event, routed by its type
//   <group>         durable queue per group, bound with the group's patterns; what its consumers
//                   reject goes to svckit.dead with the group as the routing key
//   svckit.dead     direct exchange, durable
//   <group>.dlq     durable queue per group, bound to svckit.dead by the group's name
// Retries are re-published to <group> through the default exchange with an attempt count.
#include <amqp.h>

#include <string>
#include <vector>

namespace svckit::bus::detail {

inline constexpr const char* kEventsExchange = "svckit.events";
inline constexpr const char* kDeadExchange = "svckit.dead";
std::string dead_letter_queue(const std::string& group);

void declare_exchanges(amqp_connection_state_t conn);
void declare_group(amqp_connection_state_t conn, const std::string& group,
                   const std::vector<std::string>& patterns);
// Messages in `queue`; throws AmqpFailure (and the channel closes) when it does not exist.
std::uint32_t queue_depth(amqp_connection_state_t conn, const std::string& queue);

}  // namespace svckit::bus::detail
