#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "run_sync.hpp"
#include "svckit/health/health.hpp"

using namespace std::chrono_literals;
using svckit::BlockingPool;
using svckit::health::Health;
using svckit::health::Status;

TEST(Health, ReadinessIsDownUntilStartedAndOutOfServiceWhenDraining) {
  BlockingPool pool(1);
  Health h("svc", pool);
  EXPECT_EQ(h.startup().status, Status::down);
  EXPECT_EQ(run_sync(h.readiness()).status, Status::down);
  EXPECT_EQ(h.liveness().status, Status::up);
  h.mark_started();
  EXPECT_EQ(h.startup().status, Status::up);
  EXPECT_EQ(run_sync(h.readiness()).status, Status::up);
  h.mark_draining();
  EXPECT_EQ(run_sync(h.readiness()).status, Status::out_of_service);
  EXPECT_EQ(h.liveness().status, Status::up);  // liveness never depends on readiness
}

TEST(Health, AFailingCheckMakesReadinessDownWithItsReason) {
  BlockingPool pool(1);
  Health h("svc", pool);
  h.readiness_blocking("database", [] { return true; });
  h.readiness_blocking("broker", []() -> bool { throw std::runtime_error("connection refused"); });
  h.mark_started();
  auto report = run_sync(h.readiness());
  EXPECT_EQ(report.status, Status::down);
  ASSERT_EQ(report.checks.size(), 2u);
  EXPECT_EQ(report.checks[0].second.status, Status::up);
  EXPECT_EQ(report.checks[1].second.status, Status::down);
  EXPECT_EQ(report.checks[1].second.detail, "connection refused");
}

TEST(Health, AnOptionalDependencyIsReportedWithoutTakingReadinessDown) {
  BlockingPool pool(1);
  Health h("svc", pool);
  h.readiness_blocking("database", [] { return true; });
  h.readiness_blocking("kv", []() -> bool { throw std::runtime_error("redis unavailable"); },
                       {.required = false});
  h.mark_started();
  auto report = run_sync(h.readiness());
  EXPECT_EQ(report.status, Status::up);
  ASSERT_EQ(report.checks.size(), 2u);
  EXPECT_EQ(report.checks[1].second.status, Status::down);
  EXPECT_EQ(report.checks[1].second.detail, "redis unavailable");
}

// A coroutine check that never suspends finishes inside the call that starts it; that used to
// deadlock on the check's own lock (found with JWKS_URL's "no key set yet" check).
TEST(Health, ChecksThatFinishWithoutSuspendingDoNotDeadlock) {
  BlockingPool pool(1);
  Health h("svc", pool);
  h.readiness("jwks", []() -> svckit::Task<bool> {
    throw std::runtime_error("no key set yet");
    co_return true;
  });
  h.readiness("fine", []() -> svckit::Task<bool> { co_return true; });
  h.mark_started();
  LoopThread loop;
  for (int i = 0; i < 3; ++i) {
    auto report = loop.run(h.readiness());
    EXPECT_EQ(report.status, Status::down);
    EXPECT_EQ(report.checks[0].second.detail, "no key set yet");
    EXPECT_EQ(report.checks[1].second.status, Status::up);
  }
}

TEST(Health, AHungCheckIsBoundedByItsTimeoutAndNotRunTwice) {
  BlockingPool pool(2);
  Health h("svc", pool);
  std::atomic<int> runs{0};
  std::atomic<bool> release{false};
  h.readiness_blocking("hung",
                       [&] {
                         ++runs;
                         while (!release) std::this_thread::sleep_for(5ms);
                         return true;
                       },
                       {.timeout = 100ms, .cache_for = 1000ms});
  h.mark_started();
  LoopThread loop;
  auto started = std::chrono::steady_clock::now();
  auto first = loop.run(h.readiness());
  auto second = loop.run(h.readiness());
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(first.status, Status::down);
  EXPECT_NE(first.checks[0].second.detail.find("timed out"), std::string::npos);
  EXPECT_EQ(second.status, Status::down);
  EXPECT_LT(elapsed, 2s);     // generous: the bound is what matters, not the exact figure
  EXPECT_EQ(runs.load(), 1);  // the second probe waited for the running evaluation
  release = true;
  std::this_thread::sleep_for(50ms);  // let the evaluation finish before the pool goes away
}

TEST(Health, ResultsAreCached) {
  BlockingPool pool(1);
  Health h("svc", pool);
  std::atomic<int> runs{0};
  h.readiness_blocking("db", [&] { return ++runs > 0; }, {.timeout = 1000ms, .cache_for = 60s});
  h.mark_started();
  run_sync(h.readiness());
  run_sync(h.readiness());
  run_sync(h.readiness());
  EXPECT_EQ(runs.load(), 1);
}
