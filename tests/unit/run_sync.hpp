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
#include <future>
#include <thread>

// An event loop on its own thread that outlives single calls, like a server's: work spawned by
// one call (a health evaluation still running) does not hold up the next.
class LoopThread {
 public:
  LoopThread() : guard_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~LoopThread() {
    guard_.reset();
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
  std::thread thread_;
};
