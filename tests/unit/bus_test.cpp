// The bus contract, run against every backend this build has (in-process now; RabbitMQ joins the
// list when its backend lands), plus CloudEvents parsing and topic matching.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "run_sync.hpp"
#include "svckit/blocking_pool.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/bus/processed_events.hpp"
#include "svckit/http/request.hpp"
#include "svckit/metrics/registry.hpp"
#include "svckit/sql/database.hpp"

using namespace std::chrono_literals;
using svckit::Task;
using svckit::bus::BusError;
using svckit::bus::Event;
using svckit::bus::Outcome;
using svckit::bus::SubscribeOptions;

namespace {

// Polls `done` until it holds or `timeout` passes.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds timeout = 3s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return done();
}

SubscribeOptions fast_retries(int attempts) {
  SubscribeOptions o;
  o.retry = {.max_attempts = attempts, .initial_backoff = 1ms, .max_backoff = 5ms};
  return o;
}

// Events a handler saw, safe to read from the test thread.
struct Seen {
  std::mutex mutex;
  std::vector<Event> events;
  void add(const Event& e) {
    std::lock_guard lock(mutex);
    events.push_back(e);
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  Event at(std::size_t i) {
    std::lock_guard lock(mutex);
    return events.at(i);
  }
};

class BusContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    svckit::bus::BusOptions options;
    options.source = "test-service";
    options.metrics = &registry_;
    bus_ = svckit::bus::open_bus(GetParam(), {&io_a_, &io_b_}, options);
  }
  void TearDown() override {
    if (bus_->connected()) loop_.run(bus_->close(2s));
  }

  Event publish(const std::string& type, nlohmann::json data,
                const svckit::http::Request* context = nullptr) {
    return loop_.run(bus_->publish(type, std::move(data), context));
  }
  void subscribe(const std::string& group, const std::string& pattern, Seen& seen,
                 Outcome outcome = Outcome::success, SubscribeOptions options = {}) {
    bus_->subscribe(
        group, pattern,
        [&seen, outcome](const Event& e) -> Task<Outcome> {
          seen.add(e);
          co_return outcome;
        },
        options);
  }

  // Runs an io_context on its own thread; stops it on destruction.
  struct Runner {
    explicit Runner(boost::asio::io_context& io)
        : io(io), guard(io.get_executor()), thread([&io] { io.run(); }) {}
    ~Runner() {
      io.stop();
      thread.join();
    }
    boost::asio::io_context& io;
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard;
    std::thread thread;
  };

  svckit::metrics::Registry registry_;
  LoopThread loop_;  // the test awaits from here; deliveries run on the two loops below
  boost::asio::io_context io_a_, io_b_;
  std::unique_ptr<svckit::bus::Bus> bus_;
  Runner run_a_{io_a_}, run_b_{io_b_};
};

}  // namespace

TEST(CloudEvent, ParsesAndRoundTripsStructuredMode) {
  auto json =
      nlohmann::json::parse(R"({"specversion":"1.0","id":"e1","source":"/svc","type":"task.created",
    "time":"2025-01-01T00:00:00Z","datacontenttype":"application/json","data":{"task_id":"7"},
    "traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","requestid":"r1"})");
  auto e = Event::from_json(json);
  EXPECT_EQ(e.id, "e1");
  EXPECT_EQ(e.type, "task.created");
  EXPECT_EQ(e.data["task_id"], "7");
  EXPECT_EQ(e.extension("requestid"), "r1");
  EXPECT_EQ(e.extension("nothing"), "");
  EXPECT_EQ(Event::from_json(e.to_json()).to_json(), e.to_json());
  EXPECT_TRUE(Event::is_cloud_event(json));
  EXPECT_FALSE(Event::is_cloud_event(nlohmann::json{{"task_id", "7"}}));
}

TEST(CloudEvent, RefusesMalformedEventsWithAReason) {
  auto base = nlohmann::json{{"specversion", "1.0"}, {"id", "e"}, {"source", "s"}, {"type", "t"}};
  auto without = [&](const char* k) {
    auto j = base;
    j.erase(k);
    return j;
  };
  auto with = [&](const char* k, nlohmann::json v) {
    auto j = base;
    j[k] = std::move(v);
    return j;
  };
  for (const auto& bad :
       {nlohmann::json::array(), nlohmann::json("x"), without("id"), without("source"),
        without("type"), without("specversion"), with("specversion", "0.3"), with("id", 5),
        with("id", ""), with("time", 5), with("Bad-Name", "x"), with("toolongextensionname12", "x"),
        with("ext", nlohmann::json::object()), with("data_base64", "AAAA")}) {
    EXPECT_THROW(Event::from_json(bad), BusError) << bad.dump();
  }
  try {
    Event::from_json(without("source"));
  } catch (const BusError& e) {
    EXPECT_NE(std::string(e.what()).find("\"source\""), std::string::npos) << e.what();
  }
}

