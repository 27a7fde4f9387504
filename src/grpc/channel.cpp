#include "svckit/grpc/channel.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/codegen/client_callback.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/channel_arguments.h>

#include "../wakeup.hpp"
#include "svckit/grpc/status.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/meter.hpp"
#include "svckit/trace/span.hpp"

namespace svckit::grpc {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Message = google::protobuf::Message;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

int rpc_error_status(::grpc::StatusCode code) {
  switch (code) {
    case ::grpc::StatusCode::DEADLINE_EXCEEDED:
      return 504;
    case ::grpc::StatusCode::UNAVAILABLE:
      return 503;
    default:
      return 502;
  }
}

// Outcomes that say the upstream is in trouble (for the breaker); the rest are answers.
bool upstream_failed(::grpc::StatusCode code) {
  using C = ::grpc::StatusCode;
  return code == C::UNAVAILABLE || code == C::DEADLINE_EXCEEDED || code == C::INTERNAL ||
         code == C::UNKNOWN || code == C::RESOURCE_EXHAUSTED || code == C::DATA_LOSS;
}

bool retryable(::grpc::StatusCode code) {
  using C = ::grpc::StatusCode;
  return code == C::UNAVAILABLE || code == C::RESOURCE_EXHAUSTED || code == C::DEADLINE_EXCEEDED;
}

// One attempt's state, shared with gRPC's completion callback: whatever the caller does (it may
// be cancelled and gone), the buffers gRPC writes into live until the callback ran.
struct Attempt {
  ::grpc::ClientContext context;
  std::string method;
  ::grpc::ByteBuffer request;
  ::grpc::ByteBuffer response;
  ::grpc::Status status;
  std::shared_ptr<svckit::detail::Wakeup> done;
};

}  // namespace

RpcError::RpcError(std::string upstream, std::string method, ::grpc::Status status)
    : Error(rpc_error_status(status.error_code()), "about:blank",
            status_reason(rpc_error_status(status.error_code())),
            upstream + " answered " + method + " with " +
                std::string(code_name(status.error_code())) +
                (status.error_message().empty() ? "" : ": " + status.error_message())),
      upstream_(std::move(upstream)),
      status_(std::move(status)) {
  if (status_.error_code() == ::grpc::StatusCode::UNAVAILABLE) with_header("Retry-After", "1");
}

struct Channel::Impl {
  Impl(std::string target, ChannelOptions o)
      : options(std::move(o)),
        name(options.name.empty() ? target : options.name),
        budget(options.retry_budget) {
    if (target.empty()) throw std::invalid_argument("a gRPC channel needs a target");
    ::grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
    args.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
    args.SetInt("grpc.enable_retries", 0);  // ours, under a budget, instead of gRPC's own
    std::shared_ptr<::grpc::ChannelCredentials> credentials;
    if (options.ca_file.empty()) {
      credentials = ::grpc::InsecureChannelCredentials();
    } else {
      ::grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = read_file(options.ca_file);
      credentials = ::grpc::SslCredentials(ssl);
    }
    channel = ::grpc::CreateCustomChannel(target, credentials, args);
    if (options.breaker) {
      breaker = std::make_unique<CircuitBreaker>(*options.breaker);
      breaker->on_state_change([this](CircuitBreaker::State from, CircuitBreaker::State to) {
        if (breaker_gauge) breaker_gauge->set(static_cast<double>(to));
        if (options.logger)
          options.logger->warning(
              "circuit breaker state changed",
              {{"upstream", name}, {"from", to_string(from)}, {"to", to_string(to)}});
      });
    }
    if (auto* m = options.metrics) {
      started = &m->counters("grpc_client_started_total", "RPCs started on the client.");
      handled = &m->counters("grpc_client_handled_total",
                             "RPCs completed by the client, regardless of success or failure.");
      handling = &m->histograms("grpc_client_handling_seconds",
                                "Latency of gRPC calls made by the client, retries included.");
      retries = &m->counters("grpc_client_retries_total", "Retries made by the gRPC client.")
                     .add({{"upstream", name}});
      budget_exhausted = &m->counters("grpc_client_retry_budget_exhausted_total",
                                      "Retries not made because the retry budget was spent.")
                              .add({{"upstream", name}});
      if (breaker)
        breaker_gauge = &m->gauges("grpc_client_circuit_breaker_state",
                                   "Circuit breaker per upstream: 0 closed, 1 open, 2 half-open.")
                             .add({{"upstream", name}});
    }
  }

