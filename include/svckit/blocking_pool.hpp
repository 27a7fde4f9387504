#pragma once
// Work that blocks (SQLite, password hashing, rabbitmq-c) runs here, never on an I/O thread.
// `co_await pool.run(fn)` runs fn on a pool thread and resumes the caller on its own executor.
#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include "svckit/task.hpp"

namespace svckit {

class BlockingPool {
 public:
  explicit BlockingPool(std::size_t threads);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  template <class F>
  Task<std::invoke_result_t<F&>> run(F fn);

  // Finishes queued work and joins the threads. Called by App at the very end of shutdown.
  void join();
  std::size_t size() const;

 private:
  // Runs `fn` on the pool; `fn` must not throw (run() wraps it).
  Task<void> run_erased(std::function<void()> fn);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

template <class F>
Task<std::invoke_result_t<F&>> BlockingPool::run(F fn) {
  using R = std::invoke_result_t<F&>;
  std::exception_ptr failure;
  if constexpr (std::is_void_v<R>) {
    co_await run_erased([&] {
      try {
        fn();
      } catch (...) {
        failure = std::current_exception();
      }
    });
    if (failure) std::rethrow_exception(failure);
  } else {
    std::optional<R> result;
    co_await run_erased([&] {
      try {
        result.emplace(fn());
      } catch (...) {
        failure = std::current_exception();
      }
    });
    if (failure) std::rethrow_exception(failure);
    co_return std::move(*result);
  }
}

}  // namespace svckit
