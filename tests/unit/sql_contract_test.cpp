// What every backend of svckit::sql does the same way: these run on a SQLite file and on a
// real PostgreSQL 15 (started by ctest: SVCKIT_TEST_POSTGRES_URL), each test on a database of
// its own.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "run_sync.hpp"
#include "svckit/sql/database.hpp"
#include "svckit/sql/mapping.hpp"
#include "test_databases.hpp"

using svckit::BlockingPool;
using svckit::Task;
using svckit::sql::Database;
using svckit::sql::Migration;
using svckit::sql::open_database;
using svckit::sql::Transaction;

namespace {

const std::vector<Migration> kNotes = {
    {1, "notes", "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL UNIQUE, n BIGINT)",
     "DROP TABLE notes"},
    {2, "notes.author",
     "ALTER TABLE notes ADD COLUMN author TEXT; CREATE INDEX notes_author ON notes (author)",
     "DROP INDEX notes_author; ALTER TABLE notes DROP COLUMN author"},
};

class SqlContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    url_ = fresh_test_database(GetParam(), "contract");
    db_ = open_database(url_, pool_, {.pool_size = 4});
  }
  std::string table_names() {
    auto sql = GetParam() == "sqlite"
                   ? "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                     "'svckit%' ORDER BY name"
                   : "SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND "
                     "tablename NOT LIKE 'svckit%' ORDER BY tablename";
    std::string names;
    for (const auto& r : loop_.run(db_->execute(sql)).rows) names += r.text("name") + " ";
    return names;
  }

  BlockingPool pool_{4};
  LoopThread loop_;
  std::string url_;
  std::unique_ptr<Database> db_;
};

