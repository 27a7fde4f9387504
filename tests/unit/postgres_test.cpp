// What only the PostgreSQL backend has: a pool per I/O loop bounded by deadlines, reconnects,
// an advisory lock around migrations. Against the server ctest starts (SVCKIT_TEST_POSTGRES_URL).
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <map>
#include <thread>

#include "run_sync.hpp"
#include "svckit/meter.hpp"
#include "svckit/sql/database.hpp"
#include "test_databases.hpp"

using namespace std::chrono;
using svckit::BlockingPool;
using svckit::Context;
using svckit::Deadline;
using svckit::sql::open_database;

namespace {

// The server ctest starts (postgres_urls.hpp).
#define REQUIRE_POSTGRES() auto url = test_postgres_url()

int status_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const svckit::Error& e) {
    return e.status();
  }
  return 0;
}

TEST(Postgres, ACallPastItsDeadlineAnswers503AndTheNextOneWorks) {
  REQUIRE_POSTGRES();
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 1});
  LoopThread loop;
  Context context;
  context.set_deadline(Deadline::after(milliseconds(300)));
  auto started = steady_clock::now();
  EXPECT_EQ(status_of([&] { loop.run(db->execute("SELECT pg_sleep(5)", {}, &context)); }), 503);
  EXPECT_LT(steady_clock::now() - started, seconds(2));
  EXPECT_EQ(loop.run(db->read("SELECT 7 AS n")).rows.at(0).integer("n"), 7);
}

TEST(Postgres, CallersWaitingForAConnectionGive503AtTheirDeadline) {
  REQUIRE_POSTGRES();
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 1});
  LoopThread loop;
  auto busy = loop.spawn(db->execute("SELECT pg_sleep(1.5)"));  // holds the only connection
  std::this_thread::sleep_for(milliseconds(200));
  Context context;
  context.set_deadline(Deadline::after(milliseconds(200)));
  auto started = steady_clock::now();
  EXPECT_EQ(status_of([&] { loop.run(db->read("SELECT 1", {}, &context)); }), 503);
  EXPECT_LT(steady_clock::now() - started, milliseconds(1000));
  busy.get();
  // A caller without a deadline of its own waits (up to DATABASE_TIMEOUT) and is served.
  auto again = loop.spawn(db->execute("SELECT pg_sleep(0.3)"));
  EXPECT_EQ(loop.run(db->read("SELECT 1 AS n")).rows.at(0).integer("n"), 1);
  again.get();
}

TEST(Postgres, AnUnreachableServerAnswers503QuicklyWithoutThePassword) {
  BlockingPool pool(1);
  // Port 1 on loopback: refused at once.
  auto db = open_database("postgresql://svckit:hunter2-secret@127.0.0.1:1/svckit", pool);
  LoopThread loop;
  for (int i = 0; i < 3; ++i) {
    auto started = steady_clock::now();
    try {
      loop.run(db->execute("SELECT 1"));
      FAIL() << "expected 503";
    } catch (const svckit::Error& e) {
      EXPECT_EQ(e.status(), 503);
      EXPECT_EQ(std::string(e.detail()).find("hunter2"), std::string::npos) << e.detail();
      EXPECT_NE(std::string(e.detail()).find("****"), std::string::npos) << e.detail();
    }
    EXPECT_LT(steady_clock::now() - started, milliseconds(500));
  }
  EXPECT_FALSE(loop.run(db->ping()));
  EXPECT_EQ(svckit::sql::redacted_url("postgresql://u:p%40ss@h/db?password=x&sslmode=require"),
            "postgresql://u:****@h/db?password=****&sslmode=require");
}

