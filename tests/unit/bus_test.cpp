// The bus contract, run against both backends: in-process, and RabbitMQ on a real broker that
// ctest starts for these tests (tests/support/rabbitmq_broker.py; SVCKIT_TEST_AMQP_URL). Plus
// CloudEvents parsing and topic matching.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "amqp_link.hpp"
#include "run_sync.hpp"
#include "svckit/blocking_pool.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/http/request.hpp"
#include "svckit/messaging/processed_events.hpp"
#include "svckit/metrics/registry.hpp"
#include "svckit/sql/database.hpp"
#include "svckit/trace/span.hpp"

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

std::string test_amqp_url() {
  const char* url = std::getenv("SVCKIT_TEST_AMQP_URL");
  return url ? url : "amqp://guest:guest@127.0.0.1:5683/";
}

// The broker keeps durable queues between tests: each test starts without the ones it uses.
void delete_queues(const std::string& url, const std::vector<std::string>& groups) {
  using namespace svckit::bus::detail;
  auto address = parse_amqp_url(url);
  for (const auto& g : groups)
    for (const auto& queue : {g, g + ".dlq"}) {
      auto conn = open_connection(address);
      amqp_queue_delete(conn, kChannel, amqp_cstring_bytes(queue.c_str()), 0, 0);
      amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
      amqp_destroy_connection(conn);
    }
}
const std::vector<std::string> kGroups = {
    "g",      "analytics", "notifications", "ai",           "billing",       "slow",  "backlog",
    "mailer", "ordered",   "workers",       "rpc.math.add", "rpc.math.fail", "stuck", "flowing"};

