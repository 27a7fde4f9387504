#pragma once
// A backend-neutral database. `DATABASE_URL` picks the backend:
//   sqlite:///relative/path.db   sqlite:////absolute/path.db   sqlite::memory:
//   postgresql://user:password@host:5432/name?sslmode=verify-full   (libpq's URI, docs/sql.md)
// SQLite runs statements on the blocking pool (reads inline within a budget); PostgreSQL runs
// them on the calling I/O loop, waiting on the socket. Statements take `?` parameters on both.
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "svckit/blocking_pool.hpp"
#include "svckit/context.hpp"
#include "svckit/error.hpp"
#include "svckit/resilience/retry_policy.hpp"
#include "svckit/sql/result.hpp"
#include "svckit/sql/value.hpp"
#include "svckit/task.hpp"

namespace svckit::meter {
class Meter;
}

namespace svckit::sql {

namespace detail {
template <class... Args>
std::vector<Value> parameters(Args&&... args) {
  std::vector<Value> out;
  out.reserve(sizeof...(Args));
  (out.emplace_back(std::forward<Args>(args)), ...);
  return out;
}
template <class T>
struct awaited;
template <class T>
struct awaited<Task<T>> {
  using type = T;
};
}  // namespace detail

// The statements of one transaction, awaited one by one on the connection it holds.
class Transaction {
 public:
  virtual ~Transaction() = default;
  virtual Task<Result> execute(std::string sql, std::vector<Value> params = {}) = 0;
  // The same with its parameters given one by one: tx.execute("DELETE ... WHERE id = ?", id).
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_constructible_v<Value, Args&&> &&
                                   ...)) Task<Result> execute(std::string sql, Args&&... args) {
    return execute(std::move(sql), detail::parameters(std::forward<Args>(args)...));
  }
};

// PostgreSQL's levels. SQLite's transactions are serializable whatever is asked.
enum class Isolation { read_committed, repeatable_read, serializable };

struct TransactionOptions {
  Isolation isolation = Isolation::read_committed;
  bool read_only = false;
  // When the database reports a serialization failure or a deadlock the work runs again from
  // the start, so it must only touch the database. The backoff grows and is drawn at random so
  // that contenders that failed together do not meet again; the deadline bounds it too.
  RetryPolicy retry{.max_attempts = 10,
                    .initial_backoff = std::chrono::milliseconds(2),
                    .max_backoff = std::chrono::milliseconds(100)};
};

// One schema step. Versions are applied in order, once, and recorded; `down` undoes it.
struct Migration {
  int version;
  std::string name;
  std::string sql;   // may hold several statements
  std::string down;  // the statements that undo it (Database::roll_back)
};

// A database or SQL failure (not the client's fault): a 500 unless a caller maps it.
struct DatabaseError : Error {
  explicit DatabaseError(std::string detail);
};

// A migration that failed (and was rolled back): start-up stops with exit code 2.
struct MigrationFailed : DatabaseError {
  using DatabaseError::DatabaseError;
};

// A time unit for time buckets.
enum class TimeUnit { hour, day, week, month };

struct DatabaseOptions {
  // PostgreSQL: connections over all `loops` I/O loops (each loop gets an equal share, at
  // least one; a connection is only used on the loop that opened it).
  std::size_t pool_size = 8;
  std::size_t loops = 1;
  // The longest any one call may take, waiting for a connection included, when the caller gives
  // no earlier deadline; past it the call fails with 503.
  std::chrono::milliseconds timeout{5000};
  // PostgreSQL: a replica that read() and read-only transactions use when given.
  std::string read_url;
  meter::Meter* meter = nullptr;  // db_pool_* metrics when given
};

// Start-up work (migrations), synchronously on one connection of its own: for backends.
class BlockingSession {
 public:
  virtual ~BlockingSession() = default;
  virtual Result execute(std::string_view sql, std::span<const Value> params = {}) = 0;
  // `work` inside BEGIN ... COMMIT (taking the write lock up front); rolled back on a throw.
  virtual void transaction(const std::function<void()>& work) = 0;
};

class Database {
 public:
  virtual ~Database() = default;

