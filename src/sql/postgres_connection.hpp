#pragma once
// One libpq connection in non-blocking mode, driven by the I/O loop that opened it: a statement
// is sent, and the coroutine waits on the socket (never on a thread) until its result is in.
#include <libpq-fe.h>

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

#include "svckit/resilience/deadline.hpp"
#include "svckit/sql/result.hpp"
#include "svckit/sql/value.hpp"
#include "svckit/task.hpp"

namespace svckit::sql {

// `sql` with each `?` parameter outside quotes and comments written as $1, $2, ...
std::string numbered_parameters(std::string_view sql);

// A failure of the connection itself (not of a statement): the connection is unusable.
struct ConnectionLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Throws the svckit error that a failed result stands for: 409 for a constraint, 503 for a
// server that is going away or overloaded, DatabaseError otherwise. A serialization failure
// or deadlock throws SerializationFailure.
[[noreturn]] void throw_result_error(const PGresult* result, std::string_view what);
struct SerializationFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// What a statement that starts a COPY from or to the client throws (a DatabaseError): svckit
// does not drive the COPY sub-protocol, and the connection it started on is given up.
std::exception_ptr copy_refused();
inline bool starts_copy(const PGresult* result) {
  auto status = PQresultStatus(result);
  return status == PGRES_COPY_OUT || status == PGRES_COPY_IN || status == PGRES_COPY_BOTH;
}

// Rows of a successful result, values typed by their column types. `columns` holds the names
// of an earlier result of the same statement, reused when they are the same (no allocation).
Result to_result(const PGresult* result,
                 std::shared_ptr<const std::vector<std::string>>* columns = nullptr);

// Parameters as libpq takes them: text, NULL as a null pointer. Text values are not copied
// (`params` must outlive this); numbers are formatted into a buffer of its own.
class TextParameters {
 public:
  explicit TextParameters(std::span<const Value> params);
  int count() const { return static_cast<int>(pointers_.size()); }
  const char* const* values() const { return pointers_.data(); }

 private:
  std::vector<const char*> pointers_;
  std::vector<std::array<char, 32>> numbers_;
};

class PgConnection {
 public:
  using Clock = std::chrono::steady_clock;

  // Connects without blocking the loop; throws ConnectionLost when it cannot by `deadline`.
  static Task<std::unique_ptr<PgConnection>> connect(boost::asio::any_io_executor executor,
                                                     const std::string& conninfo,
                                                     Deadline deadline);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // One statement with `?` parameters, prepared on first use and kept per connection. Throws
  // what throw_result_error throws, ConnectionLost, or ServiceUnavailable past `deadline` (the
  // connection is then broken: the statement may still be running on the server).
  Task<Result> execute(std::string_view sql, std::span<const Value> params, Deadline deadline);
  // Statements without parameters, as one simple query (BEGIN, COMMIT, SET ...).
  Task<void> command(std::string_view sql, Deadline deadline);

  // False once the connection failed or timed out: it must not be reused.
  bool usable() const { return usable_ && PQstatus(conn_) == CONNECTION_OK; }
  // Outside a transaction (no statement left one open).
  bool idle_in_no_transaction() const { return PQtransactionStatus(conn_) == PQTRANS_IDLE; }
  Clock::time_point idle_since;

  // For a PgPipeline, which drives the connection itself once made.
  PGconn* native() const { return conn_; }
  boost::asio::posix::stream_descriptor& socket() { return socket_; }

 private:
  PgConnection(boost::asio::any_io_executor executor, PGconn* conn);
  struct Prepared {
    std::string name;
    std::shared_ptr<const std::vector<std::string>> columns;  // of its last result
  };
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };

  // Sends what libpq has buffered, then reads until the last result of the statement is in;
  // returns that result (owned by the caller).
  Task<PGresult*> finish(Deadline deadline);
  Task<void> wait(bool writable, Deadline deadline);
  void lost(std::string_view what);
  Task<void> prepare(std::string_view sql, const std::string& name, int params, Deadline deadline);

  PGconn* conn_;
  boost::asio::posix::stream_descriptor socket_;
  boost::asio::steady_timer timer_;
  bool usable_ = true;
  bool timed_out_ = false;
  std::uint64_t waits_ = 0;
  std::shared_ptr<PgConnection*> self_;  // what a late timer handler checks
  std::unordered_map<std::string, Prepared, StringHash, std::equal_to<>> prepared_;
};

}  // namespace svckit::sql