class BusContract : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (amqp()) delete_queues(GetParam(), kGroups);
    bus_ = open();
  }
  void TearDown() override {
    if (bus_->connected()) loop_.run(bus_->close(2s));
    bus_.reset();
    if (amqp()) delete_queues(GetParam(), kGroups);
  }
  bool amqp() const { return GetParam().starts_with("amqp"); }
  std::unique_ptr<svckit::bus::Bus> open() {
    svckit::bus::BusOptions options;
    options.source = "test-service";
    options.metrics = &registry_;
    return svckit::bus::open_bus(GetParam(), {&io_a_, &io_b_}, options);
  }
  // A broker needs the queues declared and bound before a publish can reach them.
  void await_ready(svckit::bus::Bus& bus) {
    ASSERT_TRUE(eventually([&] { return bus.connected(); }, 15s)) << "the bus did not connect";
  }

  Event publish(const std::string& type, nlohmann::json data,
                const svckit::Context* context = nullptr) {
    await_ready(*bus_);
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
  svckit::Context incoming("req-42",
                           svckit::trace::TraceContext::continue_from(
                               "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "v=1"));
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
  EXPECT_EQ(got.extension("tracestate"), "v=1");
  // The delivery's context: the publisher's request id, its trace continued in a new span.
  auto context = got.context();
  EXPECT_EQ(context.request_id(), "req-42");
  EXPECT_EQ(context.trace().trace_id, "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(context.trace().parent_span_id, got.extension("traceparent").substr(36, 16));
  EXPECT_NE(context.trace().span_id, incoming.trace().span_id);
  EXPECT_EQ(context.trace().tracestate, "v=1");
}

// Spans recorded while a test runs, owned.
struct RecordedSpans : svckit::trace::SpanSink {
  struct One {
    std::string trace_id, span_id, parent_span_id, name;
    svckit::trace::SpanKind kind;
  };
  std::mutex mutex;
  std::vector<One> spans;
  void record(const svckit::trace::SpanView& s) override {
    std::lock_guard lock(mutex);
    spans.push_back({std::string(s.trace_id), std::string(s.span_id), std::string(s.parent_span_id),
                     std::string(s.name), s.kind});
  }
  std::vector<One> of(svckit::trace::SpanKind kind) {
    std::lock_guard lock(mutex);
    std::vector<One> out;
    for (const auto& s : spans)
      if (s.kind == kind) out.push_back(s);
    return out;
  }
};

TEST_P(BusContract, ATracedDeliveryIsAConsumerSpanAndTheHandlersContextIsIt) {
  RecordedSpans recorded;
  svckit::trace::install_sink(&recorded);
  std::mutex mutex;
  std::vector<svckit::trace::TraceContext> seen_by_handler;
  bus_->subscribe("g", "task.#", [&](const Event& e) -> Task<Outcome> {
    auto context = e.context();
    std::lock_guard lock(mutex);
    seen_by_handler.push_back(context.trace());
    co_return Outcome::success;
  });
  svckit::Context incoming("req-1", svckit::trace::TraceContext::start());
  publish("task.created", {{"task_id", "1"}}, &incoming);  // in a request's trace
  publish("task.updated", {{"task_id", "1"}});             // in none: one starts at delivery
  ASSERT_TRUE(
      eventually([&] { return recorded.of(svckit::trace::SpanKind::consumer).size() == 2; }));
  svckit::trace::install_sink(nullptr);

  auto producers = recorded.of(svckit::trace::SpanKind::producer);
  ASSERT_EQ(producers.size(), 1u);  // only the event published with a context
  EXPECT_EQ(producers[0].trace_id, incoming.trace().trace_id);
  EXPECT_EQ(producers[0].parent_span_id, incoming.trace().span_id);
  std::lock_guard lock(mutex);
  ASSERT_EQ(seen_by_handler.size(), 2u);
  for (const auto& consumer : recorded.of(svckit::trace::SpanKind::consumer)) {
    // What the handler does is the consumer span's: the same trace, the span's own id.
    auto handler = std::find_if(seen_by_handler.begin(), seen_by_handler.end(),
                                [&](const auto& t) { return t.span_id == consumer.span_id; });
    ASSERT_NE(handler, seen_by_handler.end()) << consumer.name;
    EXPECT_EQ(handler->trace_id, consumer.trace_id) << consumer.name;
    EXPECT_EQ(handler->parent_span_id, consumer.parent_span_id) << consumer.name;
    if (consumer.name == "task.created process")
      EXPECT_EQ(consumer.parent_span_id, producers[0].span_id);
    else
      EXPECT_TRUE(consumer.parent_span_id.empty());
  }
}

TEST(BusEvent, ADeliveryWithoutTraceOrSaneRequestIdStartsItsOwn) {
  svckit::bus::Event e;
  e.extensions["requestid"] = "bad id\n";
  e.extensions["traceparent"] = "00-00000000000000000000000000000000-b7ad6b7169203331-01";
  auto context = e.context();
  EXPECT_EQ(context.trace().trace_id.size(), 32u);
  EXPECT_NE(context.trace().trace_id, "00000000000000000000000000000000");
  EXPECT_TRUE(context.trace().parent_span_id.empty());
  EXPECT_EQ(context.request_id(), context.trace().trace_id);
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
  // What the two consumers counted, each on its own, is one series per label set when scraped.
  auto text = registry_.render();
  EXPECT_NE(text.find(R"(bus_messages_consumed_total{group="notifications",outcome="success",)"
                      R"(type="task.created"} 40)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(bus_messages_acked_total{group="notifications",type="task.created"} 40)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(bus_handler_duration_seconds_count{group="analytics"} 41)"),
            std::string::npos);
  EXPECT_NE(text.find(R"(bus_messages_published_total{type="task.created"} 40)"),
            std::string::npos);
  EXPECT_EQ(text.find("# TYPE bus_messages_consumed_total counter"),
            text.rfind("# TYPE bus_messages_consumed_total counter"))
      << "one family";
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
  EXPECT_TRUE(loop_.run(bus_->dead_letters("g")).empty());
  EXPECT_NE(registry_.render().find(R"(bus_messages_retried_total{group="g"} 2)"),
            std::string::npos);
}

TEST_P(BusContract, AfterTheLastAttemptTheEventIsDeadLetteredWithItsReasonAndCanBeReplayed) {
  std::atomic<int> calls{0};
  std::atomic<bool> healthy{false};
  std::mutex mutex;
  std::vector<int> attempts;  // what each delivery said it was
  bus_->subscribe(
      "billing", "invoice.*",
      [&](const Event& e) -> Task<Outcome> {
        {
          std::lock_guard lock(mutex);
          attempts.push_back(e.attempt);
        }
        ++calls;
        if (!healthy) throw std::runtime_error("payment provider down");
        co_return Outcome::success;
      },
      fast_retries(3));
  auto sent = publish("invoice.created", {{"amount", 10}});
  ASSERT_TRUE(eventually([&] { return loop_.run(bus_->dead_letters("billing")).size() == 1; }));
  EXPECT_EQ(calls, 3);
  auto letter = loop_.run(bus_->dead_letters("billing"))[0];
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
  EXPECT_TRUE(loop_.run(bus_->dead_letters("billing")).empty());
  std::lock_guard lock(mutex);
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 3, 1}));  // a replay starts again
}

