#pragma once
// The resilient gRPC client services use to call one another: what http::Client does for HTTP.
//
//   grpc::Channel ai("127.0.0.1:50051", {.name = "ai-gateway", .metrics = &app.metrics()});
//   auto reply = co_await ai.unary<ChatRequest, ChatResponse>("/AIGateway/Chat", request,
//                                                            {.context = &req.context()});
//
// Every call is bounded by a deadline (the caller's, the incoming request's remaining time, or
// `timeout`), which gRPC sends as `grpc-timeout`, and carries the incoming request's id
// (`x-request-id`) and trace (`traceparent` with a new span id). Idempotent calls are retried with
// backoff and jitter on UNAVAILABLE, RESOURCE_EXHAUSTED and an attempt's own timeout, while the
// retry budget allows; a circuit breaker stops calls to an upstream that keeps failing. A status
// other than OK throws RpcError. Completions come back to the caller's own I/O loop.
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/message.h>
#include <grpcpp/support/status.h>

#include "svckit/context.hpp"
#include "svckit/error.hpp"
#include "svckit/resilience/circuit_breaker.hpp"
#include "svckit/resilience/deadline.hpp"
#include "svckit/resilience/retry_budget.hpp"
#include "svckit/resilience/retry_policy.hpp"
#include "svckit/task.hpp"

namespace svckit::meter {
class Meter;
}
namespace svckit::log {
class Logger;
}

namespace svckit::grpc {

struct ChannelOptions {
  std::string name;                              // the upstream in metrics and logs
  std::chrono::milliseconds timeout{10000};      // a whole call, retries included, unless shorter
  std::chrono::milliseconds attempt_timeout{0};  // one try; 0: whatever the deadline leaves
  std::size_t max_message_bytes = 4 << 20;
  std::string ca_file;  // TLS: the server's certificate must chain to these (PEM); empty: plaintext
  RetryPolicy retry;
  RetryBudgetOptions retry_budget;
  std::optional<CircuitBreakerOptions> breaker = CircuitBreakerOptions{};  // nullopt: none
  meter::Meter* metrics = nullptr;      // grpc_client_* metrics (app.metrics()); none when null
  const log::Logger* logger = nullptr;  // breaker changes and retries
};

struct CallOptions {
  // What this call serves (an HTTP request's, a gRPC call's or a bus delivery's context): its
  // id, trace and deadline go with the call.
  const Context* context = nullptr;
  Deadline deadline;        // besides the context's and the channel's timeout
  bool idempotent = false;  // only idempotent calls are retried
  std::vector<std::pair<std::string, std::string>> metadata;  // keys lower case
};

// A call that did not end OK. Let through an HTTP handler: 504 for DEADLINE_EXCEEDED, 503 (with
// Retry-After) for UNAVAILABLE and an open breaker, 502 otherwise, naming the upstream.
class RpcError : public Error {
 public:
  RpcError(std::string upstream, std::string method, ::grpc::Status status);
  ::grpc::StatusCode code() const { return status_.error_code(); }
  const ::grpc::Status& grpc_status() const { return status_; }
  const std::string& upstream() const { return upstream_; }

 private:
  std::string upstream_;
  ::grpc::Status status_;
};

class Channel {
 public:
  // `target`: "host:port" (or any gRPC target, "dns:///host:port"). Throws std::invalid_argument
  // for an empty target or an unreadable ca_file.
  explicit Channel(std::string target, ChannelOptions options = {});
  ~Channel();
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // `method` is the full path ("/AIGateway/Chat"). Must be awaited on an I/O loop.
  template <class Request, class Response>
  Task<Response> unary(std::string method, Request request, CallOptions options = {}) {
    Response response;
    co_await call(method, request, response, std::move(options));
    co_return response;
  }

  const std::string& name() const;
  CircuitBreaker::State breaker_state() const;

 private:
  Task<void> call(std::string_view method, const google::protobuf::Message& request,
                  google::protobuf::Message& response, CallOptions options);
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::grpc
