// Bus throughput and latency: publishers on one thread (WINDOW of them, each awaiting its publish
// before the next), one group with a consumer on each of two loops, handlers that only count.
// Prints messages/s end to end (published until the last one was handled) and publish-to-handle
// latency percentiles, and a RESULT line in JSON for benchmarks/bench_bus_rabbitmq.py.
//
//   build/bin/bench_bus [MESSAGES=200000] [BUS_URL=inproc://] [WINDOW=1]
// Over RabbitMQ every event is persistent, confirmed by the broker and acknowledged by its
// consumer; WINDOW is how many publishes await their confirms at once.
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "svckit/bus/bus.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 200000;
  const std::string url = argc > 2 ? argv[2] : "inproc://";
  const int window = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  asio::io_context publisher_io, a, b;
  auto guard_a = asio::make_work_guard(a);
  auto guard_b = asio::make_work_guard(b);
  std::thread ta([&] { a.run(); }), tb([&] { b.run(); });

  auto bus = svckit::bus::open_bus(url, {&a, &b}, {.source = "bench"});
  std::atomic<int> handled{0};
  // One slot per event, claimed atomically: no lock in the handler measures the bus, not us.
  std::vector<double> latencies(static_cast<std::size_t>(messages));
  std::atomic<std::size_t> slot{0};
  auto handler = [&](const svckit::bus::Event& e) -> svckit::Task<svckit::bus::Outcome> {
    auto sent = Clock::time_point(Clock::duration(e.data.get<std::int64_t>()));
    double us = std::chrono::duration<double, std::micro>(Clock::now() - sent).count();
    latencies[std::min(slot++, latencies.size() - 1)] = us;
    ++handled;
    co_return svckit::bus::Outcome::success;
  };
  svckit::bus::SubscribeOptions options;
  options.prefetch = 256;
  bus->subscribe("bench", "bench.#", handler, options);
  bus->subscribe("bench", "bench.#", handler, options);

  while (!bus->connected()) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  auto started = Clock::now();
  std::atomic<int> next{0};
  auto publish_all = [&]() -> svckit::Task<void> {
    for (int i = next++; i < messages; i = next++) {
      svckit::bus::Event e;
      e.id = std::to_string(i);
      e.source = "bench";
      e.type = "bench.tick";
      e.data = Clock::now().time_since_epoch().count();
      co_await bus->publish(std::move(e));
    }
  };
  std::vector<std::future<void>> publishers;
  for (int w = 0; w < window; ++w)
    publishers.push_back(asio::co_spawn(publisher_io, publish_all(), asio::use_future));
  publisher_io.run();
  for (auto& p : publishers) p.get();
  double publish_s = std::chrono::duration<double>(Clock::now() - started).count();
  while (handled < messages) std::this_thread::sleep_for(std::chrono::microseconds(100));
  double total_s = std::chrono::duration<double>(Clock::now() - started).count();

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies[static_cast<std::size_t>(p * (latencies.size() - 1))];
  };
  std::printf("%s bus, %d events, %d publishers on 1 loop, 2 consumers on 2 loops\n",
              url.substr(0, url.find(':')).c_str(), messages, window);
  std::printf("publish      %10.0f /s\n", messages / publish_s);
  std::printf("end to end   %10.0f /s\n", messages / total_s);
  std::printf("latency p50 %.1f us  p99 %.1f us  max %.1f us\n", pct(0.5), pct(0.99),
              latencies.back());
  std::printf(
      "RESULT {\"publish\": %.0f, \"end_to_end\": %.0f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
      messages / publish_s, messages / total_s, pct(0.5), pct(0.99));
  std::fflush(stdout);
  if (url != "inproc://") {  // close politely: the broker keeps nothing half-acknowledged
    auto closed = asio::co_spawn(a, bus->close(std::chrono::seconds(5)), asio::use_future);
    closed.get();
  }
  guard_a.reset();
  guard_b.reset();
  a.stop();
  b.stop();
  ta.join();
  tb.join();
  return 0;
}
