#include "upstream.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit::gateway {
namespace asio = boost::asio;

Upstream::Upstream(const UpstreamConfig& config, metrics::Registry& registry,
                   const log::Logger& logger)
    : config_(config), logger_(logger) {
  auto& up = registry.gauge("gateway_target_up",
                            "Whether a target takes calls (health checks pass, not ejected).");
  for (const auto& url : config.targets) {
    auto t = std::make_unique<Target>();
    t->url = url;
    http::ClientOptions options;
    options.name = config.name;
    options.timeout = std::chrono::hours(1);  // each call's deadline is the route's timeout
    options.retry = RetryPolicy::none();      // the gateway retries, on another target
    options.breaker = CircuitBreakerOptions{.consecutive_failures = config.eject_after_failures,
                                            .failure_ratio = 1.1,  // consecutive failures only
                                            .open_duration = config.eject_for};
    options.max_idle_per_loop = 256;
    options.metrics = &registry;
    options.logger = &logger;
    t->client = std::make_unique<http::Client>(url, options);
    http::ClientOptions health;
    health.name = config.name + "-health";
    health.timeout = std::min(config.health_interval, std::chrono::milliseconds(2000));
    health.retry = RetryPolicy::none();
    health.breaker = std::nullopt;
    t->health_client = std::make_unique<http::Client>(url, health);
    t->up = &up.Add({{"upstream", config.name}, {"target", url}});
    t->up->Set(1);
    targets_.push_back(std::move(t));
  }
}

Target* Upstream::pick(const Target* avoid) {
  const std::size_t n = targets_.size();
  // One target needs no turn to take (nor a cache line every I/O thread writes per call).
  std::size_t start = n > 1 ? next_.fetch_add(1, std::memory_order_relaxed) : 0;
  Target* best = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    Target* t = targets_[(start + i) % n].get();
    if (!t->available() || (t == avoid && n > 1)) continue;
    if (config_.balance == Balance::round_robin) return t;
    if (!best || t->outstanding.load(std::memory_order_relaxed) <
                     best->outstanding.load(std::memory_order_relaxed))
      best = t;
  }
  return best;
}

Task<void> Upstream::check_health() {
  if (config_.health_path.empty()) co_return;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!stopped_) {
    for (auto& t : targets_) {
      bool ok = false;
      try {
        auto res = co_await t->health_client->get(config_.health_path);
        ok = res.status == 200;
      } catch (const std::exception&) {
        ok = false;
      }
      if (ok != t->healthy.exchange(ok))
        logger_.write(ok ? log::Level::info : log::Level::warning,
                      ok ? "target healthy again" : "target unhealthy",
                      {{"upstream", config_.name}, {"target", t->url}});
      t->up->Set(t->available() ? 1 : 0);
    }
    timer.expires_after(config_.health_interval);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace svckit::gateway
