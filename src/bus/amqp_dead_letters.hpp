#pragma once
// Dead-letter tooling over its own short-lived connection (blocking; run on a pool thread).
// Browsing takes each message without acknowledging it and closes the channel at the end, so
// the broker puts them all back where they were.
#include <string>
#include <vector>

#include "amqp_link.hpp"
#include "svckit/bus/bus.hpp"

namespace svckit::bus::detail {

std::vector<DeadLetter> browse_dead_letters(const AmqpAddress& address, const std::string& group,
                                            std::size_t limit);
// Moves the dead letter whose event id is `event_id` back to the group's queue with its attempt
// count cleared; false when the group's dead-letter queue holds no such event.
bool replay_dead_letter(const AmqpAddress& address, const std::string& group,
                        const std::string& event_id);

}  // namespace svckit::bus::detail
