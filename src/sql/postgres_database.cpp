// The PostgreSQL backend: libpq in non-blocking mode on the I/O loops. Each loop has its own
// share of the pool (connections are only used on the loop that opened them, so taking one
// takes no lock), statements are prepared once per connection, and every wait — for a
// connection, for an answer — ends at the caller's deadline with a 503.
#include <atomic>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>
#include <unordered_map>

#include "backends.hpp"
#include "postgres_connection.hpp"
#include "postgres_pipeline.hpp"
#include "svckit/meter.hpp"

namespace svckit::sql {
namespace {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// The db_pool_* cells of one server (the primary or the read replica).
struct PoolMetrics {
  meter::Gauge* in_use = nullptr;
  meter::Gauge* idle = nullptr;
  meter::Gauge* waiting = nullptr;
  meter::Histogram* wait_seconds = nullptr;
  meter::Counter* timeouts = nullptr;
  PipelineMetrics pipeline;

  PoolMetrics() = default;
  PoolMetrics(meter::Meter* m, const std::string& role) {
    if (!m) return;
    meter::Labels labels{{"pool", role}};
    in_use = &m->gauges("db_pool_in_use",
                        "Database connections running a statement or a "
                        "transaction.")
                  .add(labels);
    idle = &m->gauges("db_pool_idle", "Open database connections waiting for work.").add(labels);
    waiting =
        &m->gauges("db_pool_waiting", "Calls waiting for a free database connection.").add(labels);
    wait_seconds =
        &m->histograms("db_pool_wait_seconds", "Time calls waited for a database connection.")
             .add(labels, meter::latency_buckets());
    timeouts = &m->counters("db_pool_timeouts_total",
                            "Calls that got no database connection or answer by their deadline.")
                    .add(labels);
    pipeline.reads = &m->counters("db_pipelined_reads_total",
                                  "Reads sent on the pipelined connection (docs/sql.md).")
                          .add(labels);
    pipeline.batches =
        &m->counters("db_pipeline_batches_total",
                     "Batches of reads sent together on the pipelined connection, one Sync each.")
             .add(labels);
    pipeline.timeouts = timeouts;
  }
  static void add(meter::Gauge* g, int by) {
    if (g) g->add(by);
  }
};

// One server the pools connect to, shared by every loop's pool of it.
struct Endpoint {
  std::string conninfo;
  std::string shown;  // the URL, password masked
  std::size_t per_loop;
  milliseconds statement_timeout;  // the server's, set in conninfo
  PoolMetrics metrics;
  // Reconnect backoff, from any loop: no connection is tried before retry_at after a failure.
  std::mutex mutex;
  Clock::time_point retry_at{};
  milliseconds backoff{0};
  std::string last_failure;

  void failed(const std::string& why) {
    std::lock_guard lock(mutex);
    backoff = std::min(milliseconds(5000), std::max(milliseconds(100), backoff * 2));
    retry_at = Clock::now() + backoff;
    last_failure = why;
  }
  void succeeded() {
    std::lock_guard lock(mutex);
    backoff = milliseconds(0);
    retry_at = {};
  }
  // Why no connection may be tried now, or empty.
  std::string backing_off() {
    std::lock_guard lock(mutex);
    if (Clock::now() >= retry_at) return {};
    return last_failure;
  }
};

[[noreturn]] void unavailable(const Endpoint& e, const std::string& why) {
  throw ServiceUnavailable("database " + e.shown + " unavailable: " + why, 1);
}

// The connections of one endpoint on one loop. Used only from that loop. With two or more per
// loop, one of them is the pipelined connection for reads (PgPipeline); the others serve
// writes and transactions, and reads while the pipeline is held up or not open yet.
class LoopPool {
 public:
  explicit LoopPool(std::shared_ptr<Endpoint> endpoint) : endpoint_(std::move(endpoint)) {}
  // No metric is touched on destruction: loops (and their pools) outlive the App's metrics.
  ~LoopPool() {
    if (pipeline_) pipeline_->close();
  }

