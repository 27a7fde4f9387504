// The database side of GET /api/v1/tasks/{id}: one point read by primary key, answered inline by
// Database::read, against the same read sent through the blocking pool (Database::execute).
#include <benchmark/benchmark.h>

#include <filesystem>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <svckit/sql/database.hpp>

namespace {

using svckit::sql::Value;

const std::vector<svckit::sql::Migration> kSchema = {
    {1, "items", "CREATE TABLE items (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT)"}};

std::unique_ptr<svckit::sql::Database> filled_database(svckit::BlockingPool& pool) {
  auto dir = std::filesystem::temp_directory_path() / "svckit-bench-sql";
  std::filesystem::remove_all(dir);
  auto db = svckit::sql::open_database("sqlite:///" + (dir / "bench.db").string(), pool);
  db->migrate("bench", kSchema);
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> svckit::Task<void> {
        auto fill = [](svckit::sql::Transaction& tx) -> svckit::Task<void> {
          for (int i = 0; i < 10000; ++i)
            co_await tx.execute("INSERT INTO items VALUES (?, ?, ?)", "item-" + std::to_string(i),
                                "title " + std::to_string(i), std::string(200, 'x'));
        };
        co_await db->transaction(fill);
      },
      boost::asio::detached);
  io.run();
  return db;
}

// Runs the benchmark loop inside one coroutine on a private io_context.
template <class Read>
void run_reads(benchmark::State& state, Read read) {
  boost::asio::io_context io;
  boost::asio::co_spawn(
      io,
      [&]() -> svckit::Task<void> {
        int i = 0;
        for (auto _ : state) {
          std::vector<Value> key{"item-" + std::to_string(i++ % 10000)};
          auto r = co_await read(std::move(key));
          benchmark::DoNotOptimize(r.rows.data());
        }
      },
      boost::asio::detached);
  io.run();
}

const std::string kSelect = "SELECT id, title, body FROM items WHERE id = ?";

void BM_SqlPointReadInline(benchmark::State& state) {
  svckit::BlockingPool pool(2);
  auto db = filled_database(pool);
  run_reads(state, [&](std::vector<Value> key) { return db->read(kSelect, std::move(key)); });
}
BENCHMARK(BM_SqlPointReadInline)->UseRealTime();

void BM_SqlPointReadViaPool(benchmark::State& state) {
  svckit::BlockingPool pool(2);
  auto db = filled_database(pool);
  run_reads(state, [&](std::vector<Value> key) { return db->execute(kSelect, std::move(key)); });
}
BENCHMARK(BM_SqlPointReadViaPool)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
