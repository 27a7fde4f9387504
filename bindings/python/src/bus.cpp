// svckit.bus: the C++ services' bus (same BUS_URL, same CloudEvents) for Python.
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <pybind11/stl.h>
#include <boost/asio/co_spawn.hpp>

#include "bindings.hpp"
#include "convert.hpp"
#include "runtime.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::python {
namespace py = pybind11;
namespace asio = boost::asio;
using namespace std::chrono;

namespace {

// Publishes that did not wait for their confirm (publish(wait=False)): counted so that flush()
// and close() can wait for them, their first failure kept for flush() to raise.
class Unconfirmed {
 public:
  static constexpr std::size_t kMax = 10'000;  // publish(wait=False) blocks beyond this

  void add() {
    std::unique_lock lock(mutex_);
    room_.wait(lock, [this] { return count_ < kMax; });
    ++count_;
  }
  void done(std::exception_ptr failure) {
    std::lock_guard lock(mutex_);
    --count_;
    if (failure) {
      ++failed_;
      if (!first_failure_) first_failure_ = failure;
    }
    if (count_ == 0) empty_.notify_all();
    if (count_ == kMax - 1 || count_ == 0) room_.notify_all();
  }
  // Whether everything went out within `timeout`; throws the first failure since the last wait.
  bool wait(milliseconds timeout) {
    std::unique_lock lock(mutex_);
    bool done = empty_.wait_for(lock, timeout, [this] { return count_ == 0; });
    if (first_failure_) {
      auto failure = std::exchange(first_failure_, nullptr);
      auto failed = std::exchange(failed_, 0);
      lock.unlock();
      try {
        std::rethrow_exception(failure);
      } catch (const std::exception& e) {
        throw bus::BusError(std::to_string(failed) + " event(s) were not published: " + e.what());
      }
    }
    return done;
  }

 private:
  std::mutex mutex_;
  std::condition_variable empty_, room_;
  std::size_t count_ = 0, failed_ = 0;
  std::exception_ptr first_failure_;
};

// A Python callable and what calling it answers, run on the runtime's callback threads with the
// GIL taken: the event goes in as a dict.
struct Callback {
  std::shared_ptr<PyRef> function;

  // What `read` makes of the callable's answer (under the GIL too). Throws std::runtime_error
  // with the Python exception's text when the callable raised.
  template <class Read>
  auto call(const nlohmann::json& event, Read read) const {
    if (!Py_IsInitialized() || _Py_IsFinalizing())
      throw std::runtime_error("the interpreter is exiting");
    py::gil_scoped_acquire gil;
    try {
      return read(function->get()(from_json(event)));
    } catch (py::error_already_set& e) {
      std::string text = e.what();
      if (text.size() > 1000) text.resize(1000);
      throw std::runtime_error(text);
    }
  }
};

bus::Outcome outcome_of(const py::object& answer) {
  if (py::isinstance<bus::Outcome>(answer)) return answer.cast<bus::Outcome>();
  return bus::Outcome::success;
}

class PyBus {
 public:
  PyBus(std::optional<std::string> url, std::string source) {
    auto& runtime = Runtime::get();
    loop_ = &runtime.next_loop();
    bus_ = std::shared_ptr<bus::Bus>(bus::open_bus(url.value_or("inproc://"), runtime.loops(),
                                                   {.source = std::move(source),
                                                    .metrics = &runtime.registry(),
                                                    .logger = &runtime.logger()}));
    closer_ = runtime.add_closer([this] { close_now(milliseconds(5000)); });
  }

  ~PyBus() {
    try {
      Runtime::get().remove_closer(closer_);
      close(2.0);
    } catch (...) {  // the runtime is gone: shutdown() closed this bus already
    }
  }

