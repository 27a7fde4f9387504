#pragma once
// One connection to Redis on one I/O loop, shared by every call made on that loop: commands are
// appended to one buffer and written together once the loop has run what was ready (pipelining
// without asking the caller), replies come back in order and wake their callers.
//
// Deadlines cost one lazily set timer per connection, not one per call: a call whose deadline
// passes is answered 503 and its reply, when it comes, is dropped. A server that leaves the
// oldest command unanswered for the store's timeout, or a lost socket, fails every waiting call
// (503) and the connection is re-made on the next call after a backoff (100 ms doubling to
// 5 s); calls in between fail at once instead of waiting for a server that is away.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "resp.hpp"
#include "svckit/error.hpp"
#include "svckit/meter.hpp"

namespace svckit::kv {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

struct RedisEndpoint {
  std::string host;
  std::string port;
  std::string user;  // empty: AUTH with the password alone
  std::string password;
  int db = 0;
  std::string shown;  // the URL, password masked
};

struct ConnectionMetrics {
  meter::Gauge* up = nullptr;             // kv_connections_up
  meter::Counter* unavailable = nullptr;  // kv_unavailable_total
};

// A socket connected to `endpoint` that has said AUTH and SELECT, by `deadline`. Throws
// ServiceUnavailable naming what failed.
Task<asio::ip::tcp::socket> connect_to(const RedisEndpoint& endpoint, Deadline deadline);

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  RedisConnection(asio::io_context& loop, std::shared_ptr<const RedisEndpoint> endpoint,
                  milliseconds timeout, ConnectionMetrics metrics, const log::Logger* logger);

  asio::io_context& loop() const { return loop_; }
  bool up() const { return state_ == State::up; }

  // Sends the one command `append(buffer)` writes and waits for its reply; an error reply is
  // thrown as resp::ErrorReply. Call on loop(). Throws ServiceUnavailable while Redis is away.
  // With `batch_of` n > 0, `append` writes n commands and the reply is the list of their n
  // replies, once all have come; an error reply of one of them is thrown as CommandError.
  template <class Append>
  Task<Reply> call(Append&& append, Deadline deadline, std::size_t batch_of = 0) {
    prepare();
    append(out_);
    return wait(deadline, batch_of);
  }
  // EVALSHA of `script`, loading it first on this connection when needed.
  Task<Reply> evaluate(const Script& script, const std::vector<std::string>& keys,
                       const std::vector<std::string>& args, Deadline deadline);

  // Fails what waits and closes the socket for good. Call on loop().
  void close();

 private:
  enum class State { down, connecting, up };
  // A caller waiting for its reply: the completion handler of its co_await.
  struct Waiter {
    virtual ~Waiter() = default;
    virtual void complete(std::exception_ptr failure, Reply reply) = 0;
    virtual void complete_now(Reply reply) = 0;
  };
  template <class Handler>
  struct WaiterOf;
  // The replies of a batch call() as they come.
  struct Collected {
    std::size_t expected;
    Reply::List replies;
    std::optional<resp::CommandError> refused;  // the first command error
    std::optional<std::string> away;            // a server-state error: the whole batch is 503
  };
  struct Pending {
    std::uint64_t id;
    std::unique_ptr<Waiter> waiter;  // null until the caller waits, or once answered
    Clock::time_point deadline;
    Clock::time_point sent;
    std::unique_ptr<Collected> batch;  // a batch call()'s
  };

  void prepare();
  Task<Reply> wait(Deadline deadline, std::size_t batch_of = 0);
  bool collect(Collected& batch, resp::Parsed parsed);
  void attach(std::uint64_t id, std::unique_ptr<Waiter> waiter);
  void start_connecting();
  static Task<void> connect_and_read(std::shared_ptr<RedisConnection> self,
                                     std::uint64_t generation);
  void flush_soon();
  void flush();
  void answer(resp::Parsed parsed);
  void arm(Clock::time_point when);
  void sweep();
  void fail(const std::string& why);

  asio::io_context& loop_;
  std::shared_ptr<const RedisEndpoint> endpoint_;
  milliseconds timeout_;
  ConnectionMetrics metrics_;
  const log::Logger* logger_;

  State state_ = State::down;
  bool closed_ = false;
  std::uint64_t generation_ = 0;  // each connection attempt's; late completions compare it
  asio::ip::tcp::socket socket_;
  std::unique_ptr<resp::Reader> reader_;
  std::string out_;      // commands not written yet
  std::string writing_;  // commands being written
  bool writing_now_ = false;
  bool flush_posted_ = false;
  std::deque<Pending> pending_;  // sent or queued, in order; their replies come in this order
  std::uint64_t next_id_ = 0;
  std::exception_ptr last_failure_;
  Clock::time_point retry_at_{};
  milliseconds backoff_{0};
  bool lost_logged_ = false;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_{};
  std::unordered_map<std::string, std::string> script_sha_;  // by Lua text
};

}  // namespace svckit::kv
