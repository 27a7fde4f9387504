// In-process bus throughput and latency: a publisher on one thread, one group with a consumer on
// each of two loops, handlers that only count. Prints messages/s end to end (published until
// the last one was handled) and publish-to-handle latency percentiles.
//
//   build/bin/bench_bus [MESSAGES=200000]
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "svckit/bus/bus.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 200000;
  asio::io_context publisher_io, a, b;
  auto guard_a = asio::make_work_guard(a);
  auto guard_b = asio::make_work_guard(b);
  std::thread ta([&] { a.run(); }), tb([&] { b.run(); });

  auto bus = svckit::bus::open_bus("inproc://", {&a, &b}, {.source = "bench"});
  std::atomic<int> handled{0};
  std::mutex latency_mutex;
  std::vector<double> latencies;
  latencies.reserve(static_cast<std::size_t>(messages));
  auto handler = [&](const svckit::bus::Event& e) -> svckit::Task<svckit::bus::Outcome> {
    auto sent = Clock::time_point(Clock::duration(e.data.get<std::int64_t>()));
    double us = std::chrono::duration<double, std::micro>(Clock::now() - sent).count();
    {
      std::lock_guard lock(latency_mutex);
      latencies.push_back(us);
    }
    ++handled;
    co_return svckit::bus::Outcome::success;
  };
  svckit::bus::SubscribeOptions options;
  options.prefetch = 256;
  bus->subscribe("bench", "bench.#", handler, options);
  bus->subscribe("bench", "bench.#", handler, options);

  auto started = Clock::now();
  auto publish_all = [&]() -> svckit::Task<void> {
    for (int i = 0; i < messages; ++i) {
      svckit::bus::Event e;
      e.id = std::to_string(i);
      e.source = "bench";
      e.type = "bench.tick";
      e.data = Clock::now().time_since_epoch().count();
      co_await bus->publish(std::move(e));
    }
  };
  auto done = asio::co_spawn(publisher_io, publish_all(), asio::use_future);
  publisher_io.run();
  done.get();
  double publish_s = std::chrono::duration<double>(Clock::now() - started).count();
  while (handled < messages) std::this_thread::sleep_for(std::chrono::microseconds(100));
  double total_s = std::chrono::duration<double>(Clock::now() - started).count();

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies[static_cast<std::size_t>(p * (latencies.size() - 1))];
  };
  std::printf("in-process bus, %d events, 1 publisher, 2 consumers on 2 loops\n", messages);
  std::printf("publish      %10.0f /s\n", messages / publish_s);
  std::printf("end to end   %10.0f /s  (target >= 2,000,000)\n", messages / total_s);
  std::printf("latency p50 %.1f us  p99 %.1f us  max %.1f us\n", pct(0.5), pct(0.99),
              latencies.back());
  guard_a.reset();
  guard_b.reset();
  a.stop();
  b.stop();
  ta.join();
  tb.join();
  return 0;
}
