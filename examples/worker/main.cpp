// A bus worker: consumes `work.#` as a member of the group WORKER_GROUP (default "worker"),
// effectively once (messaging::ProcessedEvents in its own SQLite database), and records what it
// handled; with WORKER_PUBLISH=N it also publishes N `work.item` events at start, WORKER_WINDOW at
// a time. Point BUS_URL at RabbitMQ and run several: they share the group's queue, and what one of
// them held when it died goes to the others. The fault tests drive it
// (tests/integration/test_rabbitmq.py).
//
//   GET /api/v1/worker/handled   {"rows": handled rows, "distinct": distinct events}
//
// Knobs: WORKER_HANDLE_MS (time per event), WORKER_PREFETCH, WORKER_MAX_ATTEMPTS, and
// WORKER_FAIL_TYPE (events of that type always fail: they end in the dead-letter queue).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <svckit/messaging/processed_events.hpp>
#include <svckit/svckit.hpp>

using namespace std::chrono_literals;
using svckit::Task;
using svckit::bus::Event;
using svckit::bus::Outcome;

namespace {

Task<void> sleep_for(std::chrono::milliseconds wait) {
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, wait);
  co_await timer.async_wait(boost::asio::use_awaitable);
}

// Publishes `count` events with `window` of them awaiting their confirms at any time.
Task<void> publish_all(svckit::bus::Bus& bus, const svckit::log::Logger& log, std::int64_t count,
                       std::int64_t window) {
  auto started = std::chrono::steady_clock::now();
  auto next = std::make_shared<std::int64_t>(0);
  auto running = std::make_shared<std::int64_t>(window);
  auto executor = co_await boost::asio::this_coro::executor;
  for (std::int64_t w = 0; w < window; ++w)
    boost::asio::co_spawn(
        executor,
        [](svckit::bus::Bus& bus, std::shared_ptr<std::int64_t> next,
           std::shared_ptr<std::int64_t> running, std::int64_t count) -> Task<void> {
          for (std::int64_t n = (*next)++; n < count; n = (*next)++) {
            nlohmann::json data = {{"n", n}};
            co_await bus.publish("work.item", std::move(data));
          }
          --*running;
        }(bus, next, running, count),
        boost::asio::detached);
  while (*running > 0) co_await sleep_for(5ms);
  auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  log.info("published all", {{"count", count}, {"seconds", seconds}});
}

}  // namespace

struct Worker : svckit::Module {
  std::unique_ptr<svckit::messaging::ProcessedEvents> processed;

  static void declare(svckit::Settings& settings) {
    auto integer = [&settings](const char* name, const char* fallback, std::int64_t min,
                               std::int64_t max, const char* help) {
      settings.declare("worker", {.name = name,
                                  .type = svckit::SettingType::integer,
                                  .default_value = fallback,
                                  .min = min,
                                  .max = max,
                                  .help = help});
    };
    settings.declare("worker", {.name = "WORKER_GROUP",
                                .default_value = "worker",
                                .help = "the group it consumes work.# in; none: it does not"});
    settings.declare("worker", {.name = "WORKER_FAIL_TYPE", .help = "an event type it fails on"});
    integer("WORKER_HANDLE_MS", "0", 0, 60000, "how long handling an event takes, ms");
    integer("WORKER_PREFETCH", "16", 1, 10000, "deliveries in flight at once");
    integer("WORKER_MAX_ATTEMPTS", "5", 1, 100, "tries before an event is dead-lettered");
    integer("WORKER_PUBLISH", "0", 0, 100'000'000, "work.item events it publishes at start");
    integer("WORKER_WINDOW", "64", 1, 10000, "publishes in flight at once");
  }

  void install(svckit::App& app) override {
    const auto& config = app.settings();
    auto& db = app.database("worker");
    static const svckit::sql::Migration kSchema[] = {
        {1, "handled rows", "CREATE TABLE handled (n INTEGER NOT NULL, event_id TEXT NOT NULL)"}};
    db.migrate("worker", kSchema);
    auto& bus = app.bus();

    std::string group = config.text("WORKER_GROUP");
    if (group != "none") {
      processed = std::make_unique<svckit::messaging::ProcessedEvents>(db, group);
      std::chrono::milliseconds handle_time(config.integer("WORKER_HANDLE_MS"));
      std::string poison = config.text("WORKER_FAIL_TYPE");
      svckit::bus::SubscribeOptions options;
      options.prefetch = config.integer("WORKER_PREFETCH");
      options.retry = {.max_attempts = int(config.integer("WORKER_MAX_ATTEMPTS")),
                       .initial_backoff = 10ms,
                       .max_backoff = 200ms};
      auto handle = [&db, handle_time, poison](const Event& e) -> Task<Outcome> {
        if (e.type == poison) throw std::runtime_error("cannot handle " + e.type);
        if (handle_time.count()) co_await sleep_for(handle_time);
        std::vector<svckit::sql::Value> row{e.data.value("n", std::int64_t{-1}), e.id};
        co_await db.execute("INSERT INTO handled (n, event_id) VALUES (?, ?)", std::move(row));
        co_return Outcome::success;
      };
      bus.subscribe(group, "work.#", processed->wrap(handle), options);
    }

    app.http()
        .group("/api/v1/worker")
        .get("/handled", [&db](svckit::http::Request&) -> Task<svckit::http::Response> {
          auto r = co_await db.read("SELECT COUNT(*) AS n, COUNT(DISTINCT n) AS d FROM handled");
          co_return svckit::http::Response::json(
              200, {{"rows", r.rows[0].integer("n")}, {"distinct", r.rows[0].integer("d")}});
        });

    if (auto count = config.integer("WORKER_PUBLISH")) {
      auto window = config.integer("WORKER_WINDOW");
      app.run_in_background("publisher", [&bus, &app, count, window] {
        return publish_all(bus, app.logger(), count, window);
      });
    }
  }
};

int main(int argc, char** argv) {
  return svckit::run<Worker>("worker", argc, argv);
}
