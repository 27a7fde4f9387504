#pragma once
// A backend-neutral database. `DATABASE_URL` picks the backend:
//   sqlite:///relative/path.db   sqlite:////absolute/path.db   sqlite::memory:
// Every call runs on the blocking pool and is awaited from the handler.
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "svckit/blocking_pool.hpp"
#include "svckit/error.hpp"
#include "svckit/sql/result.hpp"
#include "svckit/sql/value.hpp"
#include "svckit/task.hpp"

namespace svckit::sql {

// A connection, used synchronously on a blocking-pool thread inside Database::transaction.
class Connection {
 public:
  virtual ~Connection() = default;
  Result execute(std::string_view sql, std::span<const Value> params = {}) {
    return run(sql, params);
  }
  Result execute(std::string_view sql, std::initializer_list<Value> params) {
    return run(sql, std::span<const Value>(params.begin(), params.size()));
  }
  Result execute(std::string_view sql, const std::vector<Value>& params) {
    return run(sql, std::span<const Value>(params));
  }

 protected:
  virtual Result run(std::string_view sql, std::span<const Value> params) = 0;
};

// One schema step. Versions are applied in order, once, and recorded.
struct Migration {
  int version;
  std::string name;
  std::string sql;  // may hold several statements
};

// A database or SQL failure (not the client's fault): a 500 unless a caller maps it.
struct DatabaseError : Error {
  explicit DatabaseError(std::string detail);
};

class Database {
 public:
  virtual ~Database() = default;

  // One statement, on the blocking pool.
  Task<Result> execute(std::string sql, std::vector<Value> params = {});
  // The same with its parameters given one by one: db.execute("DELETE ... WHERE id = ?", id).
  // (Not a coroutine itself, so no initializer list lives in a coroutine frame: GCC 12
  // miscompiles those.)
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_constructible_v<Value, Args&&> &&
                                   ...)) Task<Result> execute(std::string sql, Args&&... args) {
    return execute(std::move(sql), parameters(std::forward<Args>(args)...));
  }

  // One read-only statement (a non-read-only one is an error). The backend may answer it without
  // leaving the calling thread when that cannot stall it; otherwise it runs as execute() does.
  // SQLite: a connection per calling thread, no waiting on locks, and a budget of ~200 µs after
  // which the statement is interrupted and re-run on the blocking pool.
  Task<Result> read(std::string sql, std::vector<Value> params = {});
  template <class... Args>
  requires(sizeof...(Args) > 0 && (std::is_constructible_v<Value, Args&&> &&
                                   ...)) Task<Result> read(std::string sql, Args&&... args) {
    return read(std::move(sql), parameters(std::forward<Args>(args)...));
  }

  // `work` runs on the blocking pool inside BEGIN IMMEDIATE ... COMMIT; an exception rolls back
  // and propagates.
  template <class F>
  Task<std::invoke_result_t<F&, Connection&>> transaction(F work) {
    co_return co_await pool().run([this, &work] {
      return with_transaction<std::invoke_result_t<F&, Connection&>>(work, true);
    });
  }

  // `work` reads several statements from one consistent snapshot (BEGIN DEFERRED); it must not
  // write. Readers do not block each other or the writer.
  template <class F>
  Task<std::invoke_result_t<F&, Connection&>> snapshot(F work) {
    co_return co_await pool().run([this, &work] {
      return with_transaction<std::invoke_result_t<F&, Connection&>>(work, false);
    });
  }

  // Applies the migrations of `component` not yet recorded in svckit_migrations, in version
  // order, each in its own transaction. Blocking: call at start-up.
  void migrate(std::string_view component, std::span<const Migration> migrations);

  // SELECT 1 on the blocking pool: true when the database answers.
  Task<bool> ping();

  virtual std::string_view backend() const = 0;

 protected:
  explicit Database(BlockingPool& pool) : pool_(&pool) {}
  BlockingPool& pool() { return *pool_; }

  // Runs `work` with a connection (from the backend's pool) inside a transaction that takes the
  // write lock up front when `write`.
  virtual void run_in_transaction(const std::function<void(Connection&)>& work, bool write) = 0;
  // Runs `work` with a connection outside any explicit transaction.
  virtual void run_with_connection(const std::function<void(Connection&)>& work) = 0;
  // Answers a read on the calling thread, or nullopt to send it to the pool.
  virtual std::optional<Result> try_read_inline(std::string_view, std::span<const Value>) {
    return std::nullopt;
  }

 private:
  template <class... Args>
  static std::vector<Value> parameters(Args&&... args) {
    std::vector<Value> out;
    out.reserve(sizeof...(Args));
    (out.emplace_back(std::forward<Args>(args)), ...);
    return out;
  }
  template <class R, class F>
  R with_transaction(F& work, bool write) {
    if constexpr (std::is_void_v<R>) {
      run_in_transaction([&](Connection& c) { work(c); }, write);
    } else {
      std::optional<R> out;
      run_in_transaction([&](Connection& c) { out.emplace(work(c)); }, write);
      return std::move(*out);
    }
  }

  BlockingPool* pool_;
};

// Opens the database `url` names. Throws std::invalid_argument for a URL it cannot serve.
std::unique_ptr<Database> open_database(std::string_view url, BlockingPool& pool);

}  // namespace svckit::sql
