// Single-row SELECTs by primary key on PostgreSQL for a fixed time, on CONNECTIONS connections:
//   bench_pg svckit URL CONNECTIONS SECONDS   the SDK's pool: two I/O loops, CONNECTIONS
//                                            coroutines awaiting Database::read()
//   bench_pg bare URL CONNECTIONS SECONDS     a bare libpq program: a thread per connection,
//                                            PQexecPrepared in a loop
//   bench_pg pipelined URL CONNECTIONS SECONDS  the same in libpq's pipeline mode, 16 queries
//                                            in flight per connection, one Sync per 16
//   bench_pg pipelined_each URL CONNECTIONS SECONDS  the same with a Sync after each query
// Both read the table `items` (id TEXT PRIMARY KEY, title TEXT, body TEXT) of 10,000 rows that
// `bench_pg fill URL` makes. Prints one line: queries per second. benchmarks/pg_load.py runs
// the two side by side.
#include <libpq-fe.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "svckit/sql/database.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRows = 10000;
const char* kSelect = "SELECT id, title, body FROM items WHERE id = ?";

std::string key(unsigned i) {
  return "item-" + std::to_string(i % kRows);
}

int fill(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::fprintf(stderr, "bench_pg: %s", PQerrorMessage(c));
    return 1;
  }
  PQclear(PQexec(c,
                 "DROP TABLE IF EXISTS items; CREATE TABLE items (id TEXT PRIMARY KEY, "
                 "title TEXT NOT NULL, body TEXT)"));
  PQclear(PQexec(c,
                 "INSERT INTO items SELECT 'item-' || i, 'title ' || i, repeat('x', 200) "
                 "FROM generate_series(0, 9999) AS i; ANALYZE items"));
  PQfinish(c);
  return 0;
}

double bare(const std::string& url, int connections, int seconds) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t)
    threads.emplace_back([&, t] {
      PGconn* c = PQconnectdb(url.c_str());
      if (PQstatus(c) != CONNECTION_OK) std::abort();
      PQclear(PQprepare(c, "s", "SELECT id, title, body FROM items WHERE id = $1", 1, nullptr));
      long n = 0;
      for (unsigned i = t * 7919u; !stop.load(std::memory_order_relaxed); ++i) {
        std::string k = key(i);
        const char* values[] = {k.c_str()};
        PGresult* r = PQexecPrepared(c, "s", 1, values, nullptr, nullptr, 0);
        if (PQntuples(r) != 1) std::abort();
        PQclear(r);
        ++n;
      }
      done += n;
      PQfinish(c);
    });
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return done / std::chrono::duration<double>(Clock::now() - started).count();
}

// libpq's pipeline mode: each connection sends `depth` queries, one sync (or one after each),
// then reads their results; what pipelining could give a pool with the same connections.
double pipelined(const std::string& url, int connections, int seconds, int depth, bool sync_each) {
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t)
    threads.emplace_back([&, t] {
      PGconn* c = PQconnectdb(url.c_str());
      if (PQstatus(c) != CONNECTION_OK) std::abort();
      PQclear(PQprepare(c, "s", "SELECT id, title, body FROM items WHERE id = $1", 1, nullptr));
      if (PQenterPipelineMode(c) != 1) std::abort();
      long n = 0;
      std::vector<std::string> keys(static_cast<std::size_t>(depth));
      for (unsigned i = t * 7919u; !stop.load(std::memory_order_relaxed);) {
        for (auto& k : keys) {
          k = key(i++);
          const char* values[] = {k.c_str()};
          if (PQsendQueryPrepared(c, "s", 1, values, nullptr, nullptr, 0) != 1) std::abort();
          if (sync_each) PQpipelineSync(c);
        }
        if (!sync_each) PQpipelineSync(c);
        for (int q = 0; q < depth; ++q) {
          PGresult* r = PQgetResult(c);
          if (PQntuples(r) != 1) std::abort();
          PQclear(r);
          PQclear(PQgetResult(c));                 // the null that ends each query's results
          if (sync_each) PQclear(PQgetResult(c));  // its sync's
        }
        if (!sync_each) PQclear(PQgetResult(c));  // the sync's
        n += depth;
      }
      done += n;
      PQexitPipelineMode(c);
      PQfinish(c);
    });
  auto started = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return done / std::chrono::duration<double>(Clock::now() - started).count();
}

// A coroutine of its own (not a lambda's): its frame holds everything it uses.
svckit::Task<void> reader(svckit::sql::Database& db, unsigned w, std::atomic<bool>& stop,
                          std::atomic<long>& done) {
  long n = 0;
  for (unsigned i = w * 7919u; !stop.load(std::memory_order_relaxed); ++i) {
    auto r = co_await db.read(kSelect, key(i));
    if (r.rows.size() != 1) std::abort();
    ++n;
  }
  done += n;
}

double through_svckit(const std::string& url, int connections, int seconds) {
  constexpr int kLoops = 2;
  svckit::BlockingPool pool(1);
  auto db = svckit::sql::open_database(
      url, pool, {.pool_size = static_cast<std::size_t>(connections), .loops = kLoops});
  std::vector<std::unique_ptr<boost::asio::io_context>> loops;
  for (int l = 0; l < kLoops; ++l) loops.push_back(std::make_unique<boost::asio::io_context>(1));
  std::atomic<long> done{0};
  std::atomic<bool> stop{false};
  for (int w = 0; w < connections; ++w) {
    boost::asio::co_spawn(*loops[w % kLoops], reader(*db, w, stop, done), [](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        std::fprintf(stderr, "bench_pg: %s\n", x.what());
        std::abort();
      }
    });
  }
  auto started = Clock::now();
  std::vector<std::thread> threads;
  for (auto& l : loops) threads.emplace_back([&l] { l->run(); });
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  return done / std::chrono::duration<double>(Clock::now() - started).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "fill") return fill(argv[2]);
  if (argc != 5) {
    std::fprintf(stderr,
                 "usage: bench_pg fill URL | bench_pg svckit|bare|pipelined|pipelined_each URL "
                 "CONNECTIONS SECONDS\n");
    return 2;
  }
  std::string mode = argv[1], url = argv[2];
  int connections = std::atoi(argv[3]), seconds = std::atoi(argv[4]);
  double qps = mode == "bare"             ? bare(url, connections, seconds)
               : mode == "pipelined"      ? pipelined(url, connections, seconds, 16, false)
               : mode == "pipelined_each" ? pipelined(url, connections, seconds, 16, true)
                                          : through_svckit(url, connections, seconds);
  std::printf("%.0f\n", qps);
  return 0;
}
