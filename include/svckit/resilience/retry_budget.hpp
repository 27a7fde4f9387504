#pragma once
// Retries as a share of requests, so that retries cannot multiply the load on an upstream that is
// already failing (Finagle's and gRPC's retry budgets). Each request deposits `ratio` of a retry;
// each retry withdraws one. A floor of `min_per_second` keeps retries possible at low traffic.
// Thread-safe.
#include <chrono>
#include <functional>
#include <mutex>

namespace svckit {

struct RetryBudgetOptions {
  double ratio = 0.2;          // at most one retry per five requests, sustained
  double min_per_second = 10;  // retries allowed regardless of traffic
  double max_balance = 100;    // what quiet periods can save up
};

class RetryBudget {
 public:
  using Clock = std::chrono::steady_clock;
  explicit RetryBudget(RetryBudgetOptions options = {},
                       std::function<Clock::time_point()> clock = Clock::now);

  // A first attempt went out.
  void record_request();
  // Takes one retry from the budget; false when it is spent (do not retry).
  bool try_spend();
  double balance() const;

 private:
  void refill(Clock::time_point now);
  RetryBudgetOptions options_;
  std::function<Clock::time_point()> clock_;
  mutable std::mutex mutex_;
  double balance_;
  Clock::time_point updated_;
};

}  // namespace svckit
