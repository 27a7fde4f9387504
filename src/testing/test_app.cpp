#include "svckit/testing/test_app.hpp"

#include <unistd.h>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <stdexcept>
#include <utility>

#include "svckit/config.hpp"
#include "svckit/ids.hpp"

namespace svckit::testing {

namespace asio = boost::asio;

struct TestApp::Signal {
  std::mutex mutex;
  std::condition_variable changed;
  bool ready = false;
  bool exited = false;
  int exit_code = -1;
  std::exception_ptr error;  // what run() threw

  void set(bool TestApp::Signal::*flag) {
    {
      std::lock_guard lock(mutex);
      this->*flag = true;
    }
    changed.notify_all();
  }
};

namespace {

// Tells the test the App is ready. Run on loop 0, it follows the App's own start-up there:
// readiness is marked right after the last module started, in the same turn of the loop.
void notify_when_started(App& app, std::shared_ptr<TestApp::Signal> signal);

// Installed last, so it starts last: its start() means every module has started.
struct ReadySignal : Module {
  explicit ReadySignal(std::shared_ptr<TestApp::Signal> signal) : signal(std::move(signal)) {}
  std::shared_ptr<TestApp::Signal> signal;
  void install(App&) override {}
  Task<void> start(App& app) override {
    notify_when_started(app, signal);
    co_return;
  }
};

void notify_when_started(App& app, std::shared_ptr<TestApp::Signal> signal) {
  asio::post(*app.loops()[0], [&app, signal] {
    if (app.health().started())
      signal->set(&TestApp::Signal::ready);
    else
      notify_when_started(app, signal);
  });
}

// A coroutine with its state as parameters: a capturing lambda coroutine would read its captures
// through the lambda, which need not outlive the call.
Task<bus::Outcome> record(EventRecorder& recorder, const bus::Event& event) {
  recorder.add(event);
  co_return bus::Outcome::success;
}

std::string fresh_directory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "svckit-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("cannot make a directory in /tmp");
  return pattern;
}

}  // namespace

TestApp::TestApp(std::string service_name, std::map<std::string, std::string> settings)
    : data_dir_(fresh_directory()), signal_(std::make_shared<Signal>()) {
  std::map<std::string, std::string> defaults = {
      {"HOST", "127.0.0.1"},    {"PORT", "0"},
      {"GRPC_PORT", "0"},       {"THREADS", "1"},
      {"LOG_LEVEL", "error"},   {"SHUTDOWN_DELAY", "0"},
      {"DRAIN_TIMEOUT", "5s"},  {"DATA_DIR", data_dir_},
      {"BUS_URL", "inproc://"}, {"DATABASE_URL", "sqlite::memory:"}};
  settings.insert(defaults.begin(), defaults.end());  // the test's own win
  try {
    app_ =
        std::make_unique<App>(Config::load(std::move(service_name), {}, map_environment(settings)));
  } catch (...) {
    std::filesystem::remove_all(data_dir_);
    throw;
  }
}

TestApp::~TestApp() {
  client_.reset();
  try {
    stop();
  } catch (...) {  // what run() threw: a destructor has nobody to tell
  }
  app_.reset();
  std::error_code ignored;
  std::filesystem::remove_all(data_dir_, ignored);
}

EventRecorder& TestApp::record_events(const std::string& pattern) {
  if (started_) throw std::logic_error("record_events() comes before start()");
  auto& recorder = *recorders_.emplace_back(std::make_unique<EventRecorder>(pattern));
  // A group of this recorder's own: over a broker, no other test process shares its queue, and
  // the broker deletes the queue a minute after the test is gone.
  static std::atomic<int> made{0};
  std::string group = "svckit-testing-" + std::to_string(::getpid()) + "-" +
                      uuid_v4().substr(0, 8) + "-" + std::to_string(++made);
  app_->bus().subscribe(group, pattern,
                        [r = &recorder](const bus::Event& e) { return record(*r, e); },
                        {.expires_unused = std::chrono::minutes(1)});
  return recorder;
}

void TestApp::start(std::chrono::milliseconds timeout) {
  if (started_) throw std::logic_error("a TestApp starts once");
  started_ = true;
  app_->install<ReadySignal>(signal_);
  runner_ = std::thread([this, signal = signal_] {
    int code = -1;
    std::exception_ptr error;
    try {
      code = app_->run();
    } catch (...) {
      error = std::current_exception();
    }
    {
      std::lock_guard lock(signal->mutex);
      signal->exit_code = code;
      signal->error = error;
    }
    signal->set(&Signal::exited);
  });
  std::unique_lock lock(signal_->mutex);
  bool settled =
      signal_->changed.wait_for(lock, timeout, [&] { return signal_->ready || signal_->exited; });
  bool exited = signal_->exited;
  lock.unlock();
  if (exited) {
    int code = stop();
    throw std::runtime_error("the App exited with code " + std::to_string(code) +
                             " before it was ready (its log says why)");
  }
  if (!settled) {
    stop();
    throw std::runtime_error("the App was not ready within " + std::to_string(timeout.count()) +
                             " ms");
  }
}

int TestApp::stop() {
  if (runner_.joinable()) {
    app_->shutdown();
    // Servers drain, then bus consumers finish, each within DRAIN_TIMEOUT; a second for the rest.
    auto limit = 2 * app_->config().drain_timeout + std::chrono::seconds(1);
    std::unique_lock lock(signal_->mutex);
    if (!signal_->changed.wait_for(lock, limit, [&] { return signal_->exited; })) {
      lock.unlock();
      for (auto* loop : app_->loops()) loop->stop();  // what a second SIGTERM does
      lock.lock();
    }
    lock.unlock();
    runner_.join();
    std::lock_guard relock(signal_->mutex);
    exit_code_ = signal_->exit_code;
    if (auto error = std::exchange(signal_->error, nullptr)) std::rethrow_exception(error);
  }
  return exit_code_;
}

std::uint16_t TestApp::port() const {
  return app_->port();
}

std::string TestApp::url() const {
  return "http://127.0.0.1:" + std::to_string(port());
}

void TestApp::run_on_loop(const std::function<Task<void>()>& work) {
  {
    std::lock_guard lock(signal_->mutex);
    if (!runner_.joinable() || signal_->exited)
      throw std::logic_error("run() is for a started App that has not stopped");
  }
  asio::co_spawn(*app_->loops()[0], work(), asio::use_future).get();
}

TestClient& TestApp::client() {
  if (!runner_.joinable()) throw std::logic_error("client() comes after start()");
  if (!client_) client_ = std::make_unique<TestClient>(url());
  return *client_;
}

}  // namespace svckit::testing
