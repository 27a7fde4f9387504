// grpc.health.v1.Health from the readiness the server was given (the App's): what /ready says, over
// gRPC, for kubelet's gRPC probes, grpc_health_probe and load balancers.
//   Check("")                 the server: SERVING when readiness is UP, else NOT_SERVING
//   Check(a served service)   the same (readiness is the process's)
//   Check(anything else)      NOT_FOUND
//   Watch(...)                the status now, then every change; SERVICE_UNKNOWN for an unknown
//                             service; the stream ends when the server drains
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "grpc/health/v1/health.pb.h"
#include "server_core.hpp"

namespace svckit::grpc::detail {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using Status = HealthCheckResponse::ServingStatus;

constexpr const char* kHealthService = "grpc.health.v1.Health";

bool serves(const ServerCore& core, const std::string& service) {
  if (service.empty() || service == kHealthService) return true;
  for (const auto& s : core.services)
    if (s.name == service) return true;
  return false;
}

Task<Status> status_now(ServerCore& core) {
  if (!core.ready) co_return HealthCheckResponse::SERVING;
  bool ready = co_await core.ready();
  co_return ready ? HealthCheckResponse::SERVING : HealthCheckResponse::NOT_SERVING;
}

HealthCheckResponse response(Status status) {
  HealthCheckResponse r;
  r.set_status(status);
  return r;
}

}  // namespace

void add_health_service(Server& server, ServerCore& core) {
  auto health = server.service(kHealthService);
  health.unary<HealthCheckRequest, HealthCheckResponse>(
      "Check", [&core](Call&, const HealthCheckRequest& req) -> Task<HealthCheckResponse> {
        if (!serves(core, req.service()))
          throw StatusError(::grpc::StatusCode::NOT_FOUND,
                            "no service named '" + req.service().substr(0, 128) + "' here");
        co_return response(co_await status_now(core));
      });
  health.server_streaming<HealthCheckRequest, HealthCheckResponse>(
      "Watch",
      [&core](Call&, const HealthCheckRequest& req,
              Writer<HealthCheckResponse>& out) -> Task<void> {
        if (!serves(core, req.service())) {
          co_await out.write(response(HealthCheckResponse::SERVICE_UNKNOWN));
          co_return;
        }
        // Readiness is looked at every health_watch_interval; whether the server is draining,
        // every tick, so that a drain is not held up by watchers.
        constexpr auto kTick = std::chrono::milliseconds(50);
        boost::asio::steady_timer tick(co_await boost::asio::this_coro::executor);
        std::optional<Status> sent;
        auto next_look = std::chrono::steady_clock::now();
        while (!core.draining) {
          if (std::chrono::steady_clock::now() >= next_look) {
            auto now = co_await status_now(core);
            if (now != sent) {
              if (!co_await out.write(response(now))) co_return;
              sent = now;
            }
            next_look = std::chrono::steady_clock::now() + core.options.health_watch_interval;
          }
          tick.expires_after(kTick);
          auto [ec] = co_await tick.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
          if (ec) co_return;  // cancelled: the call is over
        }
        if (sent != HealthCheckResponse::NOT_SERVING)
          co_await out.write(response(HealthCheckResponse::NOT_SERVING));
      });
}

}  // namespace svckit::grpc::detail