TEST(TopicPattern, FollowsAmqpTopicRules) {
  using svckit::bus::topic_matches;
  EXPECT_TRUE(topic_matches("task.created", "task.created"));
  EXPECT_FALSE(topic_matches("task.created", "task.completed"));
  EXPECT_TRUE(topic_matches("task.*", "task.created"));
  EXPECT_FALSE(topic_matches("task.*", "task.created.v2"));
  EXPECT_FALSE(topic_matches("task.*", "task"));
  EXPECT_TRUE(topic_matches("task.#", "task"));
  EXPECT_TRUE(topic_matches("task.#", "task.created.v2"));
  EXPECT_TRUE(topic_matches("#", "anything.at.all"));
  EXPECT_TRUE(topic_matches("*.created", "task.created"));
  EXPECT_TRUE(topic_matches("#.created", "a.b.created"));
  EXPECT_FALSE(topic_matches("#.created", "a.b.completed"));
  EXPECT_TRUE(topic_matches("a.#.z", "a.z"));
  EXPECT_TRUE(topic_matches("a.#.z", "a.b.c.z"));
  for (const char* bad : {"", "a..b", ".a", "a.", "ta*", "a.b#"})
    EXPECT_THROW(svckit::bus::check_pattern(bad), BusError) << bad;
}

TEST_P(BusContract, PublishWrapsDataInACloudEventFromThisService) {
  Seen seen;
  subscribe("g", "task.created", seen);
  svckit::http::Request incoming;
  incoming.set_context("req-42",
                       svckit::trace::TraceContext::continue_from(
                           "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", std::nullopt),
                       nullptr);
  auto sent = publish("task.created", {{"task_id", "7"}}, &incoming);
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));
  auto got = seen.at(0);
  EXPECT_EQ(got.id, sent.id);
  EXPECT_EQ(got.id.size(), 36u);
  EXPECT_EQ(got.source, "test-service");
  EXPECT_EQ(got.specversion, "1.0");
  EXPECT_EQ(got.type, "task.created");
  EXPECT_EQ(got.datacontenttype, "application/json");
  EXPECT_EQ(got.time.size(), 24u);
  EXPECT_EQ(got.data["task_id"], "7");
  EXPECT_EQ(got.extension("requestid"), "req-42");
  EXPECT_EQ(got.extension("traceparent").substr(0, 36), "00-0af7651916cd43dd8448eb211c80319c-");
}

TEST_P(BusContract, AnEventThatIsACloudEventIsNotWrappedAgain) {
  Seen seen;
  subscribe("g", "task.#", seen);
  auto original = nlohmann::json{{"specversion", "1.0"},
                                 {"id", "from-the-monolith"},
                                 {"source", "monolith"},
                                 {"type", "task.created"},
                                 {"data", {{"x", 1}}}};
  publish("ignored.type", original);
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));
  EXPECT_EQ(seen.at(0).id, "from-the-monolith");
  EXPECT_EQ(seen.at(0).source, "monolith");
  EXPECT_EQ(seen.at(0).data["x"], 1);
}

TEST_P(BusContract, EveryMatchingGroupGetsACopyAndConsumersInAGroupCompete) {
  Seen analytics, notify_a, notify_b, unrelated;
  subscribe("analytics", "task.*", analytics);
  subscribe("notifications", "task.created", notify_a);
  subscribe("notifications", "task.created", notify_b);
  subscribe("ai", "ai.#", unrelated);
  for (int i = 0; i < 40; ++i) publish("task.created", {{"i", i}});
  publish("task.completed", {{"i", 99}});
  ASSERT_TRUE(eventually([&] { return analytics.size() == 41; }));
  ASSERT_TRUE(eventually([&] { return notify_a.size() + notify_b.size() == 40; }));
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(notify_a.size() + notify_b.size(), 40u) << "each event once per group";
  EXPECT_GT(notify_a.size(), 0u);
  EXPECT_GT(notify_b.size(), 0u);
  EXPECT_EQ(unrelated.size(), 0u);
}

