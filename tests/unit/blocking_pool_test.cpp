#include <gtest/gtest.h>

#include <thread>

#include <boost/asio/this_coro.hpp>

#include "run_sync.hpp"
#include "svckit/blocking_pool.hpp"

using svckit::BlockingPool;
using svckit::Task;

TEST(BlockingPool, RunsWorkOffTheCallersThreadAndResumesOnIt) {
  BlockingPool pool(2);
  LoopThread loop;
  auto ids = loop.run([&pool]() -> Task<std::array<std::thread::id, 3>> {
    auto before = std::this_thread::get_id();
    auto inside = co_await pool.run([] { return std::this_thread::get_id(); });
    auto after = std::this_thread::get_id();
    co_return std::array{before, inside, after};
  }());
  EXPECT_NE(ids[0], ids[1]);  // the work ran on a pool thread
  EXPECT_EQ(ids[0], ids[2]);  // and the caller came back to its loop
}

TEST(BlockingPool, PropagatesExceptionsAndValues) {
  BlockingPool pool(1);
  EXPECT_EQ(run_sync(pool.run([] { return 41 + 1; })), 42);
  EXPECT_THROW(run_sync(pool.run([]() -> int { throw std::runtime_error("boom"); })),
               std::runtime_error);
  int side = 0;
  run_sync(pool.run([&] { side = 7; }));
  EXPECT_EQ(side, 7);
}