  // One statement. `context` bounds it by its request's deadline as well as the timeout.
  Task<Result> execute(std::string sql, std::vector<Value> params = {},
                       const Context* context = nullptr);
  // The same with its parameters given one by one: db.execute("DELETE ... WHERE id = ?", id).
  // (Not a coroutine itself, so no initializer list lives in a coroutine frame: GCC 12
  // miscompiles those.)
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_constructible_v<Value, Args&&> &&
                                   ...)) Task<Result> execute(std::string sql, Args&&... args) {
    return execute(std::move(sql), detail::parameters(std::forward<Args>(args)...));
  }

  // One read-only statement. SQLite may answer it on the calling thread (a connection per
  // thread, no waiting on locks, interrupted after ~200 µs and re-run on the blocking pool);
  // PostgreSQL sends it to the read replica when there is one.
  Task<Result> read(std::string sql, std::vector<Value> params = {},
                    const Context* context = nullptr);
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_constructible_v<Value, Args&&> &&
                                   ...)) Task<Result> read(std::string sql, Args&&... args) {
    return read(std::move(sql), detail::parameters(std::forward<Args>(args)...));
  }

  // Runs `work(Transaction&)`, a coroutine, inside a transaction: committed when it returns,
  // rolled back when it throws (and the exception propagates). A serialization failure or
  // deadlock runs it again (TransactionOptions::retry).
  //   auto t = co_await db.transaction([&](sql::Transaction& tx) -> Task<std::optional<Task>> {
  //     auto r = co_await tx.execute("SELECT ... WHERE id = ?", id); ... co_return t; });
  template <class F>
  auto transaction(F work, TransactionOptions options = {}, const Context* context = nullptr)
      -> Task<typename detail::awaited<std::invoke_result_t<F&, Transaction&>>::type> {
    using R = typename detail::awaited<std::invoke_result_t<F&, Transaction&>>::type;
    if constexpr (std::is_void_v<R>) {
      std::function<Task<void>(Transaction&)> erased = [&work](Transaction& tx) -> Task<void> {
        co_await work(tx);
      };
      co_await transact(erased, options, context);
    } else {
      std::optional<R> out;
      std::function<Task<void>(Transaction&)> erased = [&work,
                                                        &out](Transaction& tx) -> Task<void> {
        R value = co_await work(tx);
        out.emplace(std::move(value));
      };
      co_await transact(erased, options, context);
      co_return std::move(*out);
    }
  }

  // Several reads from one consistent snapshot: a read-only repeatable-read transaction.
  template <class F>
  auto snapshot(F work, const Context* context = nullptr) {
    return transaction(
        std::move(work),
        TransactionOptions{.isolation = Isolation::repeatable_read, .read_only = true}, context);
  }

  // Applies the migrations of `component` not yet recorded in svckit_migrations, in version
  // order, each in its own transaction; on PostgreSQL under an advisory lock, so that replicas
  // starting together apply each once. Blocking: call at start-up. A failure throws
  // DatabaseError and leaves that step undone.
  void migrate(std::string_view component, std::span<const Migration> migrations);
  // Undoes the applied migrations of `component` above `version`, newest first, each with its
  // `down` in its own transaction. Blocking.
  void roll_back(std::string_view component, std::span<const Migration> migrations, int version);
  // The same with the migrations this database was last given for `component` by migrate().
  // Throws std::invalid_argument when migrate() never saw it.
  void roll_back(std::string_view component, int version);
  // The highest applied version of `component`, 0 when none.
  int schema_version(std::string_view component);
  // The components migrate() was called for.
  std::vector<std::string> components() const;

  // Copies every row of `source` (a SQLite database leaving the embedded default) into the
  // tables of the same name here, in one transaction: the columns both have, tables in
  // foreign-key order, svckit_migrations left out. The schema must be migrated here first.
  // Throws Conflict, changing nothing, when a target table already has rows. Returns the rows
  // copied per table. Blocking.
  std::vector<std::pair<std::string, std::int64_t>> copy_from(Database& source);

  // True when the database answers (SELECT 1) within a second.
  Task<bool> ping();

  virtual std::string_view backend() const = 0;

  // Portable SQL: the start of the `unit` containing `column` (a UTC time stored as RFC 3339
  // text), as RFC 3339 text ("2025-11-24T03:00:00Z"). Weeks start on Monday.
  virtual std::string time_bucket(TimeUnit unit, std::string_view column) const = 0;

 protected:
  Database() = default;

  virtual Task<Result> run(std::string sql, std::vector<Value> params, bool read_only,
                           const Context* context) = 0;
  virtual Task<void> run_transaction(const std::function<Task<void>(Transaction&)>& work,
                                     const TransactionOptions& options, const Context* context) = 0;
  // run_transaction(), recorded as a CLIENT span "transaction" when the context's trace is.
  Task<void> transact(const std::function<Task<void>(Transaction&)>& work,
                      const TransactionOptions& options, const Context* context);
  // run() recorded as a CLIENT span of the context's trace.
  Task<Result> traced_run(std::string sql, std::vector<Value> params, bool read_only,
                          const Context& context);
  // Runs `work` on a blocking session while holding the backend's migration lock.
  virtual void with_migration_lock(const std::function<void(BlockingSession&)>& work) = 0;

 private:
  std::vector<std::pair<std::string, std::vector<Migration>>> known_migrations_;
};

// Opens the database `url` names. Throws std::invalid_argument for a URL it cannot serve.
std::unique_ptr<Database> open_database(std::string_view url, BlockingPool& pool,
                                        const DatabaseOptions& options = {});

// `url` with its password replaced by ****: what logs and errors show.
std::string redacted_url(std::string_view url);

}  // namespace svckit::sql