  // The pipelined connection when it is open and not held up by a slow statement, else null.
  std::shared_ptr<PgPipeline> pipeline() {
    drop_pipeline_if_lost();
    if (!pipeline_ || pipeline_->held_up(Clock::now())) return nullptr;
    return pipeline_;
  }
  // A pipelined connection that failed gives its slot back.
  void drop_pipeline_if_lost() {
    if (pipeline_ && !pipeline_->usable()) drop_pipeline();
  }
  // Whether open_pipeline() may open one now: none is open or opening, and a connection is
  // idle or may be made.
  bool may_open_pipeline() const {
    return !pipeline_ && !opening_pipeline_ && endpoint_->per_loop >= 2 &&
           (!idle_.empty() || open_ < endpoint_->per_loop);
  }
  // Opens the pipelined connection on an idle connection or a new one; null when it cannot
  // (the caller reads on a connection of its own, which reports why).
  Task<std::shared_ptr<PgPipeline>> open_pipeline(Deadline deadline) {
    opening_pipeline_ = true;
    std::unique_ptr<PgConnection> c;
    try {
      c = co_await take(deadline);
    } catch (const std::exception&) {
    }
    std::shared_ptr<PgPipeline> opened;
    if (c) {
      try {
        opened = co_await PgPipeline::open(std::move(c), endpoint_->statement_timeout,
                                           endpoint_->metrics.pipeline, deadline);
      } catch (const std::exception&) {
        drop_pipeline();  // the connection it was given is gone: its slot is free
      }
    }
    opening_pipeline_ = false;
    pipeline_ = opened;
    co_return opened;
  }

  Task<std::unique_ptr<PgConnection>> take(Deadline deadline) {
    auto& m = endpoint_->metrics;
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      PoolMetrics::add(m.idle, -1);
      if (c->usable()) {
        PoolMetrics::add(m.in_use, 1);
        co_return c;
      }
      --open_;
    }
    auto started = Clock::now();
    while (open_ >= endpoint_->per_loop) {
      auto executor = co_await asio::this_coro::executor;
      Waiter w{asio::steady_timer(executor, deadline.when())};
      waiters_.push_back(&w);
      PoolMetrics::add(m.waiting, 1);
      boost::system::error_code ec;
      co_await w.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      PoolMetrics::add(m.waiting, -1);
      std::erase(waiters_, &w);
      if (m.wait_seconds)
        m.wait_seconds->observe(std::chrono::duration<double>(Clock::now() - started).count());
      if (w.handed) {
        PoolMetrics::add(m.in_use, 1);
        co_return std::move(w.handed);
      }
      if (!w.slot_freed) {
        if (m.timeouts) m.timeouts->increment();
        unavailable(*endpoint_, "no connection free within the deadline (" +
                                    std::to_string(endpoint_->per_loop) + " per I/O thread)");
      }
    }
    if (auto why = endpoint_->backing_off(); !why.empty())
      unavailable(*endpoint_, why + " (retrying shortly)");
    ++open_;
    std::unique_ptr<PgConnection> c;
    std::string failure;
    try {
      auto executor = co_await asio::this_coro::executor;
      c = co_await PgConnection::connect(executor, endpoint_->conninfo, deadline);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (!c) {
      --open_;
      wake_one_for_slot();
      endpoint_->failed(failure);
      unavailable(*endpoint_, failure);
    }
    endpoint_->succeeded();
    PoolMetrics::add(m.in_use, 1);
    co_return c;
  }

  void give_back(std::unique_ptr<PgConnection> c) {
    auto& m = endpoint_->metrics;
    PoolMetrics::add(m.in_use, -1);
    if (!c->usable() || !c->idle_in_no_transaction()) {
      c.reset();
      --open_;
      wake_one_for_slot();
      return;
    }
    if (!waiters_.empty()) {
      Waiter* w = waiters_.front();
      waiters_.pop_front();
      w->handed = std::move(c);
      w->timer.cancel();
      return;
    }
    c->idle_since = Clock::now();
    idle_.push_back(std::move(c));
    PoolMetrics::add(m.idle, 1);
  }

