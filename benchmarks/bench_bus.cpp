// Bus throughput and latency: one group with a consumer on each of two loops, handlers that only
// count. Prints messages/s end to end (published until the last one was handled) and
// publish-to-handle latency percentiles, and a RESULT line in JSON for
// benchmarks/bench_bus_rabbitmq.py.
//
//   build/bin/bench_bus [MESSAGES=200000] [BUS_URL=inproc://] [WINDOW=1] [SHAPE=thread] [metrics]
//                       [prefetch=256]
//
// SHAPE says where the publishers run:
//   thread   WINDOW publishers on a thread of their own, each awaiting its publish before the next
//   loops    WINDOW publishers on each of the two consumer loops, as a service's handlers publish
//            from its I/O threads; the group's consumers compete, so half the events cross over
// `metrics` counts into a registry, as a service's bus does (off by default: the bus alone).
// Over RabbitMQ every event is persistent, confirmed by the broker and acknowledged by its
// consumer; WINDOW is how many publishes await their confirms at once.
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "svckit/bus/bus.hpp"
#include "svckit/metrics/registry.hpp"

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int messages = argc > 1 ? std::atoi(argv[1]) : 200000;
  const std::string url = argc > 2 ? argv[2] : "inproc://";
  const int window = argc > 3 ? std::max(1, std::atoi(argv[3])) : 1;
  const std::string shape = argc > 4 ? argv[4] : "thread";
  bool with_metrics = false;
  int prefetch = 256;  // each consumer's
  for (int i = 5; i < argc; ++i) {
    if (std::strcmp(argv[i], "metrics") == 0) with_metrics = true;
    if (std::strncmp(argv[i], "prefetch=", 9) == 0) prefetch = std::max(1, std::atoi(argv[i] + 9));
  }
  if (shape != "thread" && shape != "loops") {
    std::fprintf(stderr, "SHAPE is thread or loops\n");
    return 2;
  }
  svckit::metrics::Registry registry;
  asio::io_context publisher_io, a, b;
  auto guard_a = asio::make_work_guard(a);
  auto guard_b = asio::make_work_guard(b);
  std::thread ta([&] { a.run(); }), tb([&] { b.run(); });

  auto bus = svckit::bus::open_bus(
      url, {&a, &b}, {.source = "bench", .metrics = with_metrics ? &registry : nullptr});
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
  options.prefetch = prefetch;
  bus->subscribe("bench", "bench.#", handler, options);
  bus->subscribe("bench", "bench.#", handler, options);

  while (!bus->connected()) std::this_thread::sleep_for(std::chrono::milliseconds(10));

  std::atomic<int> next{0};
  // On the consumers' loops a publisher gives the loop back every 16 events, as request handlers
  // that each publish one do: a publisher that never yields would hold its loop until the end.
  const bool yield = shape == "loops";
  auto publish_all = [&]() -> svckit::Task<void> {
    for (int i = next++; i < messages; i = next++) {
      if (yield && i % 16 == 0) co_await asio::post(asio::use_awaitable);
      svckit::bus::Event e;  // the size of a service's: a UUID-long id, a time
      e.id = "00000000-0000-4000-8000-" + std::to_string(100000000000 + i).substr(0, 12);
      e.source = "bench";
      e.type = "bench.tick";
      e.time = "2026-12-06T00:00:00.000Z";
      e.data = Clock::now().time_since_epoch().count();
      co_await bus->publish(std::move(e));
    }
  };
  auto started = Clock::now();
  std::vector<std::future<void>> publishers;
  if (shape == "thread") {
    for (int w = 0; w < window; ++w)
      publishers.push_back(asio::co_spawn(publisher_io, publish_all(), asio::use_future));
    publisher_io.run();
  } else {
    for (int w = 0; w < window; ++w)
      for (auto* loop : {&a, &b})
        publishers.push_back(asio::co_spawn(*loop, publish_all(), asio::use_future));
  }
  for (auto& p : publishers) p.get();
  double publish_s = std::chrono::duration<double>(Clock::now() - started).count();
  while (handled < messages) std::this_thread::sleep_for(std::chrono::microseconds(100));
  double total_s = std::chrono::duration<double>(Clock::now() - started).count();

  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies[static_cast<std::size_t>(p * (latencies.size() - 1))];
  };
  std::printf("%s bus, %d events, %d publishers %s, 2 consumers on 2 loops%s\n",
              url.substr(0, url.find(':')).c_str(), messages,
              shape == "thread" ? window : 2 * window,
              shape == "thread" ? "on a thread of their own" : "on the consumers' loops",
              with_metrics ? ", metrics counted" : "");
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
