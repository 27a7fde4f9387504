#pragma once
// One PostgreSQL connection in libpq's pipeline mode, shared by the reads of one I/O loop.
// The reads that arrive while the loop runs what is ready go out together under one Sync: the
// server reads them in one receive and answers them in one send, where a connection per read
// costs a round trip, a receive and a send each (docs/sql.md has the figures).
//
// Reads under one Sync share one implicit transaction, so the connection is read-only (a write
// sent through read() fails): when one read fails, the server skips the rest of its batch, and
// those are sent again, which only reads may be. The server answers a batch when it reaches its
// Sync (a Flush after each read was measured: 2.5 times fewer reads per second), so the reads of
// one batch are answered together. Deadlines cost one lazily set timer: a read whose deadline
// passes is answered 503 and its result, when it comes, is dropped. A lost connection, or one
// that answers nothing for longer than the statement timeout of every read in flight, fails
// every read waiting with ConnectionLost.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <exception>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "postgres_connection.hpp"
#include "svckit/meter.hpp"

namespace svckit::sql {

// Counters a pipeline counts into (each may be null).
struct PipelineMetrics {
  meter::Counter* reads = nullptr;     // db_pipelined_reads_total
  meter::Counter* batches = nullptr;   // db_pipeline_batches_total
  meter::Counter* timeouts = nullptr;  // db_pool_timeouts_total: reads answered 503 at deadline
};

class PgPipeline : public std::enable_shared_from_this<PgPipeline> {
 public:
  using Clock = std::chrono::steady_clock;

  // Makes `connection` read-only and puts it into pipeline mode. `timeout` is the server's
  // statement timeout: no answer for longer than that (and a margin) means the server is gone.
  static Task<std::shared_ptr<PgPipeline>> open(std::unique_ptr<PgConnection> connection,
                                                std::chrono::milliseconds timeout,
                                                PipelineMetrics metrics, Deadline deadline);
  ~PgPipeline();
  PgPipeline(const PgPipeline&) = delete;
  PgPipeline& operator=(const PgPipeline&) = delete;

  // One read-only statement with `?` parameters. `sql` and `params` must stay valid until it
  // completes (the caller awaits it at once). Call on the loop that opened the connection.
  // Throws what throw_result_error throws, ConnectionLost, or ServiceUnavailable past `deadline`.
  Task<Result> read(std::string_view sql, std::span<const Value> params, Deadline deadline);

  // False once the connection failed: make a new one.
  bool usable() const { return usable_; }
  // True while the reads in flight have waited for their next answer longer than 20 ms, or
  // four batch times when the server is further away: a slow statement holds up every read
  // behind it, so callers send elsewhere meanwhile.
  bool held_up(Clock::time_point now) const;
  // Fails what waits; the connection is closed.
  void close();

 private:
  struct Waiter;
  template <class Handler>
  struct WaiterOf;
  // A statement prepared on this connection, or being prepared: a read that uses it before its
  // answer came shares its fate.
  struct Prepared {
    enum class State { sent, ready, failed, skipped } state = State::sent;
    std::string sql;
    std::string name;
    std::shared_ptr<const std::vector<std::string>> columns;  // of its last result
    std::exception_ptr failure;                               // what a failed prepare threw
  };
  struct Read {
    std::string_view sql;  // the caller's, valid until it is answered
    std::span<const Value> params;
    Clock::time_point deadline;
    std::unique_ptr<Waiter> waiter;
    bool answered = false;  // by its deadline: not sent (again), its result dropped
    std::shared_ptr<Prepared> prepared;
    bool awaits_prepare = false;  // the Parse sent with it: its answer comes first
  };
  PgPipeline(std::unique_ptr<PgConnection> connection, std::chrono::milliseconds timeout,
             PipelineMetrics metrics);
  void attach(Read* read, std::unique_ptr<Waiter> waiter);
  void answer(Read& read, std::exception_ptr failure, Result result);
  void receive();
  void take_results();
  void take_buffered();
  void take(PGresult* result);
  void batch_done();
  void forget(const Prepared& prepared);
  void send_soon();
  void send();
  bool send_one(Read& read);
  void push_output();
  void arm(Clock::time_point when);
  void sweep();
  void fail(const std::string& why);

  std::unique_ptr<PgConnection> connection_;
  PGconn* conn_;
  std::chrono::milliseconds timeout_;
  PipelineMetrics metrics_;
  bool usable_ = true;
  std::deque<std::unique_ptr<Read>> queued_;     // not sent yet
  std::deque<std::unique_ptr<Read>> in_flight_;  // sent; their answers come in this order
  std::deque<Clock::time_point> batches_;        // when each batch in flight was sent
  Clock::duration batch_time_{};                 // moving average, from send to Sync
  Clock::time_point progress_at_{};  // the last answer, or the send into an idle pipeline
  bool send_posted_ = false;
  bool output_waiting_ = false;
  bool receiving_ = false;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  std::unordered_map<std::string_view, std::shared_ptr<Prepared>> prepared_;  // by its sql
  std::uint64_t names_ = 0;
};

}  // namespace svckit::sql
