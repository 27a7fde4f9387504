#pragma once
// What every backend does with one delivery: run the handler (a throw is a retry with the
// exception as the reason) and decide between acknowledging, retrying and dead-lettering.
#include <chrono>
#include <string>

#include "svckit/bus/bus.hpp"

namespace svckit::bus::detail {

struct HandlerResult {
  Outcome outcome = Outcome::retry;
  std::string reason;  // why a retry, when the handler threw or asked for one
};
// Whether a delivery of `event` may be recorded (spans are exported and its trace is sampled).
// Asked once per delivery: run_handler() writes to the event when it was, so a backend that
// shares one event among its consumers gives each traced delivery a copy of its own.
bool traced(const Event& event);
// The handler's run; with `traced`, recorded as a CONSUMER span whose trace the event carries
// (Event::delivery_trace) while the handler runs. `system`: "rabbitmq" or "inproc".
Task<HandlerResult> run_handler(const Handler& handler, Event& event, std::string_view system,
                                bool traced);

struct Verdict {
  enum Kind { acknowledge, retry, dead_letter } kind;
  std::chrono::milliseconds backoff{0};  // before a retry
};
// After `attempts` deliveries (this one included) that ended in `outcome`.
Verdict judge(Outcome outcome, int attempts, const RetryPolicy& retry);

}  // namespace svckit::bus::detail