TEST_P(BusContract, DropAcknowledgesWithoutDeadLettering) {
  Seen seen;
  subscribe("g", "x.y", seen, Outcome::drop, fast_retries(3));
  publish("x.y", {});
  ASSERT_TRUE(eventually([&] { return seen.size() == 1; }));
  std::this_thread::sleep_for(30ms);
  EXPECT_EQ(seen.size(), 1u);
  EXPECT_TRUE(loop_.run(bus_->dead_letters("g")).empty());
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

// A handler that waits long does not hold back an event that arrives while it waits, as long
// as the consumer has room for it.
TEST_P(BusContract, AWaitingHandlerDoesNotHoldBackALaterEvent) {
  std::atomic<bool> release{false}, slow_entered{false}, fast_done{false}, slow_done{false};
  SubscribeOptions options;
  options.prefetch = 4;
  bus_->subscribe(
      "slow", "job.*",
      [&](const Event& e) -> Task<Outcome> {
        if (e.type == "job.fast") {
          fast_done = true;
          co_return Outcome::success;
        }
        slow_entered = true;
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        while (!release) {
          t.expires_after(2ms);
          co_await t.async_wait(boost::asio::use_awaitable);
        }
        slow_done = true;
        co_return Outcome::success;
      },
      options);
  publish("job.slow", {});
  ASSERT_TRUE(eventually([&] { return slow_entered.load(); }));
  publish("job.fast", {});
  EXPECT_TRUE(eventually([&] { return fast_done.load(); }, 3s)) << "held back by the slow one";
  EXPECT_FALSE(slow_done) << "the slow one is still running";
  release = true;
  EXPECT_TRUE(eventually([&] { return slow_done.load(); }));
}

// Over RabbitMQ the consumers of a connection share its acknowledgements: one `multiple` ack
// covers every delivery up to the oldest still being handled. A handler that never finishes
// must not stall the other consumers behind it: their acks go out anyway, and their windows
// keep moving.
TEST_P(BusContract, AHandlerThatNeverFinishesDoesNotStallOtherConsumers) {
  std::atomic<bool> release{false}, stuck_entered{false}, stuck_done{false};
  std::atomic<int> flowed{0};
  SubscribeOptions one;
  one.prefetch = 1;
  bus_->subscribe(
      "stuck", "hold.#",
      [&](const Event&) -> Task<Outcome> {
        stuck_entered = true;
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor);
        while (!release) {
          t.expires_after(2ms);
          co_await t.async_wait(boost::asio::use_awaitable);
        }
        stuck_done = true;
        co_return Outcome::success;
      },
      one);
  SubscribeOptions narrow;
  narrow.prefetch = 4;
  bus_->subscribe(
      "flowing", "flow.#",
      [&](const Event&) -> Task<Outcome> {
        ++flowed;
        co_return Outcome::success;
      },
      narrow);
  publish("hold.one", {});
  ASSERT_TRUE(eventually([&] { return stuck_entered.load(); }));
  for (int i = 0; i < 60; ++i) publish("flow.item", {{"i", i}});
  EXPECT_TRUE(eventually([&] { return flowed == 60; }, 10s)) << flowed << " of 60 handled";
  EXPECT_FALSE(stuck_done);
  release = true;
  EXPECT_TRUE(eventually([&] { return stuck_done.load(); }));
}

