// The transactional outbox on both database backends (a SQLite file, a real PostgreSQL: see
// sql_contract_test.cpp), publishing on the in-process bus.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <thread>

#include "run_sync.hpp"
#include "svckit/messaging/outbox.hpp"
#include "svckit/sql/database.hpp"
#include "test_databases.hpp"

using namespace std::chrono_literals;
using svckit::BlockingPool;
using svckit::Task;
using svckit::bus::Event;
using svckit::bus::Outcome;
using svckit::messaging::Outbox;
using svckit::sql::Transaction;

namespace {

// What a subscriber saw, in order.
struct Seen {
  std::mutex mutex;
  std::vector<std::string> ids;
  void add(const Event& e) {
    std::lock_guard lock(mutex);
    ids.push_back(e.id);
  }
  std::vector<std::string> all() {
    std::lock_guard lock(mutex);
    return ids;
  }
};

class OutboxTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = svckit::sql::open_database(fresh_test_database(GetParam(), "outbox"), pool_);
    bus_ = open_bus();
  }
  void TearDown() override {
    if (bus_) loop_.run(bus_->close(2s));
  }
  std::unique_ptr<svckit::bus::Bus> open_bus() {
    svckit::bus::BusOptions options;
    options.source = "outbox-test";
    auto bus = svckit::bus::open_bus("inproc://", {&io_}, options);
    bus->subscribe("seen", "thing.*", [this](const Event& e) -> Task<Outcome> {
      seen_.add(e);
      co_return Outcome::success;
    });
    return bus;
  }
  // Adds `n` events in one transaction; throws `abort` at the end when asked.
  std::vector<std::string> add(Outbox& outbox, int n, bool roll_back = false) {
    std::vector<std::string> ids;
    auto work = [&](Transaction& tx) -> Task<void> {
      for (int i = 0; i < n; ++i) {
        nlohmann::json data = {{"i", i}};  // named: no braced list inside co_await (GCC 12)
        auto e = co_await outbox.add(tx, "thing.made", std::move(data));
        ids.push_back(e.id);
      }
      if (roll_back) throw std::runtime_error("rolled back");
    };
    loop_.run(db_->transaction(work));
    return ids;
  }
  std::int64_t rows() {
    return loop_.run(db_->read("SELECT COUNT(*) AS n FROM svckit_outbox")).rows[0].integer("n");
  }
  bool seen_all(std::size_t n) {
    for (int i = 0; i < 200 && seen_.all().size() < n; ++i) std::this_thread::sleep_for(10ms);
    return seen_.all().size() == n;
  }

  BlockingPool pool_{2};
  LoopThread loop_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{
      io_.get_executor()};
  std::thread io_thread_{[this] { io_.run(); }};
  std::unique_ptr<svckit::sql::Database> db_;
  std::unique_ptr<svckit::bus::Bus> bus_;
  Seen seen_;

 public:
  ~OutboxTest() override {
    bus_.reset();
    guard_.reset();
    io_.stop();
    io_thread_.join();
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, OutboxTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_P(OutboxTest, CommittedEventsArePublishedInOrderAndRemoved) {
  Outbox outbox(*db_, *bus_, "things");
  auto first = add(outbox, 3);
  auto second = add(outbox, 2);
  EXPECT_EQ(rows(), 5);
  EXPECT_TRUE(seen_.all().empty());  // nothing leaves before the relay
  EXPECT_EQ(loop_.run(outbox.relay_once()), 5u);
  ASSERT_TRUE(seen_all(5));
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(seen_.all(), first);
  EXPECT_EQ(rows(), 0);
  EXPECT_EQ(outbox.backlog().pending, 0);
}

TEST_P(OutboxTest, ARolledBackTransactionAnnouncesNothing) {
  Outbox outbox(*db_, *bus_, "things");
  EXPECT_THROW(add(outbox, 2, /*roll_back=*/true), std::runtime_error);
  EXPECT_EQ(rows(), 0);
  EXPECT_EQ(loop_.run(outbox.relay_once()), 0u);
  EXPECT_TRUE(seen_.all().empty());
}

TEST_P(OutboxTest, WhatTheBusRefusedWaitsAndGoesOutLaterInOrder) {
  auto ids = [&] {
    Outbox outbox(*db_, *bus_, "things");
    auto made = add(outbox, 4);
    loop_.run(bus_->close(2s));  // the bus is away: publish throws
    EXPECT_THROW(loop_.run(outbox.relay_once()), std::exception);
    EXPECT_EQ(rows(), 4);
    EXPECT_EQ(outbox.backlog().pending, 4);
    return made;
  }();
  bus_ = open_bus();  // a new process: a new bus, the same database
  Outbox outbox(*db_, *bus_, "things");
  // The first relay's lease (5 s) still stands; a lapsed lease is taken over.
  EXPECT_EQ(loop_.run(outbox.relay_once()), 0u);
  loop_.run(db_->execute("UPDATE svckit_outbox_lease SET until_ms = 0"));
  EXPECT_EQ(loop_.run(outbox.relay_once()), 4u);
  ASSERT_TRUE(seen_all(4));
  EXPECT_EQ(seen_.all(), ids);
}

TEST_P(OutboxTest, TwoRelaysOnOneDatabasePublishEachEventOnce) {
  Outbox a(*db_, *bus_, "things"), b(*db_, *bus_, "things");
  std::vector<std::string> ids;
  std::size_t published = 0;
  for (int round = 0; round < 10; ++round) {
    auto made = add(round % 2 ? a : b, 3);
    ids.insert(ids.end(), made.begin(), made.end());
    published += loop_.run(a.relay_once()) + loop_.run(b.relay_once());
  }
  EXPECT_EQ(published, 30u);
  ASSERT_TRUE(seen_all(30));
  EXPECT_EQ(seen_.all(), ids);  // once each, in order, all through the lease holder
}

TEST_P(OutboxTest, OutboxesOfTwoComponentsInOneDatabaseKeepToTheirOwn) {
  Outbox tasks(*db_, *bus_, "tasks"), users(*db_, *bus_, "users");
  add(tasks, 2);
  add(users, 3);
  EXPECT_EQ(loop_.run(users.relay_once()), 3u);
  EXPECT_EQ(users.backlog().pending, 0);
  EXPECT_EQ(rows(), 2);
  EXPECT_EQ(loop_.run(tasks.relay_once()), 2u);
}

}  // namespace
