#pragma once
// svckit's gRPC server (the gRPC++ callback API), hosted by an App beside its HTTP server on
// GRPC_PORT (svckit/app/grpc.hpp): one lifecycle (it starts before the modules and drains beside
// HTTP at shutdown), the same config, log lines, metrics and authentication (svckit/auth/grpc.hpp).
//
//   auto& rpc = svckit::grpc::server(app);
//   auto ai = rpc.service("AIGateway",
//                         svckit::auth::grpc_authentication(svckit::bearer_options_from_settings(app)));
//   ai.unary<ChatRequest, ChatResponse>("Chat", [&](Call& call, const ChatRequest& req)
//                                                   -> Reply<ChatResponse> { ... },
//                                       {.permission = "ai:chat"});
//   ai.server_streaming<ChatRequest, ChatResponse>("StreamChat",
//       [&](Call& call, const ChatRequest& req, Writer<ChatResponse>& out) -> Task<void> { ... });
//
// Methods are registered by name and checked against the compiled .proto files (the descriptor
// pool): a name, a message type or a streaming kind the .proto does not declare stops start-up.
// Every call gets, before its handler:
//   - its request id (`x-request-id` metadata when sane, else the trace id; sent back in the
//     trailing metadata of a call that fails), `traceparent`/`tracestate` continued, the client's
//     deadline;
//   - grpc_server_started_total / _handled_total{grpc_code} / _handling_seconds (and
//     _msg_received_total / _msg_sent_total), labelled grpc_service, grpc_method, grpc_type;
//   - the service's authentication when it has one (an interceptor: auth::grpc_authentication
//     reads `authorization: Bearer <jwt>` or the API key metadata through the same
//     auth::Authenticator as HTTP, then checks the method's permission);
//   - the service's own interceptors (use()).
// and after it one log line (INFO), like HTTP's access line. What a handler throws answers the
// call (status.hpp). The standard grpc.health.v1.Health service answers from the readiness
// it is given (the App's), and server reflection (grpc.reflection.v1alpha) describes every service.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/codegen/server_callback_handlers.h>
#include <grpcpp/impl/service_type.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include "svckit/grpc/call.hpp"
#include "svckit/grpc/interceptor.hpp"
#include "svckit/grpc/reply.hpp"
#include "svckit/grpc/status.hpp"
#include "svckit/grpc/writer.hpp"
#include "svckit/hosted_server.hpp"
#include "svckit/task.hpp"

namespace boost::asio {
class io_context;
}
namespace svckit {
class BlockingPool;
}
namespace svckit::log {
class Logger;
}
namespace svckit::meter {
class Meter;
}

namespace svckit::grpc {

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 50051;  // 0: a free port, logged (port() tells which)
  std::size_t max_message_bytes = 4 << 20;
  bool reflection = true;
  // How often a health Watch looks at readiness again.
  std::chrono::milliseconds health_watch_interval{1000};
};

// What the server runs on, lent by its host (svckit/app/grpc.hpp lends the App's).
struct ServerParts {
  std::vector<boost::asio::io_context*> loops;  // async handlers continue here, round-robin
  const log::Logger* logger = nullptr;          // required
  meter::Meter* meter = nullptr;                // grpc_server_*; none when null
  BlockingPool* blocking = nullptr;             // required: drain waits on it
  // What grpc.health.v1.Health answers: SERVING when true. None: always SERVING.
  std::function<Task<bool>()> ready;
};

struct MethodOptions {
  std::string permission;  // needed besides authentication (auth::Principal::has); empty: none
};

namespace detail {

using Message = google::protobuf::Message;
class ServerCore;
struct MethodEntry;

// A unary handler with its message types erased: fills `response` now (nullopt) or returns the
// Task that will.
using UnaryInvoke = std::function<std::optional<Task<void>>(Call&, const Message&, Message&)>;
using StreamInvoke = std::function<Task<void>(Call&, const Message&, StreamSink&)>;

// A request as gRPC parsed it, and whether it could. gRPC's typed handlers answer a request that
// does not parse with an empty UNIMPLEMENTED and never reach the handler; through Parsed (its
// SerializationTraits below always succeed) svckit answers INVALID_ARGUMENT naming the type,
// while the messages still live in the call's arena and the answer is serialised once.
template <class Request>
struct Parsed {
  Request message;
  bool ok = false;
};

// A grpc::Service whose methods are added by name (what generated code does for its services):
// unary ones typed (through Parsed), streaming ones as raw bytes parsed by svckit.
class ServiceImpl : public ::grpc::Service {
 public:
  int add(const char* path, ::grpc::internal::RpcMethod::RpcType type) {
    AddMethod(new ::grpc::internal::RpcServiceMethod(path, type, nullptr));
    return methods_++;
  }
  void set_handler(int index, ::grpc::internal::MethodHandler* handler) {
    MarkMethodCallback(index, handler);
  }
  void set_raw_handler(int index, ::grpc::internal::MethodHandler* handler) {
    MarkMethodRawCallback(index, handler);
  }