// Publishers on several threads, consumers on two loops with small windows (so events queue in
// the backlog and settles hand them on): every group sees every event exactly once.
TEST_P(BusContract, ConcurrentPublishersLoseAndDuplicateNothing) {
  const int threads = 4, per_thread = amqp() ? 250 : 5'000;
  struct Tally {
    std::mutex mutex;
    std::map<std::string, int> times;
    std::atomic<int> total{0};
    void add(const std::string& id) {
      std::lock_guard lock(mutex);
      ++times[id];
      ++total;
    }
  } workers, analytics;
  auto counting = [](Tally& tally, bool sometimes_wait) {
    return [&tally, sometimes_wait](const Event& e) -> Task<Outcome> {
      if (sometimes_wait && e.id.back() == '7') {
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 100us);
        co_await t.async_wait(boost::asio::use_awaitable);
      }
      tally.add(e.id);
      co_return Outcome::success;
    };
  };
  SubscribeOptions narrow;
  narrow.prefetch = 2;
  bus_->subscribe("workers", "load.#", counting(workers, true), narrow);
  bus_->subscribe("workers", "load.#", counting(workers, false), narrow);
  narrow.prefetch = 1;
  bus_->subscribe("analytics", "load.*", counting(analytics, false), narrow);
  await_ready(*bus_);
  std::vector<std::thread> publishers;
  for (int t = 0; t < threads; ++t)
    publishers.emplace_back([&, t] {
      boost::asio::io_context io;
      boost::asio::co_spawn(
          io,
          [&]() -> Task<void> {
            for (int i = 0; i < per_thread; ++i) {
              Event e;
              e.id = std::to_string(t) + "-" + std::to_string(i);
              e.source = "load-test";
              e.type = "load.tick";
              co_await bus_->publish(std::move(e));
            }
          },
          boost::asio::detached);
      io.run();
    });
  for (auto& p : publishers) p.join();
  const int n = threads * per_thread;
  ASSERT_TRUE(eventually([&] { return workers.total == n && analytics.total == n; }, 60s))
      << workers.total << " and " << analytics.total << " of " << n;
  std::this_thread::sleep_for(20ms);
  for (auto* tally : {&workers, &analytics}) {
    std::lock_guard lock(tally->mutex);
    EXPECT_EQ(tally->times.size(), static_cast<std::size_t>(n));
    for (const auto& [id, times] : tally->times) ASSERT_EQ(times, 1) << id;
  }
}

// publish_soon from a thread that has no loop at all (gRPC's, a C callback's): in order; and what
// is still queued when the bus closes is published before it closes.
TEST_P(BusContract, PublishSoonFromAnyThreadArrivesInOrderAndCloseSendsWhatIsQueued) {
  Seen seen;
  SubscribeOptions one_at_a_time;
  one_at_a_time.prefetch = 1;
  subscribe("ordered", "soon.#", seen, Outcome::success, one_at_a_time);
  await_ready(*bus_);
  const int n = amqp() ? 300 : 2000;
  std::thread foreign([&] {
    for (int i = 0; i < n; ++i) bus_->publish_soon("soon.tick", {{"i", i}});
  });
  foreign.join();
  ASSERT_TRUE(eventually([&] { return seen.size() == static_cast<std::size_t>(n); }, 20s))
      << seen.size();
  for (int i = 0; i < n; ++i) ASSERT_EQ(seen.at(i).data["i"], i);
  EXPECT_EQ(seen.at(0).source, "test-service");

  for (int i = 0; i < 50; ++i) bus_->publish_soon("soon.last", {{"i", i}});
  loop_.run(bus_->close(10s));
  EXPECT_NE(registry_.render().find(R"(bus_messages_published_total{type="soon.last"} 50)"),
            std::string::npos)
      << "close() published what was queued";
  EXPECT_THROW(bus_->publish_soon("soon.tick", {}), BusError);
  Event incomplete;
  EXPECT_THROW(bus_->publish_soon(incomplete), BusError);
}

