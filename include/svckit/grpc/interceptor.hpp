#pragma once
// Code that runs around every call's handler, like HTTP middleware: svckit's own interceptors
// count the call (grpc_server_* metrics) and authenticate it; a service adds its own with
// Server::use().
#include <optional>

#include <grpcpp/support/status.h>

#include "svckit/grpc/call.hpp"
#include "svckit/task.hpp"

namespace svckit::grpc {

class Interceptor {
 public:
  virtual ~Interceptor() = default;
  // Before the handler, in the order interceptors were added. Throw to refuse the call (what is
  // thrown answers it, status.hpp; the handler does not run). Return a Task to wait for
  // something first: it runs on an I/O loop, and so does the rest of the call.
  virtual std::optional<Task<void>> before(Call& call) {
    (void)call;
    return std::nullopt;
  }
  // Once the call's status is known, in reverse order, whatever happened before. Must not throw.
  virtual void after(Call& call, const ::grpc::Status& status) noexcept {
    (void)call;
    (void)status;
  }
};

}  // namespace svckit::grpc
