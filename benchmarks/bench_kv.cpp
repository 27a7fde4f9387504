// svckit::kv on Redis with the load redis-benchmark makes, so that the two compare:
//   bench_kv URL COMMAND CONNECTIONS PIPELINE REQUESTS [LOOPS] [--batch]
// COMMAND: get, set or incr (redis-benchmark's keys: "key:__rand_int__", "counter:__rand_int__",
// a 3-byte value). LOOPS I/O loops (default 2, this machine's cores), each on its own thread
// with CONNECTIONS / LOOPS connections. Calls: PIPELINE coroutines per connection each awaiting
// one call at a time; the store writes what a connection's callers asked together, so PIPELINE
// calls are in flight on each connection. --batch: one coroutine per connection awaiting a
// kv::Batch of PIPELINE commands at a time, which is what redis-benchmark -P does (P commands
// written at once, their replies awaited together). Prints requests/s.
// benchmarks/kv_load.py runs it beside redis-benchmark.
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "svckit/kv/store.hpp"

namespace {

using Clock = std::chrono::steady_clock;

svckit::Task<void> caller(svckit::kv::Store& kv, std::string command, long count) {
  for (long i = 0; i < count; ++i) {
    if (command == "get")
      co_await kv.get("key:__rand_int__");
    else if (command == "set")
      co_await kv.set("key:__rand_int__", "xxx");
    else
      co_await kv.increment("counter:__rand_int__");
  }
}

svckit::Task<void> batch_caller(svckit::kv::Store& kv, std::string command, int size, long count) {
  svckit::kv::Batch batch;
  for (int i = 0; i < size; ++i) {
    if (command == "get")
      batch.get("key:__rand_int__");
    else if (command == "set")
      batch.set("key:__rand_int__", "xxx");
    else
      batch.increment("counter:__rand_int__");
  }
  for (long i = 0; i < count; i += size) co_await kv.run(batch);
}

}  // namespace

int main(int argc, char** argv) {
  bool batches = argc > 1 && std::string(argv[argc - 1]) == "--batch";
  if (batches) --argc;
  if (argc != 6 && argc != 7) {
    std::fprintf(stderr,
                 "usage: bench_kv URL get|set|incr CONNECTIONS PIPELINE REQUESTS [LOOPS] "
                 "[--batch]\n");
    return 2;
  }
  std::string url = argv[1], command = argv[2];
  int connections = std::atoi(argv[3]), pipeline = std::atoi(argv[4]);
  long requests = std::atol(argv[5]);
  int loop_count = std::min(connections, argc == 7 ? std::atoi(argv[6]) : 2);
  std::vector<std::unique_ptr<boost::asio::io_context>> loops;
  svckit::kv::StoreOptions options;
  options.connections_per_loop = static_cast<std::size_t>(connections / loop_count);
  for (int i = 0; i < loop_count; ++i) {
    loops.push_back(std::make_unique<boost::asio::io_context>(1));
    options.loops.push_back(loops.back().get());
  }
  auto kv = svckit::kv::open_store(url, options);
  // A loop runs until its callers are done (its connection's reader would keep it running).
  auto stop_when_done = [](boost::asio::io_context& loop, int callers) {
    auto left = std::make_shared<int>(callers);
    return [&loop, left](std::exception_ptr failure) {
      if (failure) std::rethrow_exception(failure);
      if (--*left == 0) loop.stop();
    };
  };
  // Connected first (not timed), as redis-benchmark connects before it starts its clock.
  for (auto& loop : loops) {
    boost::asio::co_spawn(*loop, kv->ping(), [&loop](std::exception_ptr, bool) { loop->stop(); });
    loop->run();
    loop->restart();
  }
  long per_caller = requests / (static_cast<long>(connections) * pipeline);
  int callers_per_loop = pipeline * connections / loop_count;
  if (batches) {
    per_caller *= pipeline;  // commands, in batches of `pipeline`
    callers_per_loop = connections / loop_count;
  }
  for (auto& loop : loops) {
    auto done = stop_when_done(*loop, callers_per_loop);
    for (int p = 0; p < callers_per_loop; ++p)
      boost::asio::co_spawn(*loop,
                            batches ? batch_caller(*kv, command, pipeline, per_caller)
                                    : caller(*kv, command, per_caller),
                            done);
  }
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->run(); });
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  long commands = per_caller * callers_per_loop * loop_count;
  std::printf("%.0f\n", static_cast<double>(commands) / seconds);
  kv->close();
  for (auto& loop : loops) {
    loop->restart();
    loop->run();
  }
  return 0;
}