  // After a connection was lost, the idle ones (most likely lost the same way: the server
  // restarted) are closed rather than tried one by one.
  void close_idle() {
    PoolMetrics::add(endpoint_->metrics.idle, -static_cast<int>(idle_.size()));
    open_ -= idle_.size();
    idle_.clear();
  }

  // A pipelined connection that failed: its slot is free again.
  void drop_pipeline() {
    pipeline_.reset();
    --open_;
    PoolMetrics::add(endpoint_->metrics.in_use, -1);
    wake_one_for_slot();
  }

 private:
  struct Waiter {
    asio::steady_timer timer;
    std::unique_ptr<PgConnection> handed;
    bool slot_freed = false;
  };
  void wake_one_for_slot() {
    if (waiters_.empty()) return;
    Waiter* w = waiters_.front();
    waiters_.pop_front();
    w->slot_freed = true;
    w->timer.cancel();
  }

  std::shared_ptr<Endpoint> endpoint_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  std::size_t open_ = 0;  // the pipelined connection included
  std::deque<Waiter*> waiters_;
  std::shared_ptr<PgPipeline> pipeline_;
  bool opening_pipeline_ = false;
};

// Every endpoint's pool on one loop: an Asio service of the loop, so that connections close
// with their loop whatever outlives what. An endpoint that is gone (its database was closed)
// leaves an entry whose owner has expired, cleared on the next lookup.
class LoopPools : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit LoopPools(asio::execution_context& ctx) : service(ctx) {}

  LoopPool& of(const std::shared_ptr<Endpoint>& endpoint) {
    std::lock_guard lock(mutex_);
    auto& entry = pools_[endpoint.get()];
    if (!entry.pool || entry.owner.expired()) {
      entry.pool = std::make_unique<LoopPool>(endpoint);
      entry.owner = endpoint;
    }
    return *entry.pool;
  }

 private:
  struct Entry {
    std::weak_ptr<Endpoint> owner;
    std::unique_ptr<LoopPool> pool;
  };
  void shutdown() override {
    std::lock_guard lock(mutex_);
    pools_.clear();
  }
  std::mutex mutex_;
  std::unordered_map<const Endpoint*, Entry> pools_;
};

class PgTransaction final : public Transaction {
 public:
  PgTransaction(PgConnection& c, Deadline deadline) : c_(c), deadline_(deadline) {}
  Task<Result> execute(std::string sql, std::vector<Value> params) override {
    co_return co_await c_.execute(sql, params, deadline_);
  }

 private:
  PgConnection& c_;
  Deadline deadline_;
};

// A blocking connection for start-up work.
class PgSession final : public BlockingSession {
 public:
  explicit PgSession(const Endpoint& e) : endpoint_(e) {
    conn_ = PQconnectdb(e.conninfo.c_str());
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string why = PQerrorMessage(conn_);
      PQfinish(conn_);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      throw DatabaseError("cannot connect to " + e.shown + ": " + why);
    }
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);  // "already exists, skipping"
  }
  ~PgSession() override { PQfinish(conn_); }

  Result execute(std::string_view sql, std::span<const Value> params) override {
    PGresult* r;
    if (params.empty()) {
      r = PQexec(conn_, std::string(sql).c_str());  // may hold several statements
    } else {
      TextParameters text(params);
      r = PQexecParams(conn_, numbered_parameters(sql).c_str(), text.count(), nullptr,
                       text.values(), nullptr, nullptr, 0);
    }
    std::unique_ptr<PGresult, decltype(&PQclear)> owned(r, PQclear);
    auto status = PQresultStatus(r);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      if (!r || PQstatus(conn_) != CONNECTION_OK)
        throw DatabaseError("connection to " + endpoint_.shown + " lost: " + PQerrorMessage(conn_));
      throw_result_error(r, "statement failed");
    }
    return to_result(r);
  }

  void transaction(const std::function<void()>& work) override {
    execute("BEGIN", {});
    try {
      work();
      execute("COMMIT", {});
    } catch (...) {
      PQclear(PQexec(conn_, "ROLLBACK"));
      throw;
    }
  }

 private:
  const Endpoint& endpoint_;
  PGconn* conn_;
};

