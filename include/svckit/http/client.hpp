#pragma once
// The resilient HTTP client services use to call one another and the outside world.
//
//   http::Client tasks("http://task-manager:8001", {.name = "task-manager"});
//   auto res = co_await tasks.get("/api/v1/tasks/42", &req.context());  // req: the incoming
//   request if (res.status == 200) use(res.json());
//
// One Client per upstream (a base URL). It keeps a pool of keep-alive connections per I/O loop
// (a connection is used only on the loop that opened it, so no locks on the hot path), verifies
// TLS peers, and bounds every call by a deadline: the caller's, the incoming request's remaining
// time, or `timeout`. The deadline travels with the call as `X-Request-Timeout-Ms` and the
// incoming request's id and trace with it (`X-Request-ID`, `traceparent` with a new span id).
// Idempotent calls are retried with backoff and jitter on connect errors, 502/503/504 and 429
// (honouring Retry-After) while a retry budget allows; a circuit breaker stops calls to an
// upstream that keeps failing. Answers of any status are returned; only a call that produced no
// answer throws UpstreamError (or returns the fallback's answer).
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "svckit/context.hpp"
#include "svckit/error.hpp"
#include "svckit/http/method.hpp"
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

namespace svckit::http {

struct ClientRequest {
  using Header = std::pair<std::string, std::string>;
  using HeaderView = std::pair<std::string_view, std::string_view>;
  Method method = Method::get;
  std::string target = "/";  // path and query, appended to the base URL's path
  std::vector<Header> headers;
  // Headers whose text the caller keeps alive and unchanged until the call is done, sent after
  // `headers` without a copy: a proxy's views into the request it serves (send_borrowed()).
  std::vector<HeaderView> borrowed_headers;
  std::string body;
  std::string content_type;  // sent as Content-Type when the body is not empty
  // What this call serves (an HTTP request's, a gRPC call's or a bus delivery's context): its
  // id, trace and deadline go with the call.
  const Context* context = nullptr;
  Deadline deadline;               // besides the context's and the client's timeout
  std::optional<bool> idempotent;  // unset: GET, HEAD, PUT, DELETE and OPTIONS are

  static ClientRequest json(Method method, std::string target, const nlohmann::json& body);
  // This request with its borrowed headers copied into `headers`: for a call that outlives
  // the text they view (a shadow call sent after the answer).
  ClientRequest owning() const;
};

struct ClientResponse {
  using Header = std::pair<std::string, std::string>;
  int status = 0;
  std::vector<Header> headers;
  std::string body;
  int attempts = 1;  // how many tries the answer took

  // Case-insensitive; the first value when repeated.
  std::optional<std::string_view> header(std::string_view name) const;
  // The body as JSON; throws UpstreamError (502) when it is not.
  nlohmann::json json() const;
};

// A call that produced no answer. Let through a handler it becomes a 502 (504 for a timeout,
// 503 with Retry-After for an open circuit breaker) naming the upstream.
class UpstreamError : public Error {
 public:
  enum class Kind { connect, timeout, io, protocol, too_large, circuit_open };
  UpstreamError(Kind kind, std::string upstream, std::string detail,
                std::chrono::milliseconds retry_after = {});
  Kind kind() const { return kind_; }
  const std::string& upstream() const { return upstream_; }

 private:
  Kind kind_;
  std::string upstream_;
};
std::string_view to_string(UpstreamError::Kind kind);

struct ClientOptions {
  std::string name;  // the upstream in metrics and logs; default: host:port
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds timeout{10000};      // a whole call, retries included, unless shorter
  std::chrono::milliseconds attempt_timeout{0};  // one try; 0: whatever the deadline leaves
  std::size_t max_response_bytes = 8 << 20;
  std::size_t max_idle_per_loop = 64;             // pooled keep-alive connections per I/O loop
  std::chrono::milliseconds idle_timeout{30000};  // older pooled connections are not reused
  // TLS (https URLs). The peer's certificate must chain to these CAs (PEM file; empty: the
  // system's) and name the host. Client certificate and key for upstreams that require mTLS.
  std::string ca_file;
  std::string certificate_file;
  std::string key_file;
  RetryPolicy retry;
  RetryBudgetOptions retry_budget;
  std::optional<CircuitBreakerOptions> breaker = CircuitBreakerOptions{};  // nullopt: none
  // Asked for an answer when a call produced none (after retries, or with the breaker open).
  // Return nullopt to let the UpstreamError through.
  std::function<std::optional<ClientResponse>(const ClientRequest&, const UpstreamError&)> fallback;
  // Where client metrics go (http_client_*); none when null.
  meter::Meter* metrics = nullptr;  // metrics::Registry is one
  // Breaker state changes and retries are logged here when set.
  const log::Logger* logger = nullptr;
};

class Client {
 public:
  // `base_url`: "http://host:port" or "https://host/prefix". Throws std::invalid_argument.
  explicit Client(std::string_view base_url, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Must be awaited on an I/O loop (a handler, a Module's start, App background work).
  Task<ClientResponse> send(ClientRequest request);
  // The same, for a caller that keeps `request` alive and unchanged until the call is done (a
  // proxy that may send it on to another target next): nothing is copied.
  Task<ClientResponse> send_borrowed(const ClientRequest& request);
  Task<ClientResponse> get(std::string target, const Context* context = nullptr);
  Task<ClientResponse> post(std::string target, const nlohmann::json& body,
                            const Context* context = nullptr);

  const std::string& name() const;
  CircuitBreaker::State breaker_state() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::http