  ChannelOptions options;
  std::string name;
  std::shared_ptr<::grpc::Channel> channel;
  RetryBudget budget;
  std::unique_ptr<CircuitBreaker> breaker;
  meter::Family<meter::Counter>* started = nullptr;
  meter::Family<meter::Counter>* handled = nullptr;
  meter::Family<meter::Histogram>* handling = nullptr;
  meter::Counter* retries = nullptr;
  meter::Counter* budget_exhausted = nullptr;
  meter::Gauge* breaker_gauge = nullptr;

  void count(const std::string& method, ::grpc::StatusCode code, Clock::time_point since) {
    if (!started) return;
    auto slash = method.find('/', 1);
    std::string service = method.substr(1, slash == std::string::npos ? 0 : slash - 1);
    std::string short_name = slash == std::string::npos ? method : method.substr(slash + 1);
    meter::Labels labels = {
        {"grpc_service", service}, {"grpc_method", short_name}, {"grpc_type", "unary"}};
    started->add(labels).increment();
    handling->add(labels, meter::latency_buckets())
        .observe(std::chrono::duration<double>(Clock::now() - since).count());
    labels["grpc_code"] = std::string(code_name(code));
    handled->add(labels).increment();
  }

  // `span`: the try's CLIENT span when recorded, whose id the traceparent carries.
  void prepare(Attempt& a, const CallOptions& o, Clock::time_point until, const trace::Span* span) {
    auto left = until - Clock::now();
    a.context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::duration_cast<std::chrono::system_clock::duration>(left));
    if (o.context) {
      a.context.AddMetadata("x-request-id", o.context->request_id());
      const trace::TraceContext& t = o.context->trace();
      a.context.AddMetadata("traceparent", span ? span->traceparent() : t.child_traceparent());
      if (!t.tracestate.empty()) a.context.AddMetadata("tracestate", t.tracestate);
    }
    for (const auto& [key, value] : o.metadata) a.context.AddMetadata(key, value);
  }

  // One try; resumes on the caller's loop. Cancelling the caller cancels the call.
  Task<::grpc::Status> attempt(std::shared_ptr<Attempt> a, Message& response) {
    a->done = svckit::detail::Wakeup::on(co_await asio::this_coro::executor);
    ::grpc::internal::RpcMethod method(a->method.c_str(), ::grpc::internal::RpcMethod::NORMAL_RPC);
    ::grpc::internal::CallbackUnaryCall<::grpc::ByteBuffer, ::grpc::ByteBuffer>(
        channel.get(), method, &a->context, &a->request, &a->response, [a](::grpc::Status status) {
          a->status = std::move(status);
          a->done->fire();
        });
    if (!co_await a->done->wait()) {  // our caller was cancelled
      a->context.TryCancel();
      throw StatusError(::grpc::StatusCode::CANCELLED, "the call was cancelled by its caller");
    }
    if (a->status.ok()) {
      auto parsed = ::grpc::SerializationTraits<Message>::Deserialize(&a->response, &response);
      if (!parsed.ok())
        co_return ::grpc::Status(::grpc::StatusCode::INTERNAL,
                                 "the answer could not be parsed: " + parsed.error_message());
    }
    co_return a->status;
  }

  Task<void> call(std::string_view method, const Message& request, Message& response,
                  CallOptions o) {
    auto began = Clock::now();
    Deadline deadline = o.deadline.min(Deadline::after(options.timeout));
    if (o.context) deadline = deadline.min(o.context->deadline());
    ::grpc::ByteBuffer serialized;
    bool own = false;
    auto ok = ::grpc::SerializationTraits<Message>::Serialize(request, &serialized, &own);
    if (!ok.ok())
      throw std::invalid_argument("cannot serialize the request: " + ok.error_message());
    budget.record_request();
    std::string path(method);
    ::grpc::Status status;
    for (int attempt_number = 1;; ++attempt_number) {
      if (deadline.expired()) {
        status = {::grpc::StatusCode::DEADLINE_EXCEEDED, "the deadline passed before the call"};
      } else if (breaker && !breaker->allow()) {
        RpcError open(name, path, {::grpc::StatusCode::UNAVAILABLE, "circuit breaker is open"});
        open.with_header("Retry-After", std::to_string(std::max<std::int64_t>(
                                            1, (breaker->retry_after().count() + 999) / 1000)));
        count(path, ::grpc::StatusCode::UNAVAILABLE, began);
        throw open;
      } else {
        auto a = std::make_shared<Attempt>();
        a->method = path;
        a->request = serialized;  // a ByteBuffer copy shares its slices
        auto until = deadline.when();
        if (options.attempt_timeout.count() > 0)
          until = std::min(until, Clock::now() + options.attempt_timeout);
        std::optional<trace::Span> span;
        if (o.context && trace::recording(o.context->trace())) {
          span = trace::Span::child_of(o.context->trace(), path.substr(path.empty() ? 0 : 1),
                                       trace::SpanKind::client);
          span->set("rpc.system", std::string("grpc"))
              .set("rpc.method", path)
              .set("peer.service", name);
        }
        const trace::Span* traced = span ? &*span : nullptr;
        prepare(*a, o, until, traced);
        try {
          status = co_await attempt(a, response);
        } catch (...) {
          if (breaker) breaker->release();
          if (span) {  // the caller was cancelled: the try ends with it
            span->end();
            span->fail("CANCELLED");
            trace::record(*span);
          }
          throw;
        }
        if (span) {
          span->end();
          span->set("rpc.grpc.status_code", static_cast<std::int64_t>(status.error_code()));
          if (!status.ok()) span->fail(std::string(code_name(status.error_code())));
          trace::record(std::move(*span));
        }
        if (breaker)
          upstream_failed(status.error_code()) ? breaker->record_failure()
                                               : breaker->record_success();
      }
      if (status.ok() || !o.idempotent || !retryable(status.error_code()) ||
          attempt_number >= options.retry.max_attempts || deadline.expired())
        break;
      auto wait = options.retry.backoff(attempt_number);
      if (deadline.is_set() && wait >= deadline.remaining()) break;
      if (!budget.try_spend()) {
        if (budget_exhausted) budget_exhausted->increment();
        break;
      }
      if (retries) retries->increment();
      if (options.logger)
        options.logger->info("retrying call", {{"upstream", name},
                                               {"method", path},
                                               {"attempt", attempt_number + 1},
                                               {"after_ms", wait.count()},
                                               {"reason", code_name(status.error_code())}});
      if (wait.count() > 0) {
        asio::steady_timer timer(co_await asio::this_coro::executor, wait);
        co_await timer.async_wait(asio::use_awaitable);
      }
    }
    count(path, status.error_code(), began);
    if (!status.ok()) throw RpcError(name, path, status);
  }
};

Channel::Channel(std::string target, ChannelOptions options)
    : impl_(std::make_shared<Impl>(std::move(target), std::move(options))) {}

Channel::~Channel() = default;

Task<void> Channel::call(std::string_view method, const Message& request, Message& response,
                         CallOptions options) {
  auto self = impl_;  // a call in flight keeps the channel's state
  co_await self->call(method, request, response, std::move(options));
}

const std::string& Channel::name() const {
  return impl_->name;
}

CircuitBreaker::State Channel::breaker_state() const {
  return impl_->breaker ? impl_->breaker->state() : CircuitBreaker::State::closed;
}

}  // namespace svckit::grpc