 private:
  int methods_ = 0;
};

using Bytes = ::grpc::ByteBuffer;

// Runs one unary call (on gRPC's thread, then on an I/O loop if it must wait). The reactor lives
// in the call's arena and is destroyed when gRPC is done with it.
::grpc::ServerUnaryReactor* start_unary(ServerCore& core, MethodEntry& method,
                                        const UnaryInvoke& invoke,
                                        ::grpc::CallbackServerContext* context,
                                        const Message& request, bool parsed, Message& response);
// Runs one server-streaming call on an I/O loop.
::grpc::ServerWriteReactor<Bytes>* start_stream(ServerCore& core, MethodEntry& method,
                                                const StreamInvoke& invoke,
                                                ::grpc::CallbackServerContext* context,
                                                const Bytes* raw, std::unique_ptr<Message> request);

template <class T>
struct is_task : std::false_type {};
template <class T>
struct is_task<Task<T>> : std::true_type {};

template <class Response>
Task<void> assign_when_done(Task<Response> later, Message& out) {
  static_cast<Response&>(out) = co_await std::move(later);
}

template <class Request, class Response, class Handler>
UnaryInvoke erase_unary(Handler handler) {
  return [handler = std::move(handler)](Call& call, const Message& request,
                                        Message& response) -> std::optional<Task<void>> {
    using Result = std::invoke_result_t<Handler&, Call&, const Request&>;
    if constexpr (is_task<Result>::value) {
      return assign_when_done<Response>(handler(call, static_cast<const Request&>(request)),
                                        response);
    } else {
      Reply<Response> reply = handler(call, static_cast<const Request&>(request));
      if (!reply.ready()) return assign_when_done<Response>(std::move(reply.later()), response);
      static_cast<Response&>(response) = std::move(reply.response());
      return std::nullopt;
    }
  };
}

}  // namespace detail

class Server;

// Adds the methods of one service. Get one from Server::service().
class ServiceBuilder {
 public:
  // `handler(Call&, const Request&)` returns Reply<Response> (or Response), or is a coroutine
  // returning Task<Response> (always on an I/O loop).
  template <class Request, class Response, class Handler>
  ServiceBuilder& unary(std::string_view method, Handler handler, MethodOptions options = {}) {
    auto& entry = add(method, false, Request::descriptor(), Response::descriptor(), options);
    auto invoke = detail::erase_unary<Request, Response>(std::move(handler));
    set_handler(entry,
                new ::grpc::internal::CallbackUnaryHandler<detail::Parsed<Request>, Response>(
                    [core = core_.get(), &entry, invoke = std::move(invoke)](
                        ::grpc::CallbackServerContext* context,
                        const detail::Parsed<Request>* request, Response* response) {
                      return detail::start_unary(*core, entry, invoke, context, request->message,
                                                 request->ok, *response);
                    }));
    return *this;
  }

  // `handler(Call&, const Request&, Writer<Response>&)` is a coroutine returning Task<void>,
  // run on an I/O loop; the call ends with OK when it returns (or with what it throws).
  template <class Request, class Response, class Handler>
  ServiceBuilder& server_streaming(std::string_view method, Handler handler,
                                   MethodOptions options = {}) {
    auto& entry = add(method, true, Request::descriptor(), Response::descriptor(), options);
    detail::StreamInvoke invoke = [handler = std::move(handler)](Call& call,
                                                                 const detail::Message& request,
                                                                 StreamSink& sink) -> Task<void> {
      Writer<Response> writer(sink);
      co_await handler(call, static_cast<const Request&>(request), writer);
    };
    set_raw_handler(
        entry, new ::grpc::internal::CallbackServerStreamingHandler<detail::Bytes, detail::Bytes>(
                   [core = core_.get(), &entry, invoke = std::move(invoke)](
                       ::grpc::CallbackServerContext* context, const detail::Bytes* raw) {
                     return detail::start_stream(*core, entry, invoke, context, raw,
                                                 std::make_unique<Request>());
                   }));
    return *this;
  }

 private:
  friend class Server;
  ServiceBuilder(std::shared_ptr<detail::ServerCore> core, std::size_t service)
      : core_(std::move(core)), service_(service) {}
  detail::MethodEntry& add(std::string_view method, bool server_streaming,
                           const google::protobuf::Descriptor* request,
                           const google::protobuf::Descriptor* response,
                           const MethodOptions& options);
  void set_handler(detail::MethodEntry& entry, ::grpc::internal::MethodHandler* handler);
  void set_raw_handler(detail::MethodEntry& entry, ::grpc::internal::MethodHandler* handler);

  std::shared_ptr<detail::ServerCore> core_;
  std::size_t service_;
};

class Server : public HostedServer {
 public:
  Server(ServerParts parts, ServerOptions options);
  ~Server() override;

  // The service `full_name` ("AIGateway", "package.Service"). `authentication` runs first on
  // each of its calls (auth::grpc_authentication); without it the calls are anonymous. Throws
  // std::logic_error for a service the .proto files do not declare. Call from a Module's
  // install(), before the App runs.
  ServiceBuilder service(std::string full_name,
                         std::shared_ptr<Interceptor> authentication = nullptr);
  // Runs around every call of every service, after svckit's own interceptors.
  void use(std::shared_ptr<Interceptor> interceptor);

  // The bound port once started (the free one chosen for port 0).
  std::uint16_t port() const;

  void start() override;
  Task<void> drain(std::chrono::milliseconds timeout) override;

 private:
  std::shared_ptr<detail::ServerCore> core_;
};

}  // namespace svckit::grpc

namespace grpc {

// How gRPC reads a svckit::grpc::detail::Parsed request: always "parsed", with `ok` saying
// whether the bytes were a valid message (the handler answers INVALID_ARGUMENT when not).
template <class Request>
class SerializationTraits<svckit::grpc::detail::Parsed<Request>, void> {
 public:
  static Status Serialize(const svckit::grpc::detail::Parsed<Request>& parsed, ByteBuffer* buffer,
                          bool* own_buffer) {
    return SerializationTraits<Request>::Serialize(parsed.message, buffer, own_buffer);
  }
  static Status Deserialize(ByteBuffer* buffer, svckit::grpc::detail::Parsed<Request>* parsed) {
    parsed->ok = SerializationTraits<Request>::Deserialize(buffer, &parsed->message).ok();
    return Status::OK;
  }
};

}  // namespace grpc
