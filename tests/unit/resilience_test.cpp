// Retry backoff, the retry budget, the circuit breaker's state machine and deadline arithmetic,
// with injected clocks.
#include <gtest/gtest.h>

#include <thread>

#include "svckit/resilience/circuit_breaker.hpp"
#include "svckit/resilience/deadline.hpp"
#include "svckit/resilience/retry_budget.hpp"
#include "svckit/resilience/retry_policy.hpp"

using namespace std::chrono_literals;
using svckit::CircuitBreaker;
using State = svckit::CircuitBreaker::State;
using Clock = std::chrono::steady_clock;

namespace {

struct FakeClock {
  Clock::time_point now = Clock::time_point(1000s);
  std::function<Clock::time_point()> fn() {
    return [this] { return now; };
  }
};

}  // namespace

TEST(RetryPolicy, ExponentialBackoffIsCappedWithoutJitter) {
  svckit::RetryPolicy p{.max_attempts = 10,
                        .initial_backoff = 100ms,
                        .max_backoff = 1000ms,
                        .multiplier = 2.0,
                        .jitter = false};
  EXPECT_EQ(p.backoff(1, 0.5), 100ms);
  EXPECT_EQ(p.backoff(2, 0.5), 200ms);
  EXPECT_EQ(p.backoff(3, 0.5), 400ms);
  EXPECT_EQ(p.backoff(4, 0.5), 800ms);
  EXPECT_EQ(p.backoff(5, 0.5), 1000ms);
  EXPECT_EQ(p.backoff(60, 0.5), 1000ms);  // no overflow far out
}

TEST(RetryPolicy, ConstantBackoff) {
  svckit::RetryPolicy p{.initial_backoff = 250ms, .multiplier = 1.0, .jitter = false};
  EXPECT_EQ(p.backoff(1, 0.1), 250ms);
  EXPECT_EQ(p.backoff(7, 0.9), 250ms);
}

TEST(RetryPolicy, FullJitterDrawsBetweenZeroAndTheBackoff) {
  svckit::RetryPolicy p{.initial_backoff = 100ms, .max_backoff = 10s, .multiplier = 2.0};
  EXPECT_EQ(p.backoff(3, 0.0), 0ms);
  EXPECT_EQ(p.backoff(3, 0.5), 200ms);
  EXPECT_EQ(p.backoff(3, 0.999), 399ms);
  bool differs = false;
  auto first = p.backoff(5);
  for (int i = 0; i < 50; ++i) {
    auto d = p.backoff(5);
    EXPECT_GE(d, 0ms);
    EXPECT_LE(d, 1600ms);
    differs |= d != first;
  }
  EXPECT_TRUE(differs) << "jitter must spread retries";
}

TEST(RetryBudget, RetriesAreAShareOfRequests) {
  FakeClock clock;
  svckit::RetryBudget budget({.ratio = 0.1, .min_per_second = 0, .max_balance = 100}, clock.fn());
  EXPECT_FALSE(budget.try_spend());  // nothing saved up, no floor
  for (int i = 0; i < 100; ++i) budget.record_request();
  int retries = 0;
  while (budget.try_spend()) ++retries;
  EXPECT_EQ(retries, 10);
}

TEST(RetryBudget, AFloorPerSecondRefillsWithTime) {
  FakeClock clock;
  svckit::RetryBudget budget({.ratio = 0.0, .min_per_second = 2, .max_balance = 4}, clock.fn());
  EXPECT_TRUE(budget.try_spend());
  EXPECT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  clock.now += 500ms;
  EXPECT_TRUE(budget.try_spend());
  EXPECT_FALSE(budget.try_spend());
  clock.now += 1h;  // quiet periods save up to max_balance only
  int retries = 0;
  while (budget.try_spend()) ++retries;
  EXPECT_EQ(retries, 4);
}

TEST(CircuitBreaker, OpensAfterConsecutiveFailuresAndRefusesCalls) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 3, .min_calls = 1000, .open_duration = 5s}, clock.fn());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow());
    b.record_failure();
  }
  ASSERT_TRUE(b.allow());
  b.record_success();  // a success resets the run
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(b.allow());
    b.record_failure();
  }
  EXPECT_EQ(b.state(), State::closed);
  ASSERT_TRUE(b.allow());
  b.record_failure();
  EXPECT_EQ(b.state(), State::open);
  EXPECT_FALSE(b.allow());
  EXPECT_EQ(b.retry_after(), 5s);
  clock.now += 2s;
  EXPECT_EQ(b.retry_after(), 3s);
  EXPECT_FALSE(b.allow());
}

// Without a failure ratio (the gateway's ejection), successes while nothing is wrong skip the
// breaker's lock: the streak must still be counted and reset exactly.
TEST(CircuitBreaker, ConsecutiveFailuresOnlyStillCountsTheStreak) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 3, .failure_ratio = 1.1, .open_duration = 5s},
                   clock.fn());
  for (int i = 0; i < 100; ++i) b.record_success();
  b.record_failure();
  b.record_failure();
  b.record_success();  // resets the run
  b.record_failure();
  b.record_failure();
  EXPECT_EQ(b.state(), State::closed);
  EXPECT_TRUE(b.allow());
  b.record_failure();
  EXPECT_EQ(b.state(), State::open);
  EXPECT_FALSE(b.allow());
  clock.now += 5s;
  EXPECT_TRUE(b.allow());  // the probe
  EXPECT_FALSE(b.allow());
  b.record_success();
  EXPECT_EQ(b.state(), State::closed);
  for (int i = 0; i < 2; ++i) b.record_failure();
  b.record_success();
  for (int i = 0; i < 2; ++i) b.record_failure();
  EXPECT_EQ(b.state(), State::closed) << "closing cleared the streak";
}