TEST_P(BusContract, RetryRedeliversUntilTheHandlerSucceeds) {
  std::atomic<int> calls{0};
  bus_->subscribe(
      "g", "job.run",
      [&calls](const Event&) -> Task<Outcome> {
        co_return ++calls < 3 ? Outcome::retry : Outcome::success;
      },
      fast_retries(5));
  publish("job.run", {});
  ASSERT_TRUE(eventually([&] { return calls == 3; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(bus_->dead_letters("g").empty());
  EXPECT_NE(registry_.render().find(R"(bus_messages_retried_total{group="g"} 2)"),
            std::string::npos);
}

TEST_P(BusContract, AfterTheLastAttemptTheEventIsDeadLetteredWithItsReasonAndCanBeReplayed) {
  std::atomic<int> calls{0};
  std::atomic<bool> healthy{false};
  bus_->subscribe(
      "billing", "invoice.*",
      [&](const Event&) -> Task<Outcome> {
        ++calls;
        if (!healthy) throw std::runtime_error("payment provider down");
        co_return Outcome::success;
      },
      fast_retries(3));
  auto sent = publish("invoice.created", {{"amount", 10}});
  ASSERT_TRUE(eventually([&] { return bus_->dead_letters("billing").size() == 1; }));
  EXPECT_EQ(calls, 3);
  auto letter = bus_->dead_letters("billing")[0];
  EXPECT_EQ(letter.event.id, sent.id);
  EXPECT_EQ(letter.group, "billing");
  EXPECT_EQ(letter.attempts, 3);
  EXPECT_EQ(letter.reason, "payment provider down");
  EXPECT_FALSE(letter.dead_at.empty());
  EXPECT_NE(registry_.render().find(R"(bus_messages_dead_lettered_total{group="billing"} 1)"),
            std::string::npos);

  healthy = true;
  EXPECT_FALSE(loop_.run(bus_->replay("billing", "no-such-id")));
  EXPECT_FALSE(loop_.run(bus_->replay("no-such-group", sent.id)));
  EXPECT_TRUE(loop_.run(bus_->replay("billing", sent.id)));
  ASSERT_TRUE(eventually([&] { return calls == 4; }));
  EXPECT_TRUE(bus_->dead_letters("billing").empty());
}

TEST_P(BusContract, DropAcknowledgesWithoutDeadLettering) {
  Seen seen;
  subscribe("g", "x.y", seen, Outcome::drop, fast_retries(3));
  publish("x.y", {});
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_TRUE(bus_->dead_letters("g").empty());
}

TEST_P(BusContract, PrefetchBoundsDeliveriesInFlight) {
  std::atomic<int> running{0}, most{0}, done{0};
  SubscribeOptions options;
  options.prefetch = 3;
  bus_->subscribe(
      "slow", "work.item",
      [&](const Event&) -> Task<Outcome> {
        int now = ++running;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 5ms);
        co_await t.async_wait(boost::asio::use_awaitable);
        --running;
        ++done;
        co_return Outcome::success;
      },
      options);
  for (int i = 0; i < 20; ++i) publish("work.item", {{"i", i}});
  ASSERT_TRUE(eventually([&] { return done == 20; }));
  EXPECT_LE(most, 3);
  EXPECT_GE(most, 2);
}

// Handlers that finish without suspending, behind a long backlog: each delivery must start from
// the loop, not inside the previous one (which once nested until the stack overflowed).
TEST_P(BusContract, ABacklogOfSynchronousHandlersDoesNotGrowTheStack) {
  std::atomic<int> handled{0};
  SubscribeOptions options;
  options.prefetch = 1;
  bus_->subscribe(
      "backlog", "tick",
      [&handled](const Event&) -> Task<Outcome> {
        ++handled;
        co_return Outcome::success;
      },
      options);
  const int n = 100'000;
  loop_.run([](svckit::bus::Bus& bus, int n) -> Task<void> {
    for (int i = 0; i < n; ++i) {
      Event e;
      e.id = std::to_string(i);
      e.source = "t";
      e.type = "tick";
      co_await bus.publish(std::move(e));
    }
  }(*bus_, n));
  EXPECT_TRUE(eventually([&] { return handled == n; }, 30s)) << handled;
}

TEST_P(BusContract, RequestReplyWithCorrelation) {
  bus_->respond("math.add", [](const Event& e) -> Task<nlohmann::json> {
    co_return nlohmann::json{{"sum", e.data["a"].get<int>() + e.data["b"].get<int>()}};
  });
  bus_->respond("math.fail", [](const Event&) -> Task<nlohmann::json> {
    throw std::runtime_error("division by zero");
    co_return nlohmann::json{};
  });
  std::vector<std::future<nlohmann::json>> answers;
  for (int i = 0; i < 20; ++i)
    answers.push_back(loop_.spawn(bus_->request("math.add", {{"a", i}, {"b", 1}}, 2s)));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(answers[i].get()["sum"], i + 1) << "replies matched";
  try {
    loop_.run(bus_->request("math.fail", {}, 2s));
    FAIL();
  } catch (const BusError& e) {
    EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
  }
}

TEST_P(BusContract, ARequestNobodyAnswersTimesOut) {
  auto started = std::chrono::steady_clock::now();
  try {
    loop_.run(bus_->request("nobody.home", {}, 150ms));
    FAIL();
  } catch (const svckit::bus::RequestTimeout& e) {
    EXPECT_EQ(e.status(), 504);
  }
  auto took = std::chrono::steady_clock::now() - started;
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 2s);
}

TEST_P(BusContract, CloseLetsInFlightHandlersFinishThenRefusesPublishes) {
  std::atomic<bool> finished{false}, entered{false};
  bus_->subscribe("g", "slow.job", [&](const Event&) -> Task<Outcome> {
    entered = true;
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 100ms);
    co_await t.async_wait(boost::asio::use_awaitable);
    finished = true;
    co_return Outcome::success;
  });
  publish("slow.job", {});
  ASSERT_TRUE(eventually([&] { return entered.load(); }));
  loop_.run(bus_->close(2s));
  EXPECT_TRUE(finished) << "close waited for the handler";
  EXPECT_FALSE(bus_->connected());
  EXPECT_THROW(publish("slow.job", {}), BusError);
}

