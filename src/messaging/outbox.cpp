#include "svckit/messaging/outbox.hpp"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/meter.hpp"
#include "svckit/sql/database.hpp"

namespace svckit::messaging {
namespace asio = boost::asio;
using namespace std::chrono;

namespace {

// The sequence is the database's own: SQLite's rowid, PostgreSQL's identity column.
const sql::Migration kSqlite[] = {
    {1, "outbox",
     "CREATE TABLE svckit_outbox ("
     "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  component TEXT NOT NULL,"
     "  event_id TEXT NOT NULL,"
     "  event TEXT NOT NULL,"  // the structured CloudEvent
     "  created_ms BIGINT NOT NULL);"
     "CREATE INDEX svckit_outbox_order ON svckit_outbox (component, seq);"
     "CREATE TABLE svckit_outbox_lease ("
     "  component TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms BIGINT NOT NULL)",
     "DROP TABLE svckit_outbox_lease; DROP TABLE svckit_outbox"},
};
const sql::Migration kPostgres[] = {
    {1, "outbox",
     "CREATE TABLE svckit_outbox ("
     "  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
     "  component TEXT NOT NULL,"
     "  event_id TEXT NOT NULL,"
     "  event TEXT NOT NULL,"
     "  created_ms BIGINT NOT NULL);"
     "CREATE INDEX svckit_outbox_order ON svckit_outbox (component, seq);"
     "CREATE TABLE svckit_outbox_lease ("
     "  component TEXT PRIMARY KEY, holder TEXT NOT NULL, until_ms BIGINT NOT NULL)",
     "DROP TABLE svckit_outbox_lease; DROP TABLE svckit_outbox"},
};

std::int64_t now_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

// The relay's timer lives on the relay's loop; wake() posts its cancellation there.
struct Outbox::Waker {
  std::mutex mutex;
  std::optional<asio::any_io_executor> executor;
  asio::steady_timer* timer = nullptr;
  std::atomic<bool> pending{false};  // a wake already on its way: one post is enough
};

Outbox::Outbox(sql::Database& database, bus::Bus& bus, std::string component, OutboxOptions options)
    : database_(database),
      bus_(bus),
      component_(std::move(component)),
      options_(options),
      holder_(uuid_v4()),
      waker_(std::make_shared<Waker>()) {
  if (database_.backend() == "sqlite")
    database_.migrate("svckit.outbox", kSqlite);
  else
    database_.migrate("svckit.outbox", kPostgres);
  if (auto* m = options_.metrics) {
    meter::Labels labels{{"component", component_}};
    pending_gauge_ =
        &m->gauges("outbox_pending", "Events in the outbox, not yet published.").add(labels);
    oldest_gauge_ =
        &m->gauges("outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox.")
             .add(labels);
    published_ = &m->counters("outbox_published_total",
                              "Events the relay published and the broker confirmed.")
                      .add(labels);
  }
}

Outbox::~Outbox() = default;

Task<void> Outbox::add(sql::Transaction& tx, const bus::Event& event) {
  auto text = event.to_json().dump();
  co_await tx.execute(
      "INSERT INTO svckit_outbox (component, event_id, event, created_ms) VALUES (?, ?, ?, ?)",
      component_, event.id, std::move(text), now_ms());
}

Task<bus::Event> Outbox::add(sql::Transaction& tx, std::string type, nlohmann::json data,
                             const Context* context) {
  bus::Event event = bus_.make_event(std::move(type), std::move(data), context);
  co_await add(tx, event);
  co_return event;
}

void Outbox::wake() {
  auto& w = *waker_;
  if (w.pending.exchange(true)) return;
  std::lock_guard lock(w.mutex);
  if (!w.executor) return;
  asio::post(*w.executor, [waker = waker_] {
    waker->pending = false;
    std::lock_guard lock(waker->mutex);
    if (waker->timer) waker->timer->cancel();
  });
}

Task<bool> Outbox::claim_lease() {
  auto now = now_ms();
  co_await database_.execute(
      "INSERT INTO svckit_outbox_lease (component, holder, until_ms) VALUES (?, '', 0) "
      "ON CONFLICT DO NOTHING",
      component_);
  auto claimed = co_await database_.execute(
      "UPDATE svckit_outbox_lease SET holder = ?, until_ms = ? "
      "WHERE component = ? AND (holder = ? OR until_ms < ?)",
      holder_, now + options_.lease.count(), component_, holder_, now);
  co_return claimed.changes == 1;
}

Task<void> Outbox::count_backlog() {
  auto r = co_await database_.execute(
      "SELECT COUNT(*) AS n, MIN(created_ms) AS oldest FROM svckit_outbox WHERE component = ?",
      component_);
  Backlog b;
  b.pending = r.rows.at(0).integer("n");
  if (b.pending > 0)
    b.oldest = milliseconds(std::max<std::int64_t>(0, now_ms() - r.rows.at(0).integer("oldest")));
  if (pending_gauge_) pending_gauge_->set(static_cast<double>(b.pending));
  if (oldest_gauge_) oldest_gauge_->set(duration<double>(b.oldest).count());
  std::lock_guard lock(mutex_);
  backlog_ = b;
}

Task<std::size_t> Outbox::relay_once() {
  std::size_t published = 0;
  if (co_await claim_lease()) {
    auto rows = co_await database_.execute(
        "SELECT seq, event FROM svckit_outbox WHERE component = ? ORDER BY seq LIMIT ?", component_,
        static_cast<std::int64_t>(options_.batch));
    // In order, each confirmed before the next: a failure stops the round, and what was
    // confirmed so far is removed (the rest waits for the next round, still in order).
    std::vector<sql::Value> done;
    std::exception_ptr failure;
    for (const auto& row : rows.rows) {
      try {
        auto event = bus::Event::from_json(nlohmann::json::parse(row.text("event")));
        co_await bus_.publish(std::move(event));
      } catch (...) {
        failure = std::current_exception();
        break;
      }
      done.emplace_back(row.integer("seq"));
    }
    published = done.size();
    if (!done.empty()) {
      std::string marks;
      for (std::size_t i = 0; i < done.size(); ++i) marks += i ? ", ?" : "?";
      co_await database_.execute("DELETE FROM svckit_outbox WHERE seq IN (" + marks + ")",
                                 std::move(done));
    }
    if (published_) published_->increment(published);
    if (failure) {
      co_await count_backlog();
      std::rethrow_exception(failure);
    }
  }
  co_await count_backlog();
  co_return published;
}

Task<void> Outbox::relay() {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer timer(executor);
  {
    std::lock_guard lock(waker_->mutex);
    waker_->executor = executor;
    waker_->timer = &timer;
  }
  struct Detach {
    Waker& w;
    ~Detach() {
      std::lock_guard lock(w.mutex);
      w.timer = nullptr;
      w.executor.reset();
    }
  } detach{*waker_};
  milliseconds backoff = options_.poll;
  for (;;) {
    std::size_t published = 0;
    bool failed = false;
    try {
      published = co_await relay_once();
      backoff = options_.poll;
    } catch (const std::exception& e) {
      failed = true;
      if (options_.logger)
        options_.logger->warning("outbox relay round failed; retrying",
                                 {{"component", component_}, {"error", e.what()}});
    }
    if (published == options_.batch) continue;  // more may wait
    if (failed) backoff = std::min<milliseconds>(backoff * 2, seconds(5));
    timer.expires_after(failed ? backoff : options_.poll);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // Cancelled by wake(): look now. Cancelled by the App at shutdown: the next wait throws.
    auto state = co_await asio::this_coro::cancellation_state;
    if (state.cancelled() != asio::cancellation_type::none)
      throw boost::system::system_error(asio::error::operation_aborted);
  }
}

Backlog Outbox::backlog() const {
  std::lock_guard lock(mutex_);
  return backlog_;
}

}  // namespace svckit::messaging
