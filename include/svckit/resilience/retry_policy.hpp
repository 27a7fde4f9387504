#pragma once
// When to try again and how long to wait first: a bounded number of attempts with constant or
// exponential backoff, capped, with full jitter (AWS's "Exponential Backoff and Jitter") so that
// clients that failed together do not retry together.
#include <chrono>
#include <cstdint>

namespace svckit {

struct RetryPolicy {
  int max_attempts = 3;  // the first try included; 1 means no retries
  std::chrono::milliseconds initial_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
  double multiplier = 2.0;  // 1.0 is a constant backoff
  bool jitter = true;       // a uniform draw in [0, backoff] instead of the backoff itself

  static RetryPolicy none() { return RetryPolicy{.max_attempts = 1}; }

  // The wait before attempt `attempt` + 1, after `attempt` failures (attempt ≥ 1). `random01`
  // is a draw in [0, 1) used only with jitter.
  std::chrono::milliseconds backoff(int attempt, double random01) const;
  // The same with a draw from a per-thread generator.
  std::chrono::milliseconds backoff(int attempt) const;
};

}  // namespace svckit
