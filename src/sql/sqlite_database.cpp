// The SQLite backend: WAL mode, a small pool of connections (one for an in-memory database),
// prepared statements cached per connection, parameters always bound.
#include <sqlite3.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "backends.hpp"

namespace svckit::sql {
namespace {

[[noreturn]] void fail(sqlite3* db, int rc, std::string_view what) {
  std::string message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (primary == SQLITE_CONSTRAINT) throw Conflict(message);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
    throw ServiceUnavailable("database is busy, try again", 1);
  throw DatabaseError(message);
}

using Clock = std::chrono::steady_clock;

// Thrown when an inline read ran out of its budget or met a lock: run it on the pool instead.
struct NotInline {};

class SqliteConnection {
 public:
  // `inline_reader`: for reads on an I/O thread. It never waits on a lock, refuses writes, and
  // interrupts a statement that runs past the budget given to read_within().
  explicit SqliteConnection(const std::string& path, bool inline_reader = false)
      : inline_reader_(inline_reader) {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw DatabaseError("cannot open SQLite database " + path + ": " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    if (inline_reader_) {
      sqlite3_busy_timeout(db_, 0);
      execute("PRAGMA query_only = ON");
      sqlite3_progress_handler(db_, 1000, &SqliteConnection::over_budget, this);
    } else {
      sqlite3_busy_timeout(db_, 5000);
      execute("PRAGMA foreign_keys = ON");
      if (path != ":memory:") {
        execute("PRAGMA journal_mode = WAL");
        execute("PRAGMA synchronous = NORMAL");
      }
    }
  }

  // Runs a read-only statement within `budget`; throws NotInline when it should go to the pool.
  Result read_within(std::string_view sql, std::span<const Value> params,
                     std::chrono::microseconds budget) {
    deadline_ = Clock::now() + budget;
    interrupted_ = false;
    try {
      Result r = execute(sql, params);
      deadline_ = Clock::time_point::max();
      return r;
    } catch (const Error& e) {
      deadline_ = Clock::time_point::max();
      if (interrupted_ || e.status() == 503) throw NotInline{};
      throw;
    }
  }

  ~SqliteConnection() {
    for (auto& [sql, prepared] : statements_) sqlite3_finalize(prepared.stmt);
    sqlite3_close_v2(db_);
  }

  Result execute(std::string_view sql, std::span<const Value> params = {}) {
    if (auto it = statements_.find(sql); it != statements_.end() && !it->second.in_use)
      return run_prepared(it->second, params);
    // Not cached yet, or several statements (a migration: they take no parameters).
    std::string_view rest = sql;
    Result result;
    while (!rest.empty()) {
      const char* tail = nullptr;
      sqlite3_stmt* stmt = nullptr;
      int rc = sqlite3_prepare_v2(db_, rest.data(), static_cast<int>(rest.size()), &stmt, &tail);
      if (rc != SQLITE_OK) fail(db_, rc, "prepare failed");
      std::string_view remaining(tail, rest.data() + rest.size() - tail);
      bool more = remaining.find_first_not_of(" \t\r\n;") != std::string_view::npos;
      if (!stmt) {  // only a comment or whitespace
        rest = remaining;
        continue;
      }
      Prepared prepared{stmt};
      if (more && !params.empty()) {
        sqlite3_finalize(stmt);
        throw DatabaseError("a statement with parameters must be a single statement");
      }
      // A single statement is cached for reuse; pieces of multi-statement text are not.
      if (!more && rest.size() == sql.size() && statements_.size() < kMaxCachedStatements &&
          !statements_.contains(sql))
        return run_prepared(statements_.emplace(std::string(sql), prepared).first->second, params);
      try {
        result = run_prepared(prepared, params);
      } catch (...) {
        sqlite3_finalize(stmt);
        throw;
      }
      sqlite3_finalize(stmt);
      rest = more ? remaining : std::string_view();
    }
    return result;
  }

 private:
  // A prepared statement and its column names, which stay the same between runs.
  struct Prepared {
    sqlite3_stmt* stmt;
    std::shared_ptr<const std::vector<std::string>> columns;
    bool in_use = false;  // a statement running now cannot be reused by a nested call
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  static constexpr std::size_t kMaxCachedStatements = 256;

  Result run_prepared(Prepared& p, std::span<const Value> params) {
    p.in_use = true;
    try {
      Result r = step(p, params);
      sqlite3_reset(p.stmt);
      sqlite3_clear_bindings(p.stmt);
      p.in_use = false;
      return r;
    } catch (...) {
      sqlite3_reset(p.stmt);
      sqlite3_clear_bindings(p.stmt);
      p.in_use = false;
      throw;
    }
  }

  static int over_budget(void* self) {
    auto* c = static_cast<SqliteConnection*>(self);
    if (Clock::now() < c->deadline_) return 0;
    c->interrupted_ = true;
    return 1;  // SQLITE_INTERRUPT
  }

  Result step(Prepared& p, std::span<const Value> params) {
    sqlite3_stmt* stmt = p.stmt;
    if (inline_reader_ && !sqlite3_stmt_readonly(stmt))
      throw DatabaseError("read() takes read-only statements; use execute() to write");
    int expected = sqlite3_bind_parameter_count(stmt);
    if (expected != static_cast<int>(params.size())) {
      sqlite3_reset(stmt);
      throw DatabaseError("statement takes " + std::to_string(expected) + " parameters, got " +
                          std::to_string(params.size()));
    }
    for (std::size_t i = 0; i < params.size(); ++i) bind(stmt, static_cast<int>(i + 1), params[i]);

    Result result;
    int ncols = sqlite3_column_count(stmt);
    for (;;) {
      int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) {
        sqlite3_reset(stmt);
        fail(db_, rc, "statement failed");
      }
      // Names are read once per statement (again if a schema change altered the count).
      if (!p.columns || p.columns->size() != static_cast<std::size_t>(ncols)) {
        auto names = std::make_shared<std::vector<std::string>>();
        for (int c = 0; c < ncols; ++c) names->emplace_back(sqlite3_column_name(stmt, c));
        p.columns = std::move(names);
      }
      std::vector<Value> values;
      values.reserve(ncols);
      for (int c = 0; c < ncols; ++c) values.push_back(column(stmt, c));
      result.rows.emplace_back(p.columns, std::move(values));
    }
    result.changes = sqlite3_changes64(db_);
    result.last_insert_id = sqlite3_last_insert_rowid(db_);
    return result;
  }

  void bind(sqlite3_stmt* stmt, int index, const Value& value) {
    int rc = std::visit(
        [&](const auto& v) -> int {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::nullptr_t>)
            return sqlite3_bind_null(stmt, index);
          else if constexpr (std::is_same_v<T, std::int64_t>)
            return sqlite3_bind_int64(stmt, index, v);
          else if constexpr (std::is_same_v<T, double>)
            return sqlite3_bind_double(stmt, index, v);
          else
            return sqlite3_bind_text64(stmt, index, v.data(), v.size(), SQLITE_TRANSIENT,
                                       SQLITE_UTF8);
        },
        value.storage());
    if (rc != SQLITE_OK) fail(db_, rc, "bind failed");
  }

