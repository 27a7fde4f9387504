#include <gtest/gtest.h>

#include <filesystem>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "process_temp_dir.hpp"
#include "run_sync.hpp"
#include "svckit/sql/database.hpp"

using svckit::BlockingPool;
using svckit::sql::Migration;
using svckit::sql::open_database;
using svckit::sql::Transaction;

namespace {

const std::vector<Migration> kNotes = {
    {1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL UNIQUE);"},
    {2, "notes.author",
     "ALTER TABLE notes ADD COLUMN author TEXT; CREATE INDEX n_a ON notes(author);"},
};

std::string temp_db(const char* name) {
  auto path = process_temp_dir("sql-test") / name;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"})
    std::filesystem::remove(path.string() + suffix);
  return "sqlite:///" + path.string();
}

}  // namespace

TEST(Sql, MigrationsApplyInOrderOnceAndAreRecorded) {
  BlockingPool pool(2);
  auto db = open_database("sqlite::memory:", pool);
  // Given out of order: applied by version.
  std::vector<Migration> shuffled = {kNotes[1], kNotes[0]};
  db->migrate("notes", shuffled);
  db->migrate("notes", shuffled);  // idempotent
  auto rows = run_sync(db->execute(
      "SELECT version, name FROM svckit_migrations WHERE component = ? ORDER BY version",
      {"notes"}));
  ASSERT_EQ(rows.rows.size(), 2u);
  EXPECT_EQ(rows.rows[0].integer("version"), 1);
  EXPECT_EQ(rows.rows[1].text("name"), "notes.author");
  auto inserted =
      run_sync(db->execute("INSERT INTO notes (body, author) VALUES (?, ?)", {"hi", "me"}));
  EXPECT_EQ(inserted.changes, 1);
}

TEST(Sql, AFailedMigrationRollsBackAndIsNotRecorded) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  std::vector<Migration> broken = {
      {1, "ok", "CREATE TABLE a (x INTEGER);"},
      {2, "broken", "CREATE TABLE b (y INTEGER); CREATE TABLE a (x INTEGER);"},
  };
  EXPECT_THROW(db->migrate("c", broken), svckit::sql::DatabaseError);
  auto applied = run_sync(db->execute("SELECT COUNT(*) AS n FROM svckit_migrations"));
  EXPECT_EQ(applied.rows[0].integer("n"), 1);
  auto tables = run_sync(db->execute("SELECT name FROM sqlite_master WHERE name = 'b'"));
  EXPECT_TRUE(tables.empty());  // table b was rolled back with its migration
}

TEST(Sql, DuplicateVersionsAreRejected) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  std::vector<Migration> dup = {{1, "a", "SELECT 1"}, {1, "b", "SELECT 2"}};
  EXPECT_THROW(db->migrate("c", dup), svckit::sql::DatabaseError);
}

TEST(Sql, ParametersAreBoundNeverSpliced) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  db->migrate("notes", kNotes);
  std::string hostile = "x'); DROP TABLE notes; --";
  run_sync(db->execute("INSERT INTO notes (body) VALUES (?)", {hostile}));
  auto rows = run_sync(db->execute("SELECT body FROM notes WHERE body = ?", {hostile}));
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(rows.rows[0].text("body"), hostile);
}

TEST(Sql, WrongParameterCountIsAnError) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  db->migrate("notes", kNotes);
  EXPECT_THROW(run_sync(db->execute("SELECT * FROM notes WHERE id = ?", {})),
               svckit::sql::DatabaseError);
  EXPECT_THROW(run_sync(db->execute("SELECT 1; SELECT ?", {1})), svckit::sql::DatabaseError);
}

TEST(Sql, UniqueViolationIsAConflict) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  db->migrate("notes", kNotes);
  run_sync(db->execute("INSERT INTO notes (body) VALUES (?)", {"same"}));
  try {
    run_sync(db->execute("INSERT INTO notes (body) VALUES (?)", {"same"}));
    FAIL() << "expected Conflict";
  } catch (const svckit::Error& e) {
    EXPECT_EQ(e.status(), 409);
  }
}

TEST(Sql, TransactionRollsBackOnException) {
  BlockingPool pool(2);
  auto db = open_database(temp_db("tx.db"), pool);
  db->migrate("notes", kNotes);
  auto failing = [](Transaction& tx) -> svckit::Task<void> {
    co_await tx.execute("INSERT INTO notes (body) VALUES (?)", "first");
    throw std::runtime_error("abort");
  };
  EXPECT_THROW(run_sync(db->transaction(failing)), std::runtime_error);
  auto n = run_sync(db->execute("SELECT COUNT(*) AS n FROM notes"));
  EXPECT_EQ(n.rows[0].integer("n"), 0);
  auto keeping = [](Transaction& tx) -> svckit::Task<std::int64_t> {
    auto r = co_await tx.execute("INSERT INTO notes (body) VALUES (?)", "kept");
    co_return r.last_insert_id;
  };
  EXPECT_GT(run_sync(db->transaction(keeping)), 0);
}

