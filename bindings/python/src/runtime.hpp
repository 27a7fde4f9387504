#pragma once
// What an App gives a service, for Python: I/O loops on threads of their own, threads for
// Python callbacks, a logger and the metrics registry. One per process, made on first use and
// stopped by svckit's atexit hook (before the interpreter finalises, so no thread of ours ever
// asks for the GIL of an interpreter that is going away).
#include <chrono>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <pybind11/pybind11.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/blocking_pool.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/metrics/registry.hpp"
#include "svckit/task.hpp"

namespace svckit::python {

class Runtime {
 public:
  // The process's runtime; throws svckit::python::ShutDown after shutdown().
  static Runtime& get();
  // Stops the loops and joins every thread. Idempotent.
  static void shutdown();

  std::vector<boost::asio::io_context*> loops();
  boost::asio::io_context& next_loop();
  BlockingPool& callbacks() { return callbacks_; }
  metrics::Registry& registry() { return registry_; }
  const log::Logger& logger() const { return logger_; }

  // Things that must stop before the loops do (open buses): shutdown() calls each once, with
  // the GIL released. add() returns a handle for remove().
  std::size_t add_closer(std::function<void()> close);
  void remove_closer(std::size_t handle);

  ~Runtime();

 private:
  Runtime();
  struct Loop;
  std::vector<std::unique_ptr<Loop>> loops_;
  std::atomic<std::size_t> next_{0};
  std::mutex closers_mutex_;
  std::size_t next_closer_ = 0;
  std::map<std::size_t, std::function<void()>> closers_;
  BlockingPool callbacks_;
  metrics::Registry registry_;
  log::Logger logger_;
};

// The runtime has been shut down (at interpreter exit): svckit.Error.
class ShutDown : public std::runtime_error {
 public:
  ShutDown() : std::runtime_error("svckit has shut down (the interpreter is exiting)") {}
};

// Runs `work()` on `loop` and waits for its result, with the GIL released if this thread holds
// it. Must not be called from a loop thread (Python code never runs on one).
template <class T>
T wait_for(boost::asio::io_context& loop, std::function<Task<T>()> work) {
  std::promise<T> promise;
  auto future = promise.get_future();
  boost::asio::co_spawn(loop, std::move(work), [&promise](std::exception_ptr e, auto... value) {
    if (e)
      promise.set_exception(e);
    else
      promise.set_value(std::move(value)...);
  });
  if (!PyGILState_Check()) return future.get();
  pybind11::gil_scoped_release release;
  return future.get();
}

// The same on the next of the runtime's loops.
template <class T>
T wait_for(std::function<Task<T>()> work) {
  return wait_for<T>(Runtime::get().next_loop(), std::move(work));
}

// A Python object that our threads may hold: dropped with the GIL taken (never during
// interpreter finalisation, when it is leaked instead).
class PyRef {
 public:
  explicit PyRef(pybind11::object object) : object_(object.release().ptr()) {}
  ~PyRef();
  PyRef(const PyRef&) = delete;
  PyRef& operator=(const PyRef&) = delete;
  pybind11::handle get() const { return object_; }

 private:
  PyObject* object_;
};

}  // namespace svckit::python
