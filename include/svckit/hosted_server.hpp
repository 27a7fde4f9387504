#pragma once
// A server an App hosts beside its HTTP server (svckit::grpc::Server is one). The App starts it
// right after the HTTP server is listening, before the modules start, and at shutdown drains it
// at the same time as the HTTP server: both stop taking calls at the same moment and share
// DRAIN_TIMEOUT.
#include <chrono>

#include "svckit/task.hpp"

namespace svckit {

class HostedServer {
 public:
  virtual ~HostedServer() = default;
  // Binds and starts serving. A throw stops start-up (the App logs it and exits 1).
  virtual void start() = 0;
  // Stops taking new calls at once, lets the ones in flight finish within `timeout`, then
  // cancels what is left. Must not throw.
  virtual Task<void> drain(std::chrono::milliseconds timeout) = 0;
};

}  // namespace svckit
