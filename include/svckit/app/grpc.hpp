#pragma once
// gRPC in an App: its server, and channels to other services, wired into the App.
//
//   auto& rpc = svckit::grpc::server(app);
//   auto& ai = svckit::grpc::channel(app, "ai-gateway", "10.0.0.7:50051");
//
// Header-only: it joins app and grpc, so only a service that includes it links gRPC.
#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>

#include "svckit/app/app.hpp"
#include "svckit/grpc/channel.hpp"
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

// The App's gRPC server: made on first use on GRPC_PORT (default 50051) and the App's HOST, with
// the App's I/O loops, logger, metrics and readiness (grpc.health.v1.Health answers what /ready
// says); the App starts it before the modules and drains it beside HTTP. Later calls return the
// same one.
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

// The channel to the upstream `name` (its label in grpc_client_* metrics and log lines),
// counting into the App's metrics and logging breaker changes and retries to its logger; a call
// carries the request id, trace and deadline of the Context in its CallOptions. Made on first use
// with `target` ("host:port") and `options`; later calls return the same one, and asking for
// `name` at another target is a std::logic_error. The App keeps it until it is destroyed.
inline Channel& channel(App& app, const std::string& name, const std::string& target,
                        ChannelOptions options = {}) {
  using Kept = std::pair<std::string, Channel>;
  const std::string key = "grpc-channel:" + name;
  if (auto* existing = app.kept<Kept>(key)) {
    if (existing->first != target)
      throw std::logic_error("the gRPC channel '" + name + "' is to " + existing->first + ", not " +
                             target);
    return existing->second;
  }
  options.name = name;
  options.metrics = &app.metrics();
  options.logger = &app.logger();
  auto made = std::make_shared<Kept>(std::piecewise_construct, std::forward_as_tuple(target),
                                     std::forward_as_tuple(target, std::move(options)));
  return app.keep(key, std::move(made)).second;
}

}  // namespace svckit::grpc