  py::object publish(const std::string& type, const py::handle& data,
                     std::optional<std::string> request_id, std::optional<std::string> traceparent,
                     bool wait) {
    auto bus = open();
    bus::Event event = bus->make_event(type, to_json(data, "data"));
    if (request_id) {
      if (!sane_request_id(*request_id)) throw py::value_error("request_id is not a sane id");
      event.extensions["requestid"] = *request_id;
    }
    if (traceparent)
      event.extensions["traceparent"] =
          trace::TraceContext::continue_from(*traceparent, std::nullopt).traceparent();
    std::string id = event.id;
    if (wait) {
      wait_for<void>(*loop_, [&bus, &event]() -> Task<void> { co_await bus->publish(event); });
      return py::str(id);
    }
    {
      py::gil_scoped_release release;
      unconfirmed_.add();
    }
    auto* unconfirmed = &unconfirmed_;
    asio::co_spawn(
        Runtime::get().next_loop(),
        [bus, event = std::move(event)]() mutable -> Task<void> {
          co_await bus->publish(std::move(event));
        },
        [unconfirmed](std::exception_ptr e) { unconfirmed->done(e); });
    return py::str(id);
  }

  bool flush(double timeout) {
    py::gil_scoped_release release;
    return unconfirmed_.wait(seconds_arg(timeout, "timeout"));
  }

  void subscribe(std::string group, std::string pattern, py::function callback, int max_attempts,
                 double initial_backoff, double max_backoff, std::size_t prefetch) {
    if (max_attempts < 1 || max_attempts > 1000)
      throw py::value_error("max_attempts must be 1-1000");
    bus::SubscribeOptions options;
    options.retry.max_attempts = max_attempts;
    options.retry.initial_backoff = seconds_arg(initial_backoff, "initial_backoff");
    options.retry.max_backoff = seconds_arg(max_backoff, "max_backoff");
    if (prefetch < 1 || prefetch > 65535) throw py::value_error("prefetch must be 1-65535");
    options.prefetch = prefetch;
    Callback cb{std::make_shared<PyRef>(std::move(callback))};
    auto* pool = &Runtime::get().callbacks();
    open()->subscribe(
        std::move(group), std::move(pattern),
        [cb, pool](const bus::Event& e) -> Task<bus::Outcome> {
          nlohmann::json event = e.to_json();
          auto handle = [&cb, &event] { return cb.call(event, outcome_of); };
          bus::Outcome outcome = co_await pool->run(handle);
          co_return outcome;
        },
        options);
  }

  void respond(std::string type, py::function callback) {
    Callback cb{std::make_shared<PyRef>(std::move(callback))};
    auto* pool = &Runtime::get().callbacks();
    open()->respond(std::move(type), [cb, pool](const bus::Event& e) -> Task<nlohmann::json> {
      nlohmann::json event = e.to_json();
      auto handle = [&cb, &event] {
        return cb.call(event,
                       [](const py::object& answer) { return to_json(answer, "the reply"); });
      };
      nlohmann::json reply = co_await pool->run(handle);
      co_return reply;
    });
  }

  py::object request(const std::string& type, const py::handle& data, double timeout,
                     std::optional<std::string> request_id) {
    auto bus = open();
    bus::Event event = bus->make_event(type, to_json(data, "data"));
    if (request_id) event.extensions["requestid"] = *request_id;
    auto wait = seconds_arg(timeout, "timeout");
    bus::Event reply = wait_for<bus::Event>(*loop_, [&bus, &event, wait]() -> Task<bus::Event> {
      co_return co_await bus->request(event, wait);
    });
    return from_json(reply.data);
  }

  py::list dead_letters(const std::string& group) {
    auto bus = open();
    auto letters = wait_for<std::vector<bus::DeadLetter>>(
        *loop_, [&bus, &group]() -> Task<std::vector<bus::DeadLetter>> {
          co_return co_await bus->dead_letters(group);
        });
    py::list out;
    for (const auto& d : letters) {
      py::dict one;
      one["event"] = from_json(d.event.to_json());
      one["group"] = d.group;
      one["reason"] = d.reason;
      one["attempts"] = d.attempts;
      one["dead_at"] = d.dead_at;
      out.append(one);
    }
    return out;
  }

  bool replay(const std::string& group, const std::string& event_id) {
    auto bus = open();
    return wait_for<bool>(*loop_, [&bus, &group, &event_id]() -> Task<bool> {
      co_return co_await bus->replay(group, event_id);
    });
  }

