#include "svckit/health/health.hpp"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "svckit/log/logger.hpp"

namespace svckit::health {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

}  // namespace

std::string_view status_name(Status status) {
  switch (status) {
    case Status::up:
      return "UP";
    case Status::down:
      return "DOWN";
    case Status::out_of_service:
      return "OUT_OF_SERVICE";
  }
  return "DOWN";
}

// One registered check with its cached result. At most one evaluation runs at a time: probes
// that arrive meanwhile wait for it (up to the timeout) instead of starting another, so a hung
// dependency holds one blocking thread at most.
struct NamedCheck {
  std::string name;
  std::function<Task<bool>()> run;
  CheckOptions options;

  std::mutex mutex;
  std::optional<CheckResult> last;
  Clock::time_point last_at{};
  bool running = false;
  std::vector<std::shared_ptr<asio::steady_timer>> waiters;
};

struct Health::Impl {
  std::string service;
  BlockingPool& pool;
  std::atomic<bool> started{false};
  std::atomic<bool> draining{false};
  std::vector<std::unique_ptr<NamedCheck>> checks;
  std::set<std::string, std::less<>> readiness_paths;  // serve_readiness_at()'s

  Impl(std::string s, BlockingPool& p) : service(std::move(s)), pool(p) {}

  static void finish(NamedCheck& check, CheckResult result) {
    std::lock_guard lock(check.mutex);
    check.last = std::move(result);
    check.last_at = Clock::now();
    check.running = false;
    for (auto& w : check.waiters) asio::post(w->get_executor(), [w] { w->cancel(); });
    check.waiters.clear();
  }

  static Task<void> evaluate(NamedCheck& check) {
    auto started = Clock::now();
    CheckResult result;
    try {
      bool ok = co_await check.run();
      result.status = ok ? Status::up : Status::down;
      if (!ok) result.detail = "check failed";
    } catch (const std::exception& e) {
      result.status = Status::down;
      result.detail = e.what();
    }
    result.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
    finish(check, std::move(result));
  }

  // Starts an evaluation unless a fresh result is cached or one is already running.
  // co_spawn may run the check at once, up to its first suspension, and a check that never
  // suspends finishes (and takes check.mutex) right there: so never spawn under the lock.
  static void kick(NamedCheck& check, const asio::any_io_executor& ex, Clock::time_point now) {
    {
      std::lock_guard lock(check.mutex);
      if (check.running || (check.last && now - check.last_at < check.options.cache_for)) return;
      check.running = true;
    }
    asio::co_spawn(ex, evaluate(check), asio::detached);
  }

  // The check's result as of `asked_at`, waiting for a running evaluation until
  // asked_at + timeout at most.
  static Task<CheckResult> result_of(NamedCheck& check, Clock::time_point asked_at) {
    auto ex = co_await asio::this_coro::executor;
    auto timer = std::make_shared<asio::steady_timer>(ex, asked_at + check.options.timeout);
    bool spawn = false;
    {
      std::lock_guard lock(check.mutex);
      if (check.last && (!check.running || check.last_at >= asked_at) &&
          asked_at - check.last_at < check.options.cache_for)
        co_return *check.last;
      if (!check.running) {  // finished before we got here and is stale: evaluate again
        check.running = true;
        spawn = true;
      }
      check.waiters.push_back(timer);
    }
    if (spawn) asio::co_spawn(ex, evaluate(check), asio::detached);  // outside the lock: see kick()
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(check.mutex);
    if (check.last && check.last_at >= asked_at) co_return *check.last;
    std::erase(check.waiters, timer);
    CheckResult timed_out;
    timed_out.status = Status::down;
    timed_out.detail = "timed out after " + std::to_string(check.options.timeout.count()) + " ms";
    timed_out.duration_ms = static_cast<double>(check.options.timeout.count());
    co_return timed_out;
  }
};

Health::Health(std::string service, BlockingPool& pool)
    : impl_(std::make_shared<Impl>(std::move(service), pool)) {}

Health::~Health() = default;

