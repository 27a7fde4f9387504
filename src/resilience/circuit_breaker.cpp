#include "svckit/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace svckit {
namespace {

using Clock = CircuitBreaker::Clock;

}  // namespace

std::string_view to_string(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::closed:
      return "closed";
    case CircuitBreaker::State::open:
      return "open";
    case CircuitBreaker::State::half_open:
      return "half_open";
  }
  return "closed";
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options,
                               std::function<Clock::time_point()> clock)
    : options_(options), clock_(std::move(clock)), counts_ratio_(options.failure_ratio <= 1.0) {
  options_.half_open_probes = std::max(1, options_.half_open_probes);
  options_.consecutive_failures = std::max(1, options_.consecutive_failures);
  options_.min_calls = std::max(1, options_.min_calls);
  if (options_.window.count() < kBuckets) options_.window = std::chrono::milliseconds(kBuckets);
}

void CircuitBreaker::on_state_change(Listener listener) {
  std::lock_guard lock(mutex_);
  listener_ = std::move(listener);
}

// An open breaker becomes half-open once open_duration has passed; checked lazily on use.
CircuitBreaker::State CircuitBreaker::state_locked(Clock::time_point now) {
  if (state_ == State::open && now - opened_at_ >= options_.open_duration) {
    state_ = State::half_open;
    probes_in_flight_ = 0;
  }
  return state_;
}

void CircuitBreaker::transition(State to, Clock::time_point now) {
  state_ = to;
  consecutive_ = 0;
  probes_in_flight_ = 0;
  if (to == State::open) opened_at_ = now;
  if (to == State::closed)
    for (auto& b : buckets_) b = Bucket{};
}

void CircuitBreaker::count(Clock::time_point now, bool failed) {
  auto slice = options_.window / kBuckets;
  std::int64_t index = now.time_since_epoch() / slice;
  Bucket& b = buckets_[index % kBuckets];
  if (b.second != index) b = Bucket{index, 0, 0};
  ++b.calls;
  if (failed) ++b.failures;
}

bool CircuitBreaker::ratio_tripped(Clock::time_point now) const {
  auto slice = options_.window / kBuckets;
  std::int64_t index = now.time_since_epoch() / slice;
  int calls = 0, failures = 0;
  for (const auto& b : buckets_)
    if (b.second > index - kBuckets) {
      calls += b.calls;
      failures += b.failures;
    }
  return calls >= options_.min_calls &&
         static_cast<double>(failures) >= options_.failure_ratio * static_cast<double>(calls);
}

void CircuitBreaker::publish() {
  closed_.store(state_ == State::closed, std::memory_order_release);
  quiet_.store(state_ == State::closed && consecutive_ == 0, std::memory_order_release);
}

bool CircuitBreaker::allow() {
  if (closed_.load(std::memory_order_acquire)) return true;  // closed changes only on a record
  std::unique_lock lock(mutex_);
  auto before = state_;
  auto now = clock_();
  bool allowed = false;
  switch (state_locked(now)) {
    case State::closed:
      allowed = true;
      break;
    case State::open:
      allowed = false;
      break;
    case State::half_open:
      allowed = probes_in_flight_ < options_.half_open_probes;
      if (allowed) ++probes_in_flight_;
      break;
  }
  auto after = state_;
  publish();
  auto listener = before != after ? listener_ : Listener{};
  lock.unlock();
  if (listener) listener(before, after);
  return allowed;
}

void CircuitBreaker::record_success() {
  record(/*failed=*/false);
}

void CircuitBreaker::record_failure() {
  record(/*failed=*/true);
}

void CircuitBreaker::record(bool failed) {
  // Concurrent outcomes have no order among themselves: a success skipped here is one that
  // came first.
  if (!failed && !counts_ratio_ && quiet_.load(std::memory_order_acquire)) return;
  std::unique_lock lock(mutex_);
  auto now = clock_();
  State from = state_locked(now);
  State to = from;
  if (from == State::half_open) {  // the probe decides
    to = failed ? State::open : State::closed;
  } else if (from == State::closed) {
    consecutive_ = failed ? consecutive_ + 1 : 0;
    count(now, failed);
    if (failed && (consecutive_ >= options_.consecutive_failures || ratio_tripped(now)))
      to = State::open;
  }
  if (to != from) transition(to, now);
  publish();
  auto listener = from != to ? listener_ : Listener{};
  lock.unlock();
  if (listener) listener(from, to);
}

void CircuitBreaker::release() {
  std::lock_guard lock(mutex_);
  if (state_ == State::half_open && probes_in_flight_ > 0) --probes_in_flight_;
}

CircuitBreaker::State CircuitBreaker::state() const {
  if (closed_.load(std::memory_order_acquire)) return State::closed;
  std::lock_guard lock(mutex_);
  if (state_ == State::open && clock_() - opened_at_ >= options_.open_duration)
    return State::half_open;
  return state_;
}

std::chrono::milliseconds CircuitBreaker::retry_after() const {
  std::lock_guard lock(mutex_);
  if (state_ != State::open) return std::chrono::milliseconds(0);
  auto left = options_.open_duration - (clock_() - opened_at_);
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(left));
}

}  // namespace svckit
