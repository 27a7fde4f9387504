#include "svckit/resilience/retry_policy.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace svckit {

std::chrono::milliseconds RetryPolicy::backoff(int attempt, double random01) const {
  double base = static_cast<double>(initial_backoff.count()) *
                std::pow(std::max(1.0, multiplier), std::max(0, attempt - 1));
  double capped = std::min(base, static_cast<double>(max_backoff.count()));
  double wait = jitter ? capped * std::clamp(random01, 0.0, 1.0) : capped;
  return std::chrono::milliseconds(static_cast<std::int64_t>(wait));
}

std::chrono::milliseconds RetryPolicy::backoff(int attempt) const {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return backoff(attempt, std::uniform_real_distribution<double>(0.0, 1.0)(generator));
}

}  // namespace svckit
