#pragma once
// Liveness, readiness and startup as Kubernetes and Spring Boot Actuator mean them.
// - liveness (/health, /health/live) checks nothing external: the process answers, so it is UP;
// - startup (/health/startup) is DOWN until App finished starting every module;
// - readiness (/ready, /health/ready) is DOWN until started, OUT_OF_SERVICE from the first moment
//   of shutdown, and otherwise UP only if every registered check is. Check results are cached
//   and time-bounded, so a hung dependency cannot hang a probe.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/blocking_pool.hpp"
#include "svckit/http/route_group.hpp"
#include "svckit/task.hpp"

namespace svckit::health {

enum class Status { up, down, out_of_service };
std::string_view status_name(Status status);  // "UP", "DOWN", "OUT_OF_SERVICE"

struct CheckResult {
  Status status = Status::up;
  std::string detail;
  double duration_ms = 0;
};

struct CheckOptions {
  std::chrono::milliseconds timeout{1000};    // a check slower than this is DOWN
  std::chrono::milliseconds cache_for{1000};  // a result is reused for this long
  // A dependency the service works without, degraded (a cache, a shared rate limit that fails
  // open): its status and detail are reported, but it does not make readiness DOWN, so that an
  // outage of it does not take every replica out of the load balancer at once.
  bool required = true;
};

struct Report {
  Status status = Status::up;
  std::vector<std::pair<std::string, CheckResult>> checks;
};

class Health {
 public:
  Health(std::string service, BlockingPool& pool);
  ~Health();

  // A check is healthy when it returns true; false or an exception (its message becomes the
  // detail) make it DOWN.
  void readiness(std::string name, std::function<Task<bool>()> check, CheckOptions options = {});
  // The same for a check that blocks (runs on the blocking pool).
  void readiness_blocking(std::string name, std::function<bool()> check, CheckOptions options = {});

  void mark_started();
  void mark_draining();
  bool started() const;
  bool draining() const;

  Report liveness() const;
  Report startup() const;
  Task<Report> readiness();

  // /health, /health/live, /health/startup, /ready, /health/ready.
  void install_routes(http::RouteGroup& routes);
  // The readiness report at `path` too: a seed's own health path that load balancers probe
  // (seed 004's GET /api/v1/health). Asking again for a path served already does nothing, so
  // every module of a combined process may ask for it.
  void serve_readiness_at(http::RouteGroup& routes, const std::string& path);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::health