INSTANTIATE_TEST_SUITE_P(Backends, SqlContract, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(SqlContract, MigrationsApplyInOrderOnceAndAreRecorded) {
  std::vector<Migration> shuffled = {kNotes[1], kNotes[0]};
  db_->migrate("notes", shuffled);
  db_->migrate("notes", shuffled);  // idempotent
  EXPECT_EQ(db_->schema_version("notes"), 2);
  auto rows = loop_.run(db_->execute(
      "SELECT version, name FROM svckit_migrations WHERE component = ? ORDER BY version", "notes"));
  ASSERT_EQ(rows.rows.size(), 2u);
  EXPECT_EQ(rows.rows[0].integer("version"), 1);
  EXPECT_EQ(rows.rows[1].text("name"), "notes.author");
  auto inserted = loop_.run(
      db_->execute("INSERT INTO notes (id, body, author) VALUES (?, ?, ?)", "1", "hi", "me"));
  EXPECT_EQ(inserted.changes, 1);
}

TEST_P(SqlContract, AFailedMigrationLeavesTheSchemaAsItWas) {
  std::vector<Migration> broken = {
      {1, "ok", "CREATE TABLE a (x INTEGER)"},
      {2, "broken", "CREATE TABLE b (y INTEGER); CREATE TABLE a (x INTEGER)"},
  };
  EXPECT_THROW(db_->migrate("c", broken), svckit::sql::MigrationFailed);
  EXPECT_EQ(db_->schema_version("c"), 1);
  EXPECT_EQ(table_names(), "a ");  // b was rolled back with its migration
}

TEST_P(SqlContract, RollBackRunsTheDownStepsNewestFirst) {
  db_->migrate("notes", kNotes);
  EXPECT_EQ(table_names(), "notes ");
  db_->roll_back("notes", kNotes, 1);
  EXPECT_EQ(db_->schema_version("notes"), 1);
  // Version 1's table without version 2's column.
  loop_.run(db_->execute("INSERT INTO notes (id, body) VALUES ('1', 'x')"));
  EXPECT_THROW(loop_.run(db_->execute("SELECT author FROM notes")), svckit::sql::DatabaseError);
  db_->roll_back("notes", kNotes, 0);
  EXPECT_EQ(table_names(), "");
  db_->migrate("notes", kNotes);  // and forward again
  EXPECT_EQ(db_->schema_version("notes"), 2);
}

TEST_P(SqlContract, ParametersAreBoundNeverSpliced) {
  db_->migrate("notes", kNotes);
  std::string hostile = "x'); DROP TABLE notes; -- ? $1 \"";
  loop_.run(db_->execute("INSERT INTO notes (id, body) VALUES ('1', ?)", hostile));
  auto rows = loop_.run(db_->read("SELECT body FROM notes WHERE body = ? AND id <> '?'", hostile));
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(rows.rows[0].text("body"), hostile);
}

TEST_P(SqlContract, UniqueViolationIsAConflictAndUpsertsArePortable) {
  db_->migrate("notes", kNotes);
  loop_.run(db_->execute("INSERT INTO notes (id, body) VALUES ('1', 'same')"));
  try {
    loop_.run(db_->execute("INSERT INTO notes (id, body) VALUES ('2', 'same')"));
    FAIL() << "expected Conflict";
  } catch (const svckit::Error& e) {
    EXPECT_EQ(e.status(), 409);
  }
  auto ignored = loop_.run(
      db_->execute("INSERT INTO notes (id, body) VALUES ('3', 'same') ON CONFLICT DO NOTHING"));
  EXPECT_EQ(ignored.changes, 0);
  loop_.run(
      db_->execute("INSERT INTO notes (id, body, n) VALUES ('1', 'same', 1) "
                   "ON CONFLICT (id) DO UPDATE SET n = excluded.n"));
  EXPECT_EQ(loop_.run(db_->read("SELECT n FROM notes WHERE id = '1'")).rows[0].integer("n"), 1);
}

TEST_P(SqlContract, ReturningGivesBackWhatTheDatabaseMade) {
  loop_.run(db_->execute("CREATE TABLE counters (name TEXT PRIMARY KEY, n BIGINT NOT NULL)"));
  for (int i = 1; i <= 3; ++i) {
    auto r =
        loop_.run(db_->execute("INSERT INTO counters (name, n) VALUES ('a', 1) "
                               "ON CONFLICT (name) DO UPDATE SET n = counters.n + 1 RETURNING n"));
    EXPECT_EQ(r.rows.at(0).integer("n"), i);
  }
}

TEST_P(SqlContract, NullsAndTypesRoundTrip) {
  loop_.run(db_->execute("CREATE TABLE t (i BIGINT, d DOUBLE PRECISION, s TEXT, b INTEGER)"));
  loop_.run(db_->execute("INSERT INTO t VALUES (?, ?, ?, ?)", 42, 2.5, std::optional<std::string>(),
                         true));
  auto r =
      loop_.run(db_->read("SELECT i, d, s, b, COUNT(*) AS n, SUM(i) AS total FROM t "
                          "GROUP BY i, d, s, b"));
  const auto& row = r.rows.at(0);
  EXPECT_EQ(row.integer("i"), 42);
  EXPECT_DOUBLE_EQ(row["d"].as_double(), 2.5);
  EXPECT_TRUE(row["s"].is_null());
  EXPECT_EQ(row.integer("b"), 1);
  EXPECT_EQ(row.integer("n"), 1);
  EXPECT_EQ(row.integer("total"), 42);
  EXPECT_THROW(row["missing"], std::out_of_range);
}

TEST_P(SqlContract, TimeBucketsAgree) {
  loop_.run(db_->execute("CREATE TABLE ev (at TEXT)"));
  loop_.run(db_->execute("INSERT INTO ev VALUES ('2025-11-26T13:45:10.123Z')"));  // a Wednesday
  auto bucket = [&](svckit::sql::TimeUnit unit) {
    return loop_.run(db_->read("SELECT " + db_->time_bucket(unit, "at") + " AS b FROM ev"))
        .rows.at(0)
        .text("b");
  };
  EXPECT_EQ(bucket(svckit::sql::TimeUnit::hour), "2025-11-26T13:00:00Z");
  EXPECT_EQ(bucket(svckit::sql::TimeUnit::day), "2025-11-26T00:00:00Z");
  EXPECT_EQ(bucket(svckit::sql::TimeUnit::week), "2025-11-24T00:00:00Z");
  EXPECT_EQ(bucket(svckit::sql::TimeUnit::month), "2025-11-01T00:00:00Z");
}

TEST_P(SqlContract, ATransactionCommitsOrRollsBackAsAWhole) {
  db_->migrate("notes", kNotes);
  auto failing = [](Transaction& tx) -> Task<void> {
    co_await tx.execute("INSERT INTO notes (id, body) VALUES ('1', 'first')");
    throw std::runtime_error("abort");
  };
  EXPECT_THROW(loop_.run(db_->transaction(failing)), std::runtime_error);
  EXPECT_EQ(loop_.run(db_->read("SELECT COUNT(*) AS n FROM notes")).rows[0].integer("n"), 0);
  auto keeping = [](Transaction& tx) -> Task<std::string> {
    co_await tx.execute("INSERT INTO notes (id, body) VALUES ('1', 'kept')");
    auto r = co_await tx.execute("SELECT body FROM notes WHERE id = '1'");
    co_return r.rows.at(0).text("body");
  };
  EXPECT_EQ(loop_.run(db_->transaction(keeping)), "kept");
  EXPECT_EQ(loop_.run(db_->read("SELECT COUNT(*) AS n FROM notes")).rows[0].integer("n"), 1);
}

// Forty concurrent read-modify-write increments of one row, from two event loops: with a
// serializable transaction none is lost (PostgreSQL reports the conflicts and the transaction
// runs again; SQLite takes the write lock up front).
TEST_P(SqlContract, ConcurrentReadModifyWritesLoseNoUpdate) {
  loop_.run(db_->execute("CREATE TABLE c (id TEXT PRIMARY KEY, n BIGINT NOT NULL)"));
  loop_.run(db_->execute("INSERT INTO c VALUES ('x', 0)"));
  auto increment = [this]() -> Task<void> {
    auto work = [](Transaction& tx) -> Task<void> {
      auto r = co_await tx.execute("SELECT n FROM c WHERE id = 'x'");
      auto n = r.rows.at(0).integer("n");
      co_await tx.execute("UPDATE c SET n = ? WHERE id = 'x'", n + 1);
    };
    co_await db_->transaction(
        work, {.isolation = svckit::sql::Isolation::serializable, .retry = {.max_attempts = 50}});
  };
  LoopThread other;
  std::vector<std::future<void>> done;
  for (int i = 0; i < 20; ++i) {
    done.push_back(loop_.spawn(increment()));
    done.push_back(other.spawn(increment()));
  }
  for (auto& f : done) f.get();
  EXPECT_EQ(loop_.run(db_->read("SELECT n FROM c")).rows.at(0).integer("n"), 40);
}

TEST_P(SqlContract, SnapshotsReadAndPingAnswers) {
  db_->migrate("notes", kNotes);
  loop_.run(db_->execute("INSERT INTO notes (id, body) VALUES ('1', 'a'), ('2', 'b')"));
  auto work = [](Transaction& tx) -> Task<std::int64_t> {
    auto a = co_await tx.execute("SELECT COUNT(*) AS n FROM notes");
    auto b = co_await tx.execute("SELECT COUNT(*) AS n FROM notes WHERE body = 'a'");
    co_return a.rows[0].integer("n") * 10 + b.rows[0].integer("n");
  };
  EXPECT_EQ(loop_.run(db_->snapshot(work)), 21);
  EXPECT_TRUE(loop_.run(db_->ping()));
}

}  // namespace
