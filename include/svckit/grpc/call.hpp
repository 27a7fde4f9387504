#pragma once
// One RPC as its handler sees it: which method, the request metadata, the caller's deadline, and
// its svckit::Context (request id, trace, deadline, user; auth::principal(call.context()) is who
// called, once the service's authentication ran), which
// svckit's HTTP client, gRPC channel and bus take, so that a gRPC handler's outgoing calls and
// events carry them exactly as an HTTP handler's do.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "svckit/context.hpp"

namespace grpc {
class CallbackServerContext;
}

namespace svckit::grpc {

// What the server knows of one registered method.
struct MethodInfo {
  std::string path;        // "/AIGateway/Chat", as on the wire
  std::string service;     // "AIGateway"
  std::string name;        // "Chat"
  std::string type;        // "unary" or "server_stream" (the grpc_type label)
  std::string permission;  // needed besides authentication; empty: none
};

class Call {
 public:
  // Made by the server for each call: reads the request id, trace and deadline from `server`.
  Call(::grpc::CallbackServerContext& server, const MethodInfo& method, const log::Logger* logger);
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  const MethodInfo& method() const { return method_; }
  // A request metadata value (keys are lower case on the wire), the first when repeated.
  std::optional<std::string_view> metadata(std::string_view key) const;
  // x-request-id when the client sent a sane one, else the trace id (as HTTP does).
  const std::string& request_id() const { return context_.request_id(); }
  const trace::TraceContext& trace() const { return context_.trace(); }
  // The client's deadline; unset when it sent none.
  Deadline deadline() const { return context_.deadline(); }
  // "ipv4:127.0.0.1:50412"
  std::string peer() const;
  bool cancelled() const;

  // For svckit's HTTP client (ClientRequest::context), gRPC channel, bus publishes and log lines.
  const Context& context() const { return context_; }
  Context& context() { return context_; }
  std::chrono::steady_clock::time_point received_at() const { return context_.started_at(); }
  void log(log::Level level, std::string_view message, log::Fields fields = {}) const {
    context_.log(level, message, fields);
  }

  // gRPC's own per-call context: initial and trailing metadata, auth context, ...
  ::grpc::CallbackServerContext& server_context() { return server_; }

 private:
  ::grpc::CallbackServerContext& server_;
  const MethodInfo& method_;
  Context context_;
};

}  // namespace svckit::grpc