// From a handler on the loop publish_soon drains from (its first consumer runs there): once a
// self-deadlock, since co_spawn on a loop's own thread runs the drain inline.
TEST_P(BusContract, PublishSoonFromAHandlerOnTheBusesOwnLoop) {
  Seen echoed;
  bus_->subscribe("g", "kick", [this](const Event& e) -> Task<Outcome> {
    bus_->publish_soon("kicked", {{"from", e.id}});
    co_return Outcome::success;
  });
  subscribe("analytics", "kicked", echoed);
  for (int i = 0; i < 5; ++i) publish("kick", {});
  EXPECT_TRUE(eventually([&] { return echoed.size() == 5; }, 10s)) << echoed.size();
}

// Whether an event can reach anyone: in-process only when a group's pattern matches; over a
// broker always (other processes may be listening).
TEST_P(BusContract, WantedSaysWhetherAnEventCanReachAnyone) {
  EXPECT_EQ(bus_->wanted("task.created"), amqp());
  Seen seen;
  subscribe("analytics", "task.*", seen);
  EXPECT_TRUE(bus_->wanted("task.created"));
  EXPECT_TRUE(bus_->wanted("task.completed"));
  EXPECT_EQ(bus_->wanted("ai.response.generated"), amqp());
  EXPECT_EQ(bus_->wanted("task.created.v2"), amqp()) << "task.* is one word";
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
  const int n = amqp() ? 3'000 : 100'000;  // the broker confirms each one in turn
  await_ready(*bus_);
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
  await_ready(*bus_);
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
  EXPECT_THROW(loop_.run(bus_->publish("slow.job", {})), BusError);
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
  svckit::messaging::ProcessedEvents processed(*db, "mailer");
  std::atomic<int> runs{0}, failures_left{1};
  auto handler = [&](const Event&) -> Task<Outcome> {
    ++runs;
    co_return failures_left-- > 0 ? Outcome::retry : Outcome::success;
  };
  bus_->subscribe("mailer", "mail.send", processed.wrap(handler), fast_retries(5));
  await_ready(*bus_);
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

// Two copies of one event at once (a publisher re-sent it after a lost confirm): one runs.
TEST_P(BusContract, ProcessedEventsRunOneOfTwoCopiesArrivingTogether) {
  svckit::BlockingPool pool(2);
  auto db = svckit::sql::open_database("sqlite::memory:", pool);
  svckit::messaging::ProcessedEvents processed(*db, "mailer");
  std::atomic<int> runs{0};
  auto slow = [&runs](const Event&) -> Task<Outcome> {
    ++runs;
    boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 100ms);
    co_await t.async_wait(boost::asio::use_awaitable);
    co_return Outcome::success;
  };
  bus_->subscribe("mailer", "mail.send", processed.wrap(slow));
  await_ready(*bus_);
  Event e = bus_->make_event("mail.send", {{"to", "a@b.c"}});
  loop_.run(bus_->publish(e));
  loop_.run(bus_->publish(e));
  ASSERT_TRUE(eventually([&] { return loop_.run(processed.handled(e)); }));
  std::this_thread::sleep_for(150ms);
  EXPECT_EQ(runs, 1);
  loop_.run(bus_->close(2s));
}

