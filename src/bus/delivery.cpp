#include "delivery.hpp"

namespace svckit::bus::detail {

Task<HandlerResult> run_handler(const Handler& handler, const Event& event) {
  HandlerResult result;
  try {
    result.outcome = co_await handler(event);
  } catch (const std::exception& e) {
    result.outcome = Outcome::retry;
    result.reason = e.what();
  }
  if (result.outcome == Outcome::retry && result.reason.empty())
    result.reason = "the handler asked for a retry";
  co_return result;
}

Verdict judge(Outcome outcome, int attempts, const RetryPolicy& retry) {
  if (outcome != Outcome::retry) return {Verdict::acknowledge};
  if (attempts >= retry.max_attempts) return {Verdict::dead_letter};
  return {Verdict::retry, retry.backoff(attempts)};
}

}  // namespace svckit::bus::detail