TEST(Postgres, TenReplicasStartingTogetherMigrateOnce) {
  REQUIRE_POSTGRES();
  // A migration that fails when run twice: only the advisory lock keeps the second replica
  // from running it after the first, or alongside it.
  std::vector<svckit::sql::Migration> m = {
      {1, "once", "CREATE TABLE migrated_once (x INTEGER); INSERT INTO migrated_once VALUES (1)",
       "DROP TABLE migrated_once"}};
  std::vector<std::thread> replicas;
  std::atomic<int> failures{0};
  for (int i = 0; i < 10; ++i)
    replicas.emplace_back([&] {
      try {
        BlockingPool pool(1);
        open_database(url, pool)->migrate("once", m);
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  for (auto& t : replicas) t.join();
  EXPECT_EQ(failures, 0);
  BlockingPool pool(1);
  auto db = open_database(url, pool);
  LoopThread loop;
  EXPECT_EQ(loop.run(db->read("SELECT COUNT(*) AS n FROM migrated_once")).rows[0].integer("n"), 1);
  db->roll_back("once", m, 0);
}

TEST(Postgres, PoolMetricsCountInUseIdleAndWaits) {
  REQUIRE_POSTGRES();
  struct Cells : svckit::meter::Meter {
    svckit::meter::Family<svckit::meter::Counter> c{"c", ""};
    svckit::meter::Family<svckit::meter::Histogram> h{"h", ""};
    svckit::meter::Family<svckit::meter::Gauge> in_use{"in_use", ""}, idle{"idle", ""},
        waiting{"waiting", ""};
    svckit::meter::Family<svckit::meter::Summary> s{"s", ""};
    svckit::meter::Family<svckit::meter::Counter>& counters(const std::string&,
                                                            const std::string&) override {
      return c;
    }
    svckit::meter::Family<svckit::meter::Histogram>& histograms(const std::string&,
                                                                const std::string&) override {
      return h;
    }
    svckit::meter::Family<svckit::meter::Gauge>& gauges(const std::string& name,
                                                        const std::string&) override {
      return name == "db_pool_in_use" ? in_use : name == "db_pool_idle" ? idle : waiting;
    }
    svckit::meter::Family<svckit::meter::Summary>& summaries(const std::string&,
                                                             const std::string&) override {
      return s;
    }
  } cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 2, .meter = &cells});
  LoopThread loop;
  auto value = [](auto& family) {
    double v = 0;
    family.for_each([&](const auto& labels, const auto& cell) {
      EXPECT_EQ(labels.at("pool"), "primary");
      v = cell.value();
    });
    return v;
  };
  auto a = loop.spawn(db->execute("SELECT pg_sleep(0.4)"));
  auto b = loop.spawn(db->execute("SELECT pg_sleep(0.4)"));
  auto c = loop.spawn(db->execute("SELECT 1"));  // waits for one of the two
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(value(cells.in_use), 2);
  EXPECT_EQ(value(cells.waiting), 1);
  a.get(), b.get(), c.get();
  EXPECT_EQ(value(cells.in_use), 0);
  EXPECT_EQ(value(cells.waiting), 0);
  EXPECT_EQ(value(cells.idle), 2);
}

// A Meter that keeps its families by name, for reading what the pool counted.
struct NamedCells : svckit::meter::Meter {
  template <class Cell>
  using Families = std::map<std::string, std::unique_ptr<svckit::meter::Family<Cell>>>;
  template <class Cell>
  static svckit::meter::Family<Cell>& of(Families<Cell>& families, const std::string& name) {
    auto& f = families[name];
    if (!f) f = std::make_unique<svckit::meter::Family<Cell>>(name, "");
    return *f;
  }
  svckit::meter::Family<svckit::meter::Counter>& counters(const std::string& name,
                                                          const std::string&) override {
    return of(counter_families, name);
  }
  svckit::meter::Family<svckit::meter::Histogram>& histograms(const std::string& name,
                                                              const std::string&) override {
    return of(histogram_families, name);
  }
  svckit::meter::Family<svckit::meter::Gauge>& gauges(const std::string& name,
                                                      const std::string&) override {
    return of(gauge_families, name);
  }
  svckit::meter::Family<svckit::meter::Summary>& summaries(const std::string& name,
                                                           const std::string&) override {
    return of(summary_families, name);
  }
  double counter(const std::string& name) {
    double sum = 0;
    of(counter_families, name).for_each([&](const auto&, const auto& cell) {
      sum += cell.value();
    });
    return sum;
  }
  Families<svckit::meter::Counter> counter_families;
  Families<svckit::meter::Histogram> histogram_families;
  Families<svckit::meter::Gauge> gauge_families;
  Families<svckit::meter::Summary> summary_families;
};

// Starts every read in one turn of the loop, as the requests a loop serves together do.
std::vector<std::future<svckit::sql::Result>> start_together(
    LoopThread& loop, std::vector<svckit::Task<svckit::sql::Result>> reads) {
  std::vector<std::future<svckit::sql::Result>> futures;
  std::promise<void> started;
  boost::asio::post(loop.context(), [&] {
    for (auto& r : reads)
      futures.push_back(
          boost::asio::co_spawn(loop.context(), std::move(r), boost::asio::use_future));
    started.set_value();
  });
  started.get_future().wait();
  return futures;
}

std::string detail_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const svckit::Error& e) {
    return std::to_string(e.status()) + " " + std::string(e.detail());
  }
  return "no error";
}

