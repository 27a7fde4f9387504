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
Task<HandlerResult> run_handler(const Handler& handler, const Event& event);

struct Verdict {
  enum Kind { acknowledge, retry, dead_letter } kind;
  std::chrono::milliseconds backoff{0};  // before a retry
};
// After `attempts` deliveries (this one included) that ended in `outcome`.
Verdict judge(Outcome outcome, int attempts, const RetryPolicy& retry);

}  // namespace svckit::bus::detail
