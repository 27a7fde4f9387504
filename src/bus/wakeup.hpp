#pragma once
// Lets any thread wake a coroutine that waits on its own loop: the link threads use it to hand
// a broker's confirm or reply back to the I/O thread that asked. Loops are single-threaded, so a
// fire() posted before the waiter suspends still finds it waiting.
#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <string>

#include "svckit/task.hpp"

namespace svckit::bus::detail {

class Wakeup : public std::enable_shared_from_this<Wakeup> {
 public:
  using Clock = std::chrono::steady_clock;
  // `deadline`: when wait() gives up (never by default).
  static std::shared_ptr<Wakeup> on(boost::asio::any_io_executor executor,
                                    Clock::time_point deadline = Clock::time_point::max()) {
    return std::shared_ptr<Wakeup>(new Wakeup(std::move(executor), deadline));
  }

  // Resumes the waiter, passing `error` (empty for success). The first call wins.
  void fire(std::string error = {}) {
    if (claimed_.exchange(true)) return;
    error_ = std::move(error);
    fired_.store(true, std::memory_order_release);
    boost::asio::post(timer_.get_executor(),
                      [self = shared_from_this()] { self->timer_.cancel(); });
  }

  // True when fired before the deadline; error() then says how it went.
  Task<bool> wait() {
    if (!fired_.load(std::memory_order_acquire))
      co_await timer_.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    co_return fired_.load(std::memory_order_acquire);
  }
  const std::string& error() const { return error_; }
  bool fired() const { return fired_.load(std::memory_order_acquire); }

 private:
  Wakeup(boost::asio::any_io_executor executor, Clock::time_point deadline)
      : timer_(std::move(executor), deadline) {}

  boost::asio::steady_timer timer_;
  std::atomic<bool> claimed_{false};
  std::atomic<bool> fired_{false};
  std::string error_;
};

}  // namespace svckit::bus::detail
