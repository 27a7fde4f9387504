#include "svckit/resilience/retry_budget.hpp"

#include <algorithm>

namespace svckit {

RetryBudget::RetryBudget(RetryBudgetOptions options, std::function<Clock::time_point()> clock)
    : options_(options),
      clock_(std::move(clock)),
      balance_(std::min(options.max_balance, options.min_per_second)),
      updated_(clock_()) {}

void RetryBudget::refill(Clock::time_point now) {
  std::chrono::duration<double> elapsed = now - updated_;
  if (elapsed.count() <= 0) return;
  balance_ = std::min(options_.max_balance, balance_ + elapsed.count() * options_.min_per_second);
  updated_ = now;
}

void RetryBudget::record_request() {
  std::lock_guard lock(mutex_);
  balance_ = std::min(options_.max_balance, balance_ + options_.ratio);
}

bool RetryBudget::try_spend() {
  std::lock_guard lock(mutex_);
  refill(clock_());
  if (balance_ < 1.0 - 1e-9) return false;  // ten deposits of 0.1 make one retry
  balance_ = std::max(0.0, balance_ - 1.0);
  return true;
}

double RetryBudget::balance() const {
  std::lock_guard lock(mutex_);
  return balance_;
}

}  // namespace svckit
