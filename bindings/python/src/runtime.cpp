#include "runtime.hpp"

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "svckit/log/level.hpp"
#include "svckit/metrics/process_metrics.hpp"

namespace svckit::python {
namespace asio = boost::asio;

namespace {

std::size_t env_count(const char* name, std::size_t fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  long value = std::strtol(text, &end, 10);
  return *end == '\0' && value >= 1 && value <= 64 ? static_cast<std::size_t>(value) : fallback;
}

std::string env_text(const char* name, const char* fallback) {
  const char* text = std::getenv(name);
  return text && *text ? text : fallback;
}

log::Level env_level() {
  auto level = log::parse_level(env_text("LOG_LEVEL", "warning"));
  return level ? *level : log::Level::warning;
}

std::mutex runtime_mutex;
Runtime* runtime = nullptr;
bool shut_down = false;

}  // namespace

struct Runtime::Loop {
  asio::io_context context{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(context);
  std::thread thread{[this] { context.run(); }};
};

// Lines go to stderr: stdout belongs to the Python program. SVCKIT_THREADS loops (2) and
// SVCKIT_CALLBACK_THREADS threads for Python callbacks (4: a callback that waits on I/O lets
// the others run).
Runtime::Runtime()
    : callbacks_(env_count("SVCKIT_CALLBACK_THREADS", 4)),
      logger_(env_text("SERVICE_NAME", "python"), env_level(), stderr) {
  registry_.add_collectable(metrics::process_metrics());
  for (std::size_t i = 0, n = env_count("SVCKIT_THREADS", 2); i < n; ++i)
    loops_.push_back(std::make_unique<Loop>());
}

Runtime::~Runtime() {
  for (auto& loop : loops_) loop->work.reset();
  for (auto& loop : loops_) loop->context.stop();
  for (auto& loop : loops_) loop->thread.join();
  callbacks_.join();
  logger_.flush();
}

Runtime& Runtime::get() {
  std::lock_guard lock(runtime_mutex);
  if (shut_down) throw ShutDown();
  if (!runtime) runtime = new Runtime();
  return *runtime;
}

void Runtime::shutdown() {
  Runtime* stopping = nullptr;
  {
    std::lock_guard lock(runtime_mutex);
    shut_down = true;
    std::swap(stopping, runtime);
  }
  if (!stopping) return;
  std::map<std::size_t, std::function<void()>> closers;
  {
    std::lock_guard lock(stopping->closers_mutex_);
    closers.swap(stopping->closers_);
  }
  for (auto& [handle, close] : closers) close();
  delete stopping;
}

std::size_t Runtime::add_closer(std::function<void()> close) {
  std::lock_guard lock(closers_mutex_);
  closers_.emplace(++next_closer_, std::move(close));
  return next_closer_;
}

void Runtime::remove_closer(std::size_t handle) {
  std::lock_guard lock(closers_mutex_);
  closers_.erase(handle);
}

std::vector<asio::io_context*> Runtime::loops() {
  std::vector<asio::io_context*> out;
  for (auto& loop : loops_) out.push_back(&loop->context);
  return out;
}

asio::io_context& Runtime::next_loop() {
  return loops_[next_.fetch_add(1, std::memory_order_relaxed) % loops_.size()]->context;
}

PyRef::~PyRef() {
  if (!Py_IsInitialized() || _Py_IsFinalizing()) return;  // leaked: the process is ending
  pybind11::gil_scoped_acquire gil;
  Py_XDECREF(object_);
}

}  // namespace svckit::python