TEST(Sql, FileDatabaseSurvivesReopenAndUsesWal) {
  auto url = temp_db("persist.db");
  {
    BlockingPool pool(2);
    auto db = open_database(url, pool);
    db->migrate("notes", kNotes);
    run_sync(db->execute("INSERT INTO notes (body) VALUES (?)", {"durable"}));
    auto mode = run_sync(db->execute("PRAGMA journal_mode"));
    EXPECT_EQ(mode.rows[0].at(0).as_string(), "wal");
  }
  BlockingPool pool(1);
  auto db = open_database(url, pool);
  db->migrate("notes", kNotes);
  auto rows = run_sync(db->execute("SELECT body FROM notes"));
  ASSERT_EQ(rows.rows.size(), 1u);
  EXPECT_EQ(rows.rows[0].text("body"), "durable");
  EXPECT_TRUE(run_sync(db->ping()));
}

TEST(Sql, NullsAndTypesRoundTrip) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  auto r = run_sync(db->execute("SELECT ? AS n, ? AS i, ? AS d, ? AS s",
                                {nullptr, 42, 2.5, std::optional<std::string>()}));
  const auto& row = r.rows.at(0);
  EXPECT_TRUE(row["n"].is_null());
  EXPECT_EQ(row.integer("i"), 42);
  EXPECT_DOUBLE_EQ(row["d"].as_double(), 2.5);
  EXPECT_FALSE(row.optional_text("s").has_value());
  EXPECT_THROW(row["missing"], std::out_of_range);
}

TEST(Sql, BadUrlsAreRejected) {
  BlockingPool pool(1);
  EXPECT_THROW(open_database("mysql://x", pool), std::invalid_argument);
  EXPECT_THROW(open_database("sqlite:///", pool), std::invalid_argument);
  EXPECT_THROW(open_database("postgresql://u@h/db?nosuchoption=1", pool), std::invalid_argument);
  EXPECT_THROW(open_database("sqlite:////proc/forbidden/x.db", pool), std::exception);
}

TEST(Sql, ReadAnswersFromAFileDatabaseAndSeesCommittedWrites) {
  BlockingPool pool(2);
  auto db = open_database(temp_db("read.db"), pool);
  db->migrate("notes", kNotes);
  LoopThread loop;
  for (int i = 0; i < 3; ++i) {
    std::string body = "note " + std::to_string(i);
    loop.run(db->execute("INSERT INTO notes (body) VALUES (?)", {body}));
    auto r = loop.run(db->read("SELECT COUNT(*) AS n FROM notes"));
    EXPECT_EQ(r.rows[0].integer("n"), i + 1);  // read-your-writes across connections
  }
  auto one = loop.run(db->read("SELECT body FROM notes WHERE id = ?", {2}));
  ASSERT_EQ(one.rows.size(), 1u);
  EXPECT_EQ(one.rows[0].text("body"), "note 1");
}

TEST(Sql, ReadRefusesWrites) {
  BlockingPool pool(1);
  auto db = open_database(temp_db("readonly.db"), pool);
  db->migrate("notes", kNotes);
  LoopThread loop;
  EXPECT_THROW(loop.run(db->read("INSERT INTO notes (body) VALUES ('x')")),
               svckit::sql::DatabaseError);
  auto n = loop.run(db->execute("SELECT COUNT(*) AS n FROM notes"));
  EXPECT_EQ(n.rows[0].integer("n"), 0);
}

TEST(Sql, ALongReadIsMovedOffTheCallingThread) {
  BlockingPool pool(1);
  auto db = open_database(temp_db("longread.db"), pool);
  LoopThread loop;
  // A recursive count to five million runs far past the inline budget: it must still answer,
  // and the loop must keep running meanwhile (it would stall for the whole count if it ran it).
  auto read = loop.spawn(
      db->read("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5000000)"
               " SELECT COUNT(*) AS n FROM c"));
  auto longest_gap = loop.run([]() -> svckit::Task<std::chrono::milliseconds> {
    using namespace std::chrono;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
    auto last = steady_clock::now();
    milliseconds longest{0};
    for (int i = 0; i < 40; ++i) {
      timer.expires_after(5ms);
      co_await timer.async_wait(boost::asio::use_awaitable);
      auto now = steady_clock::now();
      longest = std::max(longest, duration_cast<milliseconds>(now - last));
      last = now;
    }
    co_return longest;
  }());
  EXPECT_EQ(read.get().rows[0].integer("n"), 5000000);
  EXPECT_LT(longest_gap.count(), 150);  // ticks every 5 ms; the count takes about a second
}

TEST(Sql, ReadWorksOnMemoryDatabases) {
  BlockingPool pool(1);
  auto db = open_database("sqlite::memory:", pool);
  db->migrate("notes", kNotes);
  run_sync(db->execute("INSERT INTO notes (body) VALUES ('m')"));
  EXPECT_EQ(run_sync(db->read("SELECT body FROM notes")).rows[0].text("body"), "m");
}