TEST_P(BusContract, BadNamesAreRefused) {
  auto handler = [](const Event&) -> Task<Outcome> { co_return Outcome::success; };
  EXPECT_THROW(bus_->subscribe("", "a", handler), BusError);
  EXPECT_THROW(bus_->subscribe("bad group", "a", handler), BusError);
  EXPECT_THROW(bus_->subscribe("g", "a..b", handler), BusError);
  EXPECT_THROW(bus_->subscribe("g", "a", nullptr), BusError);
  Event incomplete;
  incomplete.type = "x";
  EXPECT_THROW(loop_.run(bus_->publish(incomplete)), BusError);
}

TEST_P(BusContract, ProcessedEventsMakeRedeliveriesEffectivelyOnce) {
  svckit::BlockingPool pool(2);
  auto db = svckit::sql::open_database("sqlite::memory:", pool);
  svckit::bus::ProcessedEvents processed(*db, "mailer");
  std::atomic<int> runs{0}, failures_left{1};
  auto handler = [&](const Event&) -> Task<Outcome> {
    ++runs;
    co_return failures_left-- > 0 ? Outcome::retry : Outcome::success;
  };
  bus_->subscribe("mailer", "mail.send", processed.wrap(handler), fast_retries(5));
  Event e = bus_->make_event("mail.send", {{"to", "a@b.c"}});
  loop_.run(bus_->publish(e));
  ASSERT_TRUE(eventually([&] { return runs == 2; }));  // a retry is not a duplicate
  loop_.run(bus_->publish(e));                         // the broker redelivers it
  loop_.run(bus_->publish(e));
  Event same_id_other_source = e;
  same_id_other_source.source = "someone-else";
  loop_.run(bus_->publish(same_id_other_source));
  ASSERT_TRUE(eventually([&] { return runs == 3; }));
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(runs, 3) << "the duplicates were acknowledged without running the handler";
  EXPECT_TRUE(loop_.run(processed.handled(e)));
  EXPECT_EQ(loop_.run(processed.forget_older_than(std::chrono::hours(1))), 0);
  EXPECT_EQ(loop_.run(processed.forget_older_than(std::chrono::hours(-1))), 2);
  EXPECT_FALSE(loop_.run(processed.handled(e)));
  loop_.run(bus_->close(2s));  // before the database goes
}

INSTANTIATE_TEST_SUITE_P(Backends, BusContract, ::testing::Values("inproc://"));

TEST(OpenBus, NamesWhatIsWrongWithTheUrl) {
  boost::asio::io_context io;
  EXPECT_THROW(svckit::bus::open_bus("kafka://x", {&io}, {}), BusError);
  EXPECT_THROW(svckit::bus::open_bus("inproc://", {}, {}), BusError);
}