std::string begin_statement(const TransactionOptions& o) {
  std::string s = "BEGIN ISOLATION LEVEL ";
  switch (o.isolation) {
    case Isolation::read_committed:
      s += "READ COMMITTED";
      break;
    case Isolation::repeatable_read:
      s += "REPEATABLE READ";
      break;
    case Isolation::serializable:
      s += "SERIALIZABLE";
      break;
  }
  if (o.read_only) s += " READ ONLY";
  return s;
}

class PostgresDatabase final : public Database {
 public:
  PostgresDatabase(std::string url, const DatabaseOptions& options) : timeout_(options.timeout) {
    primary_ = endpoint(url, "primary", options);
    if (!options.read_url.empty()) replica_ = endpoint(options.read_url, "replica", options);
  }

  std::string_view backend() const override { return "postgresql"; }

  std::string time_bucket(TimeUnit unit, std::string_view column) const override {
    std::string utc = "(" + std::string(column) + ")::timestamptz AT TIME ZONE 'UTC'";
    switch (unit) {
      case TimeUnit::hour:
        return "to_char(date_trunc('hour', " + utc + "), 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')";
      case TimeUnit::week:
        return "to_char(date_trunc('week', " + utc + "), 'YYYY-MM-DD\"T00:00:00Z\"')";
      case TimeUnit::month:
        return "to_char(date_trunc('month', " + utc + "), 'YYYY-MM-DD\"T00:00:00Z\"')";
      case TimeUnit::day:
        break;
    }
    return "to_char(date_trunc('day', " + utc + "), 'YYYY-MM-DD\"T00:00:00Z\"')";
  }

 protected:
  Task<Result> run(std::string sql, std::vector<Value> params, bool read_only,
                   const Context* context) override {
    Deadline deadline = deadline_of(context);
    const auto& endpoint = read_only && replica_ ? replica_ : primary_;
    auto executor = co_await asio::this_coro::executor;
    LoopPool& pool = pool_of(executor, endpoint);
    int attempt = 0;
    if (read_only) {
      auto pipeline = pool.pipeline();
      if (!pipeline && pool.may_open_pipeline()) pipeline = co_await pool.open_pipeline(deadline);
      if (pipeline) {
        try {
          co_return co_await pipeline->read(sql, params, deadline);
        } catch (const ConnectionLost&) {
          attempt = 1;  // lost with the pipelined connection: once more on one of its own
        }
        pool.drop_pipeline_if_lost();
        pool.close_idle();
      }
    }
    // A read on a connection that died while idle (the server restarted) is tried once more
    // on a new one; a write is not (it may have been applied): it answers 503.
    for (;; ++attempt) {
      auto c = co_await pool.take(deadline);
      std::optional<Result> result;
      std::exception_ptr failure;
      bool lost = false;
      try {
        result = co_await c->execute(sql, params, deadline);
      } catch (const ConnectionLost& e) {
        lost = true;
        failure = std::current_exception();
      } catch (...) {
        failure = std::current_exception();
      }
      pool.give_back(std::move(c));
      if (result) co_return std::move(*result);
      if (!lost) std::rethrow_exception(failure);
      pool.close_idle();
      if (!(read_only && attempt == 0)) rethrow_lost(failure);
    }
  }