  static Value column(sqlite3_stmt* stmt, int c) {
    switch (sqlite3_column_type(stmt, c)) {
      case SQLITE_INTEGER:
        return Value(static_cast<long long>(sqlite3_column_int64(stmt, c)));
      case SQLITE_FLOAT:
        return Value(sqlite3_column_double(stmt, c));
      case SQLITE_NULL:
        return Value();
      default: {
        auto* text = reinterpret_cast<const char*>(sqlite3_column_blob(stmt, c));
        int n = sqlite3_column_bytes(stmt, c);
        return Value(std::string(text ? text : "", static_cast<std::size_t>(n)));
      }
    }
  }

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, Prepared, StringHash, std::equal_to<>> statements_;
  bool inline_reader_ = false;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool interrupted_ = false;
};

// A transaction's statements, run on the pool thread that holds its connection.
class SqliteTransaction final : public Transaction {
 public:
  explicit SqliteTransaction(SqliteConnection& c) : c_(c) {}
  Task<Result> execute(std::string sql, std::vector<Value> params) override {
    co_return c_.execute(sql, params);
  }

 private:
  SqliteConnection& c_;
};

class SqliteSession final : public BlockingSession {
 public:
  explicit SqliteSession(SqliteConnection& c) : c_(c) {}
  Result execute(std::string_view sql, std::span<const Value> params) override {
    return c_.execute(sql, params);
  }
  void transaction(const std::function<void()>& work) override { in_transaction(c_, true, work); }

  // IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock later.
  static void in_transaction(SqliteConnection& c, bool write, const std::function<void()>& work) {
    c.execute(write ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
    try {
      work();
      c.execute("COMMIT");
    } catch (...) {
      try {
        c.execute("ROLLBACK");
      } catch (...) {
      }
      throw;
    }
  }

 private:
  SqliteConnection& c_;
};

class SqliteDatabase final : public Database {
 public:
  SqliteDatabase(std::string path, BlockingPool& pool)
      :  // Before SQLite initializes: its memory statistics take a global mutex on every
         // allocation, which the I/O threads would contend on.
        configured_([] {
          static const bool done = (sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0), true);
          return done;
        }()),
        pool_(pool),
        path_(std::move(path)),
        // Each connection to ":memory:" is a database of its own, so memory gets exactly one.
        max_connections_(path_ == ":memory:" ? 1 : std::max<std::size_t>(2, pool.size())) {
    if (path_ != ":memory:") {
      auto parent = std::filesystem::path(path_).parent_path();
      if (!parent.empty()) std::filesystem::create_directories(parent);
    }
    idle_.push_back(std::make_unique<SqliteConnection>(path_));  // fail fast on a bad path
    created_ = 1;
  }

