#pragma once
// An App under test, in the test's own process: userver's testsuite and Drogon's test macros,
// for svckit.
//
//   svckit::testing::TestApp service("notes");
//   service.install<Notes>();
//   auto& created = service.record_events("note.*");
//   service.start();                                   // on a free port; returns once ready
//   auto r = service.client().post("/api/v1/notes", NewNote{.body = "hi"});
//   EXPECT_EQ(r.status, 201);
//   created.wait_for(1);                               // woken by the event, never a sleep
//
// Dependencies are replaced by configuration, not by mocks: loopback on port 0, one I/O thread,
// an in-memory SQLite database for every component (DATABASE_URL=sqlite::memory:), the
// in-process bus, the in-process key-value store, a fresh DATA_DIR removed afterwards, no
// shutdown delay; an upstream is a StandIn server on loopback whose url() the test passes as
// the setting. Every default can be overridden by `settings`.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>

#include "svckit/app/app.hpp"
#include "svckit/task.hpp"
#include "svckit/testing/event_recorder.hpp"
#include "svckit/testing/test_client.hpp"

namespace svckit::testing {

class TestApp {
 public:
  // An App named `service_name` with the defaults above, overridden by `settings` (what the
  // environment would say: {"BUS_URL", "amqp://..."}). Throws ConfigError as a service would.
  explicit TestApp(std::string service_name, std::map<std::string, std::string> settings = {});
  // Stops the App gracefully when it runs, and removes DATA_DIR.
  ~TestApp();
  TestApp(const TestApp&) = delete;
  TestApp& operator=(const TestApp&) = delete;

  App& app() { return *app_; }
  // Installs a module, as svckit::run does (its declared settings first). Before start().
  template <class M, class... Args>
  M& install(Args&&... args) {
    if (started_) throw std::logic_error("install() comes before start()");
    return app_->install<M>(std::forward<Args>(args)...);
  }
  // Records the events whose type matches `pattern` (AMQP topic rules) that the service
  // publishes, from start() on. Before start().
  EventRecorder& record_events(const std::string& pattern);

  // Runs the App on a thread of its own and returns once it is ready (every module started,
  // /ready answering 200). Throws std::runtime_error when it exits instead (a port in use, a
  // module whose start failed; what run() threw, as it was) or is not ready within `timeout`
  // (then it is stopped). Once per TestApp.
  void start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // The graceful shutdown, waited for: run()'s exit code (0: clean). An App that has not
  // finished 2 x DRAIN_TIMEOUT + 1 s later (a module stuck in start() or stop()) has its loops
  // stopped. What run() threw is rethrown.
  int stop();

  std::uint16_t port() const;
  // http://127.0.0.1:<port>
  std::string url() const;
  // A client of this App (made on first use, after start()).
  TestClient& client();
  // Runs `task` on the App's first I/O loop and waits for its result (or exception): how a test
  // awaits the SDK from its own thread (a gRPC channel, the App's database, its bus). After
  // start().
  template <class T>
  T run(Task<T> task) {
    if constexpr (std::is_void_v<T>) {
      run_on_loop([&]() -> Task<void> { co_await std::move(task); });
    } else {
      std::optional<T> result;
      run_on_loop([&]() -> Task<void> { result.emplace(co_await std::move(task)); });
      return std::move(*result);
    }
  }
  // The fresh directory DATA_DIR points to.
  const std::string& data_dir() const { return data_dir_; }

  struct Signal;  // ready or exited: what start() waits for (test_app.cpp)

 private:
  // Calls `work` on loop 0 and waits until the task it made has finished; its exception rethrown.
  void run_on_loop(const std::function<Task<void>()>& work);
  std::string data_dir_;
  std::unique_ptr<App> app_;
  std::shared_ptr<Signal> signal_;
  std::vector<std::unique_ptr<EventRecorder>> recorders_;
  std::unique_ptr<TestClient> client_;
  std::thread runner_;
  bool started_ = false;
  int exit_code_ = -1;
};

}  // namespace svckit::testing
