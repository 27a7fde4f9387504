#pragma once
// A circuit breaker per upstream. Closed: calls go through and outcomes are counted. It opens
// after `consecutive_failures` failures in a row, or when at least `min_calls` calls in the last
// `window` failed in a share ≥ `failure_ratio`. Open: calls are refused at once for
// `open_duration`. Half-open: up to `half_open_probes` calls go through; a success closes it, a
// failure opens it again. Thread-safe; the clock is injectable for tests. A closed breaker lets
// calls through and tells its state without its lock, and so does a success that changes
// nothing (closed, no failure streak, no failure ratio to count): every call of a busy
// upstream's threads would otherwise take that one lock twice or more.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace svckit {

struct CircuitBreakerOptions {
  int consecutive_failures = 5;
  double failure_ratio = 0.5;
  int min_calls = 20;
  std::chrono::milliseconds window{10000};
  std::chrono::milliseconds open_duration{5000};
  int half_open_probes = 1;
};

class CircuitBreaker {
 public:
  enum class State { closed = 0, open = 1, half_open = 2 };
  using Clock = std::chrono::steady_clock;
  // Called outside the breaker's lock on every state change (metrics, logs).
  using Listener = std::function<void(State from, State to)>;

  explicit CircuitBreaker(CircuitBreakerOptions options = {},
                          std::function<Clock::time_point()> clock = Clock::now);

  // May a call go out now? In half-open state a true answer takes one of the probe slots, which
  // the call's record_success() or record_failure() gives back.
  bool allow();
  void record_success();
  void record_failure();
  // A call let through that ended without an outcome (cancelled): gives its probe slot back.
  void release();
  State state() const;
  // How long until an open breaker lets a probe through; zero unless open.
  std::chrono::milliseconds retry_after() const;
  void on_state_change(Listener listener);

 private:
  struct Bucket {
    std::int64_t second = -1;
    int calls = 0;
    int failures = 0;
  };
  static constexpr int kBuckets = 16;
  State state_locked(Clock::time_point now);
  void count(Clock::time_point now, bool failed);
  bool ratio_tripped(Clock::time_point now) const;
  void transition(State to, Clock::time_point now);
  void record(bool failed);
  void publish();  // the lock-free mirrors below, after a change under the lock

  CircuitBreakerOptions options_;
  std::function<Clock::time_point()> clock_;
  Listener listener_;
  mutable std::mutex mutex_;
  State state_ = State::closed;
  int consecutive_ = 0;
  int probes_in_flight_ = 0;
  Clock::time_point opened_at_{};
  Bucket buckets_[kBuckets];  // one per window/kBuckets slice, a ring
  bool counts_ratio_;         // failure_ratio can trip it (≤ 1)
  std::atomic<bool> closed_{true};
  std::atomic<bool> quiet_{true};  // closed, no failure streak: a success changes nothing
};

std::string_view to_string(CircuitBreaker::State state);

}  // namespace svckit
