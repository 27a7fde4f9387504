#pragma once
// One upstream pool: its targets (each with its own keep-alive pool through svckit's
// http::Client), the balancing between them, passive ejection (a target whose calls keep
// failing is skipped for a while: its client's circuit breaker) and active health checks
// (GET health_path on each target every interval).
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "routes.hpp"
#include "svckit/http/client.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/metrics/registry.hpp"
#include "svckit/task.hpp"

namespace svckit::gateway {

struct Target {
  std::string url;
  std::unique_ptr<http::Client> client;
  std::unique_ptr<http::Client> health_client;
  std::atomic<int> outstanding{0};
  std::atomic<bool> healthy{true};  // by the active checks
  prometheus::Gauge* up = nullptr;

  bool available() const {
    return healthy.load(std::memory_order_relaxed) &&
           client->breaker_state() != CircuitBreaker::State::open;
  }
};

class Upstream {
 public:
  Upstream(const UpstreamConfig& config, metrics::Registry& registry, const log::Logger& logger);

  const UpstreamConfig& config() const { return config_; }
  // The target for the next call, skipping `avoid` (the one that just failed) when another is
  // available; nullptr when none is.
  Target* pick(const Target* avoid = nullptr);
  // Runs the active health checks until stop(); on an I/O loop.
  Task<void> check_health();
  void stop() { stopped_ = true; }
  std::vector<std::unique_ptr<Target>>& targets() { return targets_; }

 private:
  UpstreamConfig config_;
  const log::Logger& logger_;
  std::vector<std::unique_ptr<Target>> targets_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stopped_{false};
};

}  // namespace svckit::gateway