TEST(PostgresPipeline, ReadsMadeTogetherGoOutInOneBatch) {
  REQUIRE_POSTGRES();
  NamedCells cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4, .meter = &cells});
  LoopThread loop;
  loop.run(db->read("SELECT 1 AS n"));  // opens the pipelined connection
  double reads = cells.counter("db_pipelined_reads_total");
  double batches = cells.counter("db_pipeline_batches_total");
  EXPECT_EQ(reads, 1);
  std::vector<svckit::Task<svckit::sql::Result>> tasks;
  for (int i = 0; i < 200; ++i) tasks.push_back(db->read("SELECT ?::int AS n", i));
  auto results = start_together(loop, std::move(tasks));
  for (int i = 0; i < 200; ++i) EXPECT_EQ(results[i].get().rows.at(0).integer("n"), i);
  EXPECT_EQ(cells.counter("db_pipelined_reads_total") - reads, 200);
  // One batch, or a few if the loop sent one before all had come: not one each.
  EXPECT_LE(cells.counter("db_pipeline_batches_total") - batches, 3);
}

TEST(PostgresPipeline, AFailingReadFailsAloneAndTheRestOfItsBatchIsAnswered) {
  REQUIRE_POSTGRES();
  NamedCells cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4, .meter = &cells});
  LoopThread loop;
  loop.run(db->read("SELECT 1 AS n"));
  std::vector<svckit::Task<svckit::sql::Result>> tasks;
  for (int i = 0; i < 30; ++i) {
    if (i == 10)
      tasks.push_back(db->read("SELECT 1 / ?::int AS n", 0));  // fails as it runs
    else if (i == 20 || i == 21)
      tasks.push_back(db->read("SELEC ?::int AS n", i));  // fails to prepare, twice
    else if (i == 25)
      tasks.push_back(db->read("SELECT ?::int AS n", "twenty-five"));  // a bad value
    else
      tasks.push_back(db->read("SELECT ?::int AS n", i));
  }
  auto results = start_together(loop, std::move(tasks));
  for (int i = 0; i < 30; ++i) {
    if (i == 10)
      EXPECT_EQ(detail_of([&] { results[i].get(); }), "500 statement failed: division by zero");
    else if (i == 20 || i == 21)
      EXPECT_NE(detail_of([&] { results[i].get(); }).find("500 statement failed: syntax error"),
                std::string::npos);
    else if (i == 25)
      EXPECT_NE(detail_of([&] { results[i].get(); }).find("invalid input syntax for type integer"),
                std::string::npos);
    else
      EXPECT_EQ(results[i].get().rows.at(0).integer("n"), i);
  }
  // Sent together, and those the server skipped after a failure sent again.
  EXPECT_GT(cells.counter("db_pipelined_reads_total"), 1 + 30);
  EXPECT_EQ(loop.run(db->read("SELECT ?::int AS n", 5)).rows.at(0).integer("n"), 5);
}

TEST(PostgresPipeline, AWriteSentAsAReadIsRefusedAndChangesNothing) {
  REQUIRE_POSTGRES();
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4});
  LoopThread loop;
  loop.run(db->execute("DROP TABLE IF EXISTS pipeline_writes"));
  loop.run(db->execute("CREATE TABLE pipeline_writes (n int)"));
  EXPECT_NE(detail_of([&] {
              loop.run(db->read("INSERT INTO pipeline_writes VALUES (1)"));
            }).find("read-only transaction"),
            std::string::npos);
  EXPECT_EQ(loop.run(db->execute("SELECT COUNT(*) AS n FROM pipeline_writes")).rows[0].integer("n"),
            0);
}

TEST(PostgresPipeline, ASlowReadDoesNotHoldUpTheReadsAfterIt) {
  REQUIRE_POSTGRES();
  NamedCells cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4, .meter = &cells});
  LoopThread loop;
  loop.run(db->read("SELECT 1 AS n"));
  auto slow = loop.spawn(db->read("SELECT pg_sleep(1.5)"));
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 2);
  auto started = steady_clock::now();
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(loop.run(db->read("SELECT ?::int AS n", i)).rows.at(0).integer("n"), i);
  EXPECT_LT(steady_clock::now() - started, milliseconds(1000));  // not behind the 1.5 s one
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 2);       // they went around it
  slow.get();
  loop.run(db->read("SELECT 1 AS n"));
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 3);  // and back once it moved
}