TEST(CircuitBreaker, HalfOpenLetsOneProbeThroughAndItsOutcomeDecides) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 1, .open_duration = 1s, .half_open_probes = 1},
                   clock.fn());
  ASSERT_TRUE(b.allow());
  b.record_failure();
  ASSERT_EQ(b.state(), State::open);
  clock.now += 1s;
  EXPECT_EQ(b.state(), State::half_open);
  EXPECT_TRUE(b.allow());   // the probe
  EXPECT_FALSE(b.allow());  // no second one while it runs
  b.record_failure();       // probe failed: open again, for a full open_duration
  EXPECT_EQ(b.state(), State::open);
  clock.now += 999ms;
  EXPECT_FALSE(b.allow());
  clock.now += 1ms;
  EXPECT_TRUE(b.allow());
  b.record_success();
  EXPECT_EQ(b.state(), State::closed);
  EXPECT_TRUE(b.allow());
  EXPECT_TRUE(b.allow());
}

TEST(CircuitBreaker, ReleasedProbeSlotIsGivenBack) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 1, .open_duration = 1s}, clock.fn());
  b.allow();
  b.record_failure();
  clock.now += 1s;
  ASSERT_TRUE(b.allow());
  ASSERT_FALSE(b.allow());
  b.release();  // the probe was cancelled: no outcome
  EXPECT_TRUE(b.allow());
}

TEST(CircuitBreaker, OpensOnFailureRatioOverTheWindow) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 1000,
                    .failure_ratio = 0.5,
                    .min_calls = 10,
                    .window = 10s,
                    .open_duration = 1s},
                   clock.fn());
  // Alternating outcomes never make a run of failures, but half of them failed.
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(b.allow());
    i % 2 ? b.record_failure() : b.record_success();
    clock.now += 100ms;
  }
  EXPECT_EQ(b.state(), State::closed);  // 4 of 9: not enough calls yet
  ASSERT_TRUE(b.allow());
  b.record_failure();  // 5 of 10
  EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, OldFailuresLeaveTheWindow) {
  FakeClock clock;
  CircuitBreaker b(
      {.consecutive_failures = 1000, .failure_ratio = 0.6, .min_calls = 4, .window = 2s},
      clock.fn());
  for (int i = 0; i < 3; ++i) {  // 3 of 6 failed: under 60%
    b.allow();
    b.record_success();
    b.allow();
    b.record_failure();
  }
  // Two more failures would make 5 of 8 (62%), but the first six are out of the window by then.
  clock.now += 5s;
  for (int i = 0; i < 2; ++i) {
    b.allow();
    b.record_failure();
  }
  EXPECT_EQ(b.state(), State::closed);
  for (int i = 0; i < 2; ++i) {  // 4 of 4 in the window now
    b.allow();
    b.record_failure();
  }
  EXPECT_EQ(b.state(), State::open);
}

TEST(CircuitBreaker, ReportsStateChanges) {
  FakeClock clock;
  CircuitBreaker b({.consecutive_failures = 1, .open_duration = 1s}, clock.fn());
  std::vector<std::pair<State, State>> seen;
  b.on_state_change([&](State from, State to) { seen.emplace_back(from, to); });
  b.allow();
  b.record_failure();
  clock.now += 1s;
  b.allow();
  b.record_success();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0], std::make_pair(State::closed, State::open));
  EXPECT_EQ(seen[1], std::make_pair(State::open, State::half_open));
  EXPECT_EQ(seen[2], std::make_pair(State::half_open, State::closed));
}

TEST(Deadline, UnsetIsForever) {
  svckit::Deadline none;
  EXPECT_FALSE(none.is_set());
  EXPECT_FALSE(none.expired());
  EXPECT_EQ(none.remaining(), std::chrono::milliseconds::max());
}

TEST(Deadline, RemainingCountsDownAndNeverGoesNegative) {
  auto d = svckit::Deadline::after(200ms);
  EXPECT_TRUE(d.is_set());
  EXPECT_LE(d.remaining(), 200ms);
  EXPECT_GT(d.remaining(), 100ms);
  auto past = svckit::Deadline::at(Clock::now() - 1s);
  EXPECT_TRUE(past.expired());
  EXPECT_EQ(past.remaining(), 0ms);
}

TEST(Deadline, MinTakesTheEarlier) {
  auto soon = svckit::Deadline::after(100ms);
  auto later = svckit::Deadline::after(10s);
  EXPECT_EQ(soon.min(later).when(), soon.when());
  EXPECT_EQ(later.min(soon).when(), soon.when());
  EXPECT_EQ(svckit::Deadline().min(later).when(), later.when());
}