  std::string_view backend() const override { return "sqlite"; }

  std::string time_bucket(TimeUnit unit, std::string_view column) const override {
    std::string c(column);
    switch (unit) {
      case TimeUnit::hour:
        return "strftime('%Y-%m-%dT%H:00:00Z', " + c + ")";
      case TimeUnit::week:  // the Sunday on or after, less six days: the Monday
        return "(date(" + c + ", 'weekday 0', '-6 days') || 'T00:00:00Z')";
      case TimeUnit::month:
        return "strftime('%Y-%m-01T00:00:00Z', " + c + ")";
      case TimeUnit::day:
        break;
    }
    return "strftime('%Y-%m-%dT00:00:00Z', " + c + ")";
  }

 protected:
  // SQLite statements block (on the disk, on locks): each runs on the blocking pool, except a
  // read the calling thread can answer within its budget.
  Task<Result> run(std::string sql, std::vector<Value> params, bool read_only,
                   const Context*) override {
    if (read_only && path_ != ":memory:") {
      try {
        co_return inline_reader().read_within(sql, params, kInlineBudget);
      } catch (const NotInline&) {
      }
    }
    co_return co_await pool_.run([this, &sql, &params] {
      Result result;
      with_connection([&](SqliteConnection& c) { result = c.execute(sql, params); });
      return result;
    });
  }

  // The whole transaction runs on one pool thread, holding its connection: the work coroutine
  // is driven by a private event loop there, and each statement answers at once. So a
  // transaction costs one hop to the pool, and no pool thread ever waits for a connection held
  // by a suspended coroutine.
  Task<void> run_transaction(const std::function<Task<void>(Transaction&)>& work,
                             const TransactionOptions& options, const Context*) override {
    bool write = !options.read_only;
    auto whole = [this, &work, write] {
      with_connection([&](SqliteConnection& c) {
        SqliteTransaction tx(c);
        SqliteSession::in_transaction(c, write, [&] { drive(work(tx)); });
      });
    };
    co_await pool_.run(whole);
  }

  void with_migration_lock(const std::function<void(BlockingSession&)>& work) override {
    // Each step takes the write lock (BEGIN IMMEDIATE) and checks what is applied under it.
    with_connection([&](SqliteConnection& c) {
      SqliteSession session(c);
      work(session);
    });
  }

 private:
  template <class F>
  void with_connection(F&& work) {
    std::unique_ptr<SqliteConnection> conn = acquire();
    try {
      work(*conn);
    } catch (...) {
      give_back(std::move(conn));
      throw;
    }
    give_back(std::move(conn));
  }

  // The calling thread's own read connection, opened on first use. The database owns it; each
  // thread remembers its own in a thread_local keyed by the database's never-reused id, so the
  // hot path takes no lock.
  SqliteConnection& inline_reader() {
    thread_local std::unordered_map<std::uint64_t, SqliteConnection*> mine;
    if (auto it = mine.find(instance_id_); it != mine.end()) return *it->second;
    auto conn = std::make_unique<SqliteConnection>(path_, /*inline_reader=*/true);
    SqliteConnection* raw = conn.get();
    {
      std::lock_guard lock(mutex_);
      inline_readers_.push_back(std::move(conn));
    }
    mine.emplace(instance_id_, raw);
    return *raw;
  }

  std::unique_ptr<SqliteConnection> acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return c;
      }
      if (created_ < max_connections_) {
        ++created_;
        lock.unlock();
        try {
          return std::make_unique<SqliteConnection>(path_);
        } catch (...) {
          lock.lock();
          --created_;
          throw;
        }
      }
      available_.wait(lock);
    }
  }

  void give_back(std::unique_ptr<SqliteConnection> conn) {
    {
      std::lock_guard lock(mutex_);
      idle_.push_back(std::move(conn));
    }
    available_.notify_one();
  }

  // Runs a coroutine to its end on this thread.
  static void drive(Task<void> task) {
    boost::asio::io_context loop;
    std::exception_ptr failure;
    boost::asio::co_spawn(loop, std::move(task), [&](std::exception_ptr e) { failure = e; });
    loop.run();
    if (failure) std::rethrow_exception(failure);
  }

  bool configured_;
  BlockingPool& pool_;
  std::string path_;
  std::size_t max_connections_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<SqliteConnection>> idle_;
  std::size_t created_ = 0;
  std::vector<std::unique_ptr<SqliteConnection>> inline_readers_;
  const std::uint64_t instance_id_ = [] {
    static std::atomic<std::uint64_t> next{1};
    return next++;
  }();
  // Longer than a point read or a short index scan takes from the page cache; a statement that
  // needs more is interrupted and re-run on the pool, so a loop is never held much longer.
  static constexpr std::chrono::microseconds kInlineBudget{200};
};

}  // namespace

std::unique_ptr<Database> make_sqlite_database(std::string path, BlockingPool& pool) {
  return std::make_unique<SqliteDatabase>(std::move(path), pool);
}

}  // namespace svckit::sql