TEST_P(BusContract, OneConsumerHandlesAQueueInPublishOrder) {
  Seen seen;
  SubscribeOptions one_at_a_time;
  one_at_a_time.prefetch = 1;
  subscribe("ordered", "seq.#", seen, Outcome::success, one_at_a_time);
  for (int i = 0; i < 50; ++i) publish(i % 2 ? "seq.a" : "seq.b.c", {{"i", i}});
  ASSERT_TRUE(eventually([&] { return seen.size() == 50; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(seen.at(i).data["i"], i);
}

// A consumer that goes away with deliveries unacknowledged (a crash; here its connection
// closing) does not lose them: another consumer of the group gets them. In one process the
// in-process backend has no second consumer that outlives the first.
TEST_P(BusContract, DeliveriesAConsumerHeldWhenItDiedGoToAnother) {
  if (!amqp()) GTEST_SKIP() << "in-process events live and die with their process";
  std::atomic<int> stuck{0};
  auto doomed = open();
  SubscribeOptions wide;
  wide.prefetch = 10;
  doomed->subscribe(
      "workers", "work.#",
      [&stuck](const Event&) -> Task<Outcome> {
        ++stuck;
        boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 1h);
        co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        co_return Outcome::success;
      },
      wide);
  await_ready(*doomed);
  for (int i = 0; i < 5; ++i) publish("work.item", {{"i", i}});
  ASSERT_TRUE(eventually([&] { return stuck == 5; }));
  Seen survivor;
  subscribe("workers", "work.#", survivor);
  await_ready(*bus_);
  loop_.run(doomed->close(50ms));  // gives up on its handlers: nothing acknowledged
  ASSERT_TRUE(eventually([&] { return survivor.size() == 5; }, 10s)) << survivor.size();
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(survivor.at(i).type, "work.item");
}

// An ack held back behind a handler that is still running reaches the broker anyway, at the
// latest when the bus closes: a consumer that goes away does not get its handled events
// redelivered.
TEST_P(BusContract, AnAckBehindAStuckHandlerStillReachesTheBroker) {
  if (!amqp()) GTEST_SKIP() << "in-process events live and die with their process";
  std::atomic<int> handled{0};
  std::atomic<bool> stuck{false};
  auto doomed = open();
  SubscribeOptions wide;
  wide.prefetch = 10;
  doomed->subscribe(
      "workers", "work.#",
      [&](const Event& e) -> Task<Outcome> {
        if (e.type == "work.stuck") {
          stuck = true;
          boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, 1h);
          co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        }
        ++handled;
        co_return Outcome::success;
      },
      wide);
  await_ready(*doomed);
  publish("work.stuck", {});
  ASSERT_TRUE(eventually([&] { return stuck.load(); }));
  for (int i = 0; i < 3; ++i) publish("work.item", {{"i", i}});
  ASSERT_TRUE(eventually([&] { return handled == 3; }));
  Seen survivor;
  subscribe("workers", "work.#", survivor);
  await_ready(*bus_);
  loop_.run(doomed->close(50ms));  // gives up on the stuck handler: it is not acknowledged
  ASSERT_TRUE(eventually([&] { return survivor.size() == 1; }, 10s));
  std::this_thread::sleep_for(300ms);  // nothing else comes
  EXPECT_EQ(survivor.size(), 1u);
  EXPECT_EQ(survivor.at(0).type, "work.stuck");
}

INSTANTIATE_TEST_SUITE_P(Backends, BusContract, ::testing::Values("inproc://", test_amqp_url()),
                         [](const auto& info) {
                           return std::string(info.param.starts_with("amqp") ? "rabbitmq"
                                                                             : "inproc");
                         });

TEST(OpenBus, NamesWhatIsWrongWithTheUrl) {
  boost::asio::io_context io;
  EXPECT_THROW(svckit::bus::open_bus("kafka://x", {&io}, {}), BusError);
  EXPECT_THROW(svckit::bus::open_bus("inproc://", {}, {}), BusError);
}

// The AMQP wire format: what goes out is binary mode; what comes in may be any of the forms a
// CloudEvents SDK, the monolith's pika client or a hostile publisher produce.
namespace {
using svckit::bus::detail::AmqpMessage;
using svckit::bus::detail::decode_event;
using svckit::bus::detail::encode_event;
}  // namespace

TEST(AmqpWire, EventsGoOutInBinaryModeAndComeBackIntact) {
  Event e;
  e.id = "id-1";
  e.source = "task-manager";
  e.type = "task.created";
  e.time = "2026-11-23T10:00:00.000Z";
  e.data = {{"task_id", "7"}};
  e.extensions["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  AmqpMessage m = encode_event(e);
  ASSERT_NE(m.header("cloudEvents:id"), nullptr);
  EXPECT_EQ(*m.header("cloudEvents:id"), "id-1");
  EXPECT_EQ(*m.header("cloudEvents:traceparent"), e.extensions["traceparent"]);
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_EQ(m.body, R"({"task_id":"7"})");
  EXPECT_TRUE(m.persistent);
  Event back = decode_event(m, "task.created");
  EXPECT_EQ(back.to_json(), e.to_json());
}

TEST(AmqpWire, AcceptsUnderscoreHeadersStructuredModeAndPlainJson) {
  AmqpMessage binary;
  binary.headers = {{"cloudEvents_specversion", "1.0"},
                    {"cloudEvents_id", "b1"},
                    {"cloudEvents_source", "java-svc"},
                    {"cloudEvents_type", "ai.completed"}};
  binary.content_type = "application/json";
  binary.body = R"({"tokens":12})";
  EXPECT_EQ(decode_event(binary, "ignored").data["tokens"], 12);

  AmqpMessage structured;
  structured.content_type = "application/cloudevents+json; charset=utf-8";
  structured.body = R"({"specversion":"1.0","id":"s1","source":"x","type":"t.u","data":[1]})";
  EXPECT_EQ(decode_event(structured, "").id, "s1");

  AmqpMessage plain;  // what the monolith's MessageBus.publish sends
  plain.content_type = "application/json";
  plain.body = R"({"task_id":"9","title":"x"})";
  Event wrapped = decode_event(plain, "task.created");
  EXPECT_EQ(wrapped.type, "task.created");
  EXPECT_EQ(wrapped.source, "amqp");
  EXPECT_EQ(wrapped.data["task_id"], "9");
  EXPECT_FALSE(wrapped.id.empty());
}

TEST(AmqpWire, RefusesWhatIsNotAnEvent) {
  AmqpMessage garbage;
  garbage.content_type = "application/json";
  garbage.body = "{not json";
  EXPECT_THROW(decode_event(garbage, "t"), BusError);
  AmqpMessage half_binary;  // binary mode without the required attributes
  half_binary.headers = {{"cloudEvents:type", "t"}};
  EXPECT_THROW(decode_event(half_binary, "t"), BusError);
  AmqpMessage bad_version;
  bad_version.headers = {{"cloudEvents:specversion", "0.3"},
                         {"cloudEvents:id", "1"},
                         {"cloudEvents:source", "s"},
                         {"cloudEvents:type", "t"}};
  EXPECT_THROW(decode_event(bad_version, "t"), BusError);
  AmqpMessage bad_extension = bad_version;
  bad_extension.headers[0].second = "1.0";
  bad_extension.headers.emplace_back("cloudEvents:Bad-Name", "x");
  EXPECT_THROW(decode_event(bad_extension, "t"), BusError);
}

TEST(AmqpWire, UrlsAreParsedAndBadOnesNamed) {
  auto a = svckit::bus::detail::parse_amqp_url("amqp://admin:s%40cret@rabbit:5673/prod");
  EXPECT_EQ(a.host, "rabbit");
  EXPECT_EQ(a.port, 5673);
  EXPECT_EQ(a.user, "admin");
  EXPECT_EQ(a.password, "s@cret");
  EXPECT_EQ(a.vhost, "prod");
  EXPECT_EQ(a.display.find("cret"), std::string::npos) << "no password in logs";
  EXPECT_EQ(svckit::bus::detail::parse_amqp_url("amqp://localhost").vhost, "/");
  EXPECT_THROW(svckit::bus::detail::parse_amqp_url("amqp://h:99999999/"), BusError);
  EXPECT_THROW(svckit::bus::detail::parse_amqp_url("amqp://h:port/"), BusError);
}

// With no broker to reach, publishes wait (backpressure), the bus reports itself not connected
// (readiness DOWN), and closing fails the waiting publishes instead of dropping them silently.
TEST(AmqpBus, WithoutABrokerPublishesWaitAndCloseFailsThemLoudly) {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  auto bus = svckit::bus::open_bus("amqp://guest:guest@127.0.0.1:1/", {&io}, {.source = "t"});
  LoopThread loop;
  std::vector<std::future<Event>> waiting;
  for (int i = 0; i < 3; ++i) waiting.push_back(loop.spawn(bus->publish("x.y", {{"i", i}})));
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(bus->connected());
  for (auto& w : waiting) EXPECT_EQ(w.wait_for(0s), std::future_status::timeout);
  loop.run(bus->close(100ms));
  for (auto& w : waiting) EXPECT_THROW(w.get(), BusError);
  EXPECT_THROW(loop.run(bus->publish("x.y", {})), BusError);
  guard.reset();
  runner.join();
}