  bool connected() const {
    std::lock_guard lock(mutex_);
    return bus_ && !closing_ && bus_->connected();
  }

  bool wait_connected(double timeout) const {
    py::gil_scoped_release release;
    auto until = steady_clock::now() + duration<double>(timeout);
    while (!connected()) {
      if (steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(milliseconds(10));
    }
    return true;
  }

  void close(double timeout) {
    auto wait = seconds_arg(timeout, "timeout");
    py::gil_scoped_release release;
    close_now(wait);
  }

  bool closed() const {
    std::lock_guard lock(mutex_);
    return !bus_;
  }

 private:
  // The bus, held for the length of an operation (close() may drop this object's reference).
  std::shared_ptr<bus::Bus> open() {
    std::lock_guard lock(mutex_);
    if (!bus_ || closing_) throw bus::BusError("the bus is closed");
    return bus_;
  }

  // Without the GIL: what publish(wait=False) sent goes out, then the bus closes and is freed
  // (before the runtime's loops stop, at the latest).
  void close_now(milliseconds timeout) {
    std::shared_ptr<bus::Bus> bus;
    {
      std::lock_guard lock(mutex_);
      if (!bus_ || closing_) return;
      closing_ = true;
      bus = bus_;
    }
    auto until = steady_clock::now() + timeout;
    try {
      unconfirmed_.wait(timeout);
    } catch (const std::exception& e) {
      Runtime::get().logger().error("events lost at close", {{"error", e.what()}});
    }
    auto left =
        std::max(milliseconds(100), duration_cast<milliseconds>(until - steady_clock::now()));
    try {
      wait_for<void>(*loop_, [&bus, left]() -> Task<void> { co_await bus->close(left); });
    } catch (...) {
    }
    std::lock_guard lock(mutex_);
    bus_.reset();
    // `bus` frees it on return, without the GIL: its handlers' callables are PyRefs
  }

  mutable std::mutex mutex_;
  std::shared_ptr<bus::Bus> bus_;
  bool closing_ = false;
  asio::io_context* loop_ = nullptr;
  Unconfirmed unconfirmed_;
  std::size_t closer_ = 0;
};

}  // namespace

void bind_bus(py::module_& root) {
  auto m = root.def_submodule("bus", "The message bus: CloudEvents over RabbitMQ or in-process.");
  py::enum_<bus::Outcome>(m, "Outcome", "What a subscriber's callback may return.")
      .value("SUCCESS", bus::Outcome::success)
      .value("RETRY", bus::Outcome::retry)
      .value("DROP", bus::Outcome::drop);

  py::class_<PyBus>(m, "Bus")
      .def(py::init<std::optional<std::string>, std::string>(), py::arg("url"), py::arg("source"))
      .def("publish", &PyBus::publish, py::arg("type"), py::arg("data"), py::kw_only(),
           py::arg("request_id") = py::none(), py::arg("traceparent") = py::none(),
           py::arg("wait") = true)
      .def("flush", &PyBus::flush, py::arg("timeout") = 30.0)
      .def("subscribe", &PyBus::subscribe, py::arg("group"), py::arg("pattern"),
           py::arg("callback"), py::kw_only(), py::arg("max_attempts") = 5,
           py::arg("initial_backoff") = 0.2, py::arg("max_backoff") = 30.0,
           py::arg("prefetch") = 16)
      .def("respond", &PyBus::respond, py::arg("type"), py::arg("callback"))
      .def("request", &PyBus::request, py::arg("type"), py::arg("data"), py::arg("timeout") = 5.0,
           py::kw_only(), py::arg("request_id") = py::none())
      .def("dead_letters", &PyBus::dead_letters, py::arg("group"))
      .def("replay", &PyBus::replay, py::arg("group"), py::arg("event_id"))
      .def_property_readonly("connected", &PyBus::connected)
      .def_property_readonly("closed", &PyBus::closed)
      .def("wait_connected", &PyBus::wait_connected, py::arg("timeout") = 10.0)
      .def("close", &PyBus::close, py::arg("timeout") = 5.0);
}

}  // namespace svckit::python