void Health::readiness(std::string name, std::function<Task<bool>()> check, CheckOptions options) {
  auto c = std::make_unique<NamedCheck>();
  c->name = std::move(name);
  c->run = std::move(check);
  c->options = options;
  impl_->checks.push_back(std::move(c));
}

void Health::readiness_blocking(std::string name, std::function<bool()> check,
                                CheckOptions options) {
  BlockingPool* pool = &impl_->pool;
  readiness(
      std::move(name),
      [pool, check = std::move(check)]() -> Task<bool> { co_return co_await pool->run(check); },
      options);
}

void Health::mark_started() {
  impl_->started = true;
}
void Health::mark_draining() {
  impl_->draining = true;
}
bool Health::started() const {
  return impl_->started;
}
bool Health::draining() const {
  return impl_->draining;
}

Report Health::liveness() const {
  return Report{Status::up, {}};
}

Report Health::startup() const {
  return Report{impl_->started ? Status::up : Status::down, {}};
}

Task<Report> Health::readiness() {
  Report report;
  if (impl_->draining) {
    report.status = Status::out_of_service;
    co_return report;
  }
  if (!impl_->started) {
    report.status = Status::down;
    co_return report;
  }
  // Every check starts before any is awaited, so a probe takes as long as the slowest check.
  auto ex = co_await boost::asio::this_coro::executor;
  auto asked_at = Clock::now();
  for (auto& check : impl_->checks) Impl::kick(*check, ex, asked_at);
  for (auto& check : impl_->checks) {
    auto result = co_await Impl::result_of(*check, asked_at);
    if (result.status != Status::up && check->options.required) report.status = Status::down;
    report.checks.emplace_back(check->name, std::move(result));
  }
  if (impl_->draining) report.status = Status::out_of_service;
  co_return report;
}

namespace {

// Written by hand rather than through nlohmann::json: probes are hit constantly and the body is
// tiny (building it through a JSON DOM costs more than the rest of the request).
http::Response render(const std::string& service, const Report& report) {
  http::Response response;
  response.status = report.status == Status::up ? 200 : 503;
  response.content_type = "application/json";
  std::string& b = response.body;
  b.reserve(96 + report.checks.size() * 64);
  b += "{\"status\":\"";
  b += status_name(report.status);
  b += "\",\"service\":";
  log::append_json_string(b, service);
  b += ",\"checks\":{";
  for (std::size_t i = 0; i < report.checks.size(); ++i) {
    const auto& [name, r] = report.checks[i];
    if (i) b += ',';
    log::append_json_string(b, name);
    b += ":{\"status\":\"";
    b += status_name(r.status);
    b += "\",\"duration_ms\":";
    char ms[32];
    std::snprintf(ms, sizeof ms, "%.3f", r.duration_ms);
    b += ms;
    if (!r.detail.empty()) {
      b += ",\"detail\":";
      log::append_json_string(b, r.detail);
    }
    b += '}';
  }
  b += "}}";
  response.set_header("Cache-Control", "no-store");
  return response;
}

}  // namespace

void Health::install_routes(http::RouteGroup& routes) {
  auto impl = impl_;
  // Liveness never changes, and probes are frequent: render it once.
  auto live_response = std::make_shared<const http::Response>(render(impl->service, liveness()));
  auto live = [live_response](http::Request&) -> Task<http::Response> { co_return *live_response; };
  auto ready = [this, impl](http::Request&) -> Task<http::Response> {
    co_return render(impl->service, co_await readiness());
  };
  auto startup_probe = [this, impl](http::Request&) -> Task<http::Response> {
    co_return render(impl->service, startup());
  };
  routes.get("/health", live);
  routes.get("/health/live", live);
  routes.get("/ready", ready);
  routes.get("/health/ready", ready);
  routes.get("/health/startup", startup_probe);
}

void Health::serve_readiness_at(http::RouteGroup& routes, const std::string& path) {
  if (!impl_->readiness_paths.insert(path).second) return;
  auto impl = impl_;
  routes.get(path, [this, impl](http::Request&) -> Task<http::Response> {
    co_return render(impl->service, co_await readiness());
  });
}

}  // namespace svckit::health
