#pragma once
// Lets any thread wake a coroutine that waits on its own loop: the link threads use it to hand
// a broker's confirm or reply back to the I/O thread that asked, gRPC its completions.
//
// The timer the waiter sleeps on lives in the waiter's own frame, and fire() only posts to the
// waiter's loop while the waiter is known to be waiting there (checked under the lock the waiter
// clears when it leaves). So a Wakeup holds no Asio object and may be released on any thread,
// and nothing is posted to a loop whose waiter has gone (a publisher thread that finished and
// destroyed its io_context while a link thread still held the Wakeup: once a use-after-free).
#include <algorithm>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "svckit/task.hpp"

namespace svckit::detail {

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
    std::lock_guard lock(mutex_);
    if (fired_) return;
    fired_ = true;
    error_ = std::move(error);
    if (waiting_)
      boost::asio::post(executor_, [self = shared_from_this()] {
        std::lock_guard lock(self->mutex_);
        if (self->waiting_) self->waiting_->cancel();
      });
  }

  // fire(error) on each, with one post per loop for all of them: a broker's ack with `multiple`
  // settles hundreds of publishes at once, and their waiters share a loop or two. As in fire(),
  // the post happens under the locks of the waiters it is for: while a waiter is known to wait,
  // its loop is alive. Only one thread fires a given set at a time (the link that owns them);
  // the locks are taken in address order all the same.
  static void fire_all(std::vector<std::shared_ptr<Wakeup>> wakeups,
                       const std::string& error = {}) {
    std::sort(wakeups.begin(), wakeups.end(), [](const auto& a, const auto& b) {
      return std::less<const Wakeup*>()(a.get(), b.get());
    });
    wakeups.erase(std::unique(wakeups.begin(), wakeups.end()), wakeups.end());
    auto rest = wakeups.begin();
    while (rest != wakeups.end()) {
      const auto executor = (*rest)->executor_;
      auto here = std::stable_partition(rest, wakeups.end(),
                                        [&](const auto& w) { return w->executor_ == executor; });
      std::vector<std::shared_ptr<Wakeup>> waiting;
      std::vector<std::unique_lock<std::mutex>> locks;
      for (auto it = rest; it != here; ++it) {
        std::unique_lock lock((*it)->mutex_);
        if ((*it)->fired_) continue;
        (*it)->fired_ = true;
        (*it)->error_ = error;
        if (!(*it)->waiting_) continue;
        waiting.push_back(*it);
        locks.push_back(std::move(lock));
      }
      if (!waiting.empty())
        boost::asio::post(executor, [waiting = std::move(waiting)] {
          for (const auto& w : waiting) {
            std::lock_guard lock(w->mutex_);
            if (w->waiting_) w->waiting_->cancel();
          }
        });
      rest = here;  // the locks go here, after the post
    }
  }

  // True when fired before the deadline; error() then says how it went. One waiter at a time,
  // on the executor given to on().
  Task<bool> wait() {
    boost::asio::steady_timer timer(executor_, deadline_);
    {
      std::lock_guard lock(mutex_);
      if (fired_) co_return true;
      waiting_ = &timer;
    }
    struct Leave {  // also when the frame is destroyed with its loop
      Wakeup* wakeup;
      ~Leave() {
        std::lock_guard lock(wakeup->mutex_);
        wakeup->waiting_ = nullptr;
      }
    } leave{this};
    co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    std::lock_guard lock(mutex_);
    co_return fired_;
  }
  // How it went, once fired.
  std::string error() const {
    std::lock_guard lock(mutex_);
    return error_;
  }
  bool fired() const {
    std::lock_guard lock(mutex_);
    return fired_;
  }

 private:
  Wakeup(boost::asio::any_io_executor executor, Clock::time_point deadline)
      : executor_(std::move(executor)), deadline_(deadline) {}

  boost::asio::any_io_executor executor_;
  Clock::time_point deadline_;
  mutable std::mutex mutex_;
  boost::asio::steady_timer* waiting_ = nullptr;  // the waiter's timer while it waits
  bool fired_ = false;
  std::string error_;
};

}  // namespace svckit::detail