  Task<void> run_transaction(const std::function<Task<void>(Transaction&)>& work,
                             const TransactionOptions& options, const Context* context) override {
    Deadline deadline = deadline_of(context);
    const auto& endpoint = options.read_only && replica_ ? replica_ : primary_;
    auto executor = co_await asio::this_coro::executor;
    LoopPool& pool = pool_of(executor, endpoint);
    const std::string begin = begin_statement(options);
    for (int attempt = 1;; ++attempt) {
      auto c = co_await pool.take(deadline);
      std::exception_ptr failure;
      bool retry = false;
      try {
        co_await c->command(begin, deadline);
        PgTransaction tx(*c, deadline);
        co_await work(tx);
        co_await c->command("COMMIT", deadline);
      } catch (const SerializationFailure&) {
        retry = attempt < options.retry.max_attempts;
        failure = std::current_exception();
      } catch (...) {
        failure = std::current_exception();
      }
      if (failure && c->usable() && !c->idle_in_no_transaction()) {
        try {
          co_await c->command("ROLLBACK", deadline);
        } catch (...) {
        }
      }
      pool.give_back(std::move(c));
      if (!failure) co_return;
      if (!retry) {
        try {
          std::rethrow_exception(failure);
        } catch (const SerializationFailure& e) {
          throw ServiceUnavailable(std::string("transaction kept conflicting: ") + e.what(), 1);
        } catch (const ConnectionLost&) {
          pool.close_idle();
          rethrow_lost(failure);
        }
      }
      co_await backoff(options.retry.backoff(attempt), deadline);
    }
  }

  void with_migration_lock(const std::function<void(BlockingSession&)>& work) override {
    PgSession session(*primary_);
    // One key for every component: replicas starting together migrate one after another, and
    // each finds what the first applied already recorded.
    session.execute("SELECT pg_advisory_lock(7153142010)", {});
    try {
      work(session);
    } catch (...) {
      try {
        session.execute("SELECT pg_advisory_unlock(7153142010)", {});
      } catch (...) {
      }
      throw;
    }
    session.execute("SELECT pg_advisory_unlock(7153142010)", {});
  }

 private:
  std::shared_ptr<Endpoint> endpoint(const std::string& url, const std::string& role,
                                     const DatabaseOptions& options) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(url.c_str(), &error);
    if (!parsed) {
      std::string why = error ? error : "cannot parse the URL";
      PQfreemem(error);
      while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
      throw std::invalid_argument(why);
    }
    PQconninfoFree(parsed);
    auto e = std::make_shared<Endpoint>();
    e->shown = redacted_url(url);
    e->per_loop =
        std::max<std::size_t>(1, options.pool_size / std::max<std::size_t>(1, options.loops));
    e->statement_timeout = options.timeout;
    e->metrics = PoolMetrics(options.meter, role);
    // The server's own cap on a statement, should a client never come back for its answer.
    e->conninfo = url + (url.find('?') == std::string::npos ? "?" : "&") +
                  "application_name=svckit&options=-c%20statement_timeout%3D" +
                  std::to_string(options.timeout.count());
    return e;
  }

  Deadline deadline_of(const Context* context) const {
    Deadline d = Deadline::after(timeout_);
    return context ? d.min(context->deadline()) : d;
  }

  static LoopPool& pool_of(const asio::any_io_executor& executor,
                           const std::shared_ptr<Endpoint>& e) {
    auto& ctx = asio::query(executor, asio::execution::context);
    return asio::use_service<LoopPools>(ctx).of(e);
  }

  [[noreturn]] void rethrow_lost(std::exception_ptr failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const ConnectionLost& e) {
      throw ServiceUnavailable("database connection lost: " + std::string(e.what()), 1);
    }
  }

  static Task<void> backoff(milliseconds wait, Deadline deadline) {
    if (deadline.remaining() <= wait)
      throw ServiceUnavailable("transaction kept conflicting until its deadline", 1);
    asio::steady_timer timer(co_await asio::this_coro::executor, wait);
    co_await timer.async_wait(asio::use_awaitable);
  }

  milliseconds timeout_;
  std::shared_ptr<Endpoint> primary_;
  std::shared_ptr<Endpoint> replica_;
};

}  // namespace

std::unique_ptr<Database> make_postgres_database(std::string url, BlockingPool&,
                                                 const DatabaseOptions& options) {
  return std::make_unique<PostgresDatabase>(std::move(url), options);
}

}  // namespace svckit::sql
