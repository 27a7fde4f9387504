// What only the PostgreSQL backend has: a pool per I/O loop bounded by deadlines, reconnects,
// an advisory lock around migrations. Against the server ctest starts (SVCKIT_TEST_POSTGRES_URL).
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
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

}  // namespace