TEST(PostgresPipeline, AReadPastItsDeadlineAnswers503AndTheNextOneWorks) {
  REQUIRE_POSTGRES();
  NamedCells cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4, .meter = &cells});
  LoopThread loop;
  loop.run(db->read("SELECT 1 AS n"));
  Context context;
  context.set_deadline(Deadline::after(milliseconds(300)));
  auto started = steady_clock::now();
  EXPECT_EQ(status_of([&] { loop.run(db->read("SELECT pg_sleep(1)", {}, &context)); }), 503);
  EXPECT_LT(steady_clock::now() - started, milliseconds(900));
  EXPECT_EQ(cells.counter("db_pool_timeouts_total"), 1);
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 2);
  EXPECT_EQ(loop.run(db->read("SELECT 7 AS n")).rows.at(0).integer("n"), 7);
  // Once the abandoned statement is done, the pipeline serves again.
  std::this_thread::sleep_for(milliseconds(1000));
  EXPECT_EQ(loop.run(db->read("SELECT 8 AS n")).rows.at(0).integer("n"), 8);
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 3);
}

TEST(PostgresPipeline, ReadsOnALostConnectionAreTriedAgainOnAnother) {
  REQUIRE_POSTGRES();
  NamedCells cells;
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4, .meter = &cells});
  LoopThread loop;
  auto pid = loop.run(db->read("SELECT pg_backend_pid() AS pid")).rows.at(0).integer("pid");
  std::vector<svckit::Task<svckit::sql::Result>> tasks;
  tasks.push_back(db->read("SELECT pg_sleep(0.5), 0 AS n"));
  for (int i = 1; i < 4; ++i) tasks.push_back(db->read("SELECT ?::int AS n", i));
  auto results = start_together(loop, std::move(tasks));  // one batch, behind the sleep
  std::this_thread::sleep_for(milliseconds(150));
  EXPECT_TRUE(loop.run(db->execute("SELECT pg_terminate_backend(?::int) AS done", pid))
                  .rows[0]
                  .integer("done"));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(results[i].get().rows.at(0).integer("n"), i);
  auto now = loop.run(db->read("SELECT pg_backend_pid() AS pid")).rows.at(0).integer("pid");
  EXPECT_NE(now, pid);
  // The retries went to connections of their own; the last read to a new pipeline.
  EXPECT_EQ(cells.counter("db_pipelined_reads_total"), 1 + 4 + 1);
}

TEST(PostgresPipeline, ACopySentAsAStatementIsRefusedAndTheConnectionGivenUp) {
  REQUIRE_POSTGRES();
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4});
  LoopThread loop;
  const std::string refused = "500 statement failed: COPY to or from the client is not supported";
  EXPECT_EQ(
      detail_of([&] { loop.run(db->read("COPY (SELECT 1) TO STDOUT")); }).substr(0, refused.size()),
      refused);
  EXPECT_EQ(detail_of([&] {
              loop.run(db->execute("COPY (SELECT 1) TO STDOUT"));
            }).substr(0, refused.size()),
            refused);
  EXPECT_EQ(loop.run(db->read("SELECT 4 AS n")).rows.at(0).integer("n"), 4);
  EXPECT_EQ(loop.run(db->execute("SELECT 5 AS n")).rows.at(0).integer("n"), 5);
}

TEST(PostgresPipeline, AnIdlePipelineLetsItsLoopRunOutOfWork) {
  REQUIRE_POSTGRES();
  BlockingPool pool(1);
  auto db = open_database(url, pool, {.pool_size = 4});
  boost::asio::io_context io;
  auto read = boost::asio::co_spawn(io, db->read("SELECT 3 AS n"), boost::asio::use_future);
  // run() returns once nothing is owed, as the App's shutdown needs: no wait is left armed.
  auto ran = std::async(std::launch::async, [&] { io.run(); });
  bool returned = ran.wait_for(seconds(3)) == std::future_status::ready;
  if (!returned) io.stop();
  ran.get();
  EXPECT_TRUE(returned);
  EXPECT_EQ(read.get().rows.at(0).integer("n"), 3);
}

}  // namespace
