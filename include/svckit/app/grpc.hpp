#pragma once
// The App's gRPC server: made on first use on GRPC_PORT (default 50051) and the App's HOST, with
// the App's I/O loops, logger, metrics and readiness (grpc.health.v1.Health answers what /ready
// says); the App starts it before the modules and drains it beside HTTP. Later calls return the
// same one.
//
//   auto& rpc = svckit::grpc::server(app);
//
// Header-only: it joins app and grpc, so only a service that includes it links gRPC.
#include <memory>
#include <stdexcept>

#include "svckit/app/app.hpp"
#include "svckit/grpc/server.hpp"
#include "svckit/health/health.hpp"

namespace svckit::grpc {

namespace detail {
// A coroutine with its state as a parameter: a capturing lambda coroutine would read its
// captures through the lambda, which need not outlive the call.
inline Task<bool> ready(health::Health& health) {
  auto report = co_await health.readiness();
  co_return report.status == health::Status::up;
}
}  // namespace detail

inline Server& server(App& app) {
  if (auto* hosted = app.hosted("grpc")) {
    auto* existing = dynamic_cast<Server*>(hosted);
    if (!existing) throw std::logic_error("the App hosts something else as 'grpc'");
    return *existing;
  }
  ServerOptions options;
  options.host = app.config().host;
  if (app.config().grpc_port) options.port = *app.config().grpc_port;
  health::Health* health = &app.health();
  ServerParts parts{.loops = app.loops(),
                    .logger = &app.logger(),
                    .meter = &app.metrics(),
                    .blocking = &app.blocking(),
                    .ready = [health] { return detail::ready(*health); }};
  return static_cast<Server&>(
      app.host("grpc", std::make_unique<Server>(std::move(parts), std::move(options))));
}

}  // namespace svckit::grpc
