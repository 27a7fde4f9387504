#pragma once
// Runs a coroutine to completion on a private io_context: unit tests call async SDK code
// synchronously.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "svckit/task.hpp"

template <class T>
T run_sync(svckit::Task<T> task) {
  boost::asio::io_context io;
  auto future = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.run();
  return future.get();
}

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <future>
#include <thread>

// An event loop on its own thread that outlives single calls, like a server's: work spawned by
// one call (a health evaluation still running) does not hold up the next.
class LoopThread {
 public:
  LoopThread()
      : guard_(io_.get_executor()), thread_([this] {
          io_.run();
          ran_out_.set_value();
        }) {}
  // Work still owed to the loop (a blocking-pool thread in the middle of posting a result back,
  // holding a tracked executor) gets a moment to finish, so that nothing touches the io_context
  // once it is gone; work that never ends (a connection's reader) is stopped.
  ~LoopThread() {
    guard_.reset();
    if (ran_out_.get_future().wait_for(std::chrono::milliseconds(100)) != std::future_status::ready)
      io_.stop();
    thread_.join();
  }
  boost::asio::io_context& context() { return io_; }
  template <class T>
  T run(svckit::Task<T> task) {
    return spawn(std::move(task)).get();
  }
  template <class T>
  std::future<T> spawn(svckit::Task<T> task) {
    return boost::asio::co_spawn(io_, std::move(task), boost::asio::use_future);
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::promise<void> ran_out_;  // set when run() returned by itself
  std::thread thread_;
};
