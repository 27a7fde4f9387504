#include "svckit/grpc/server.hpp"

#include <google/protobuf/descriptor.h>
#include <grpc/grpc.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <mutex>

#include "../wakeup.hpp"
#include "grpc_metrics.hpp"
#include "server_core.hpp"
#include "svckit/blocking_pool.hpp"
#include "svckit/trace/span.hpp"

namespace svckit::grpc {
namespace detail {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// Cancels a call's coroutine from gRPC's thread (OnCancel: the client went away, its deadline
// passed, the server is shutting down). The Asio signal itself lives in the frame of
// run_cancellable() on the call's loop, which awaits the call's work: so it outlives that work by
// construction, and it is only touched on that loop. This state holds no Asio object and may be
// released on any thread. (With the signal here, bound straight to a co_spawn and released in
// gRPC's OnDone, ASan found the slot used after it was freed.)
struct Cancellation {
  std::mutex mutex;
  asio::io_context* loop = nullptr;             // where the call's coroutine runs, once it does
  asio::cancellation_signal* signal = nullptr;  // run_cancellable's, while it runs (loop only)
  bool cancelled = false;

  bool is_cancelled() {
    std::lock_guard lock(mutex);
    return cancelled;
  }
  static void cancel(const std::shared_ptr<Cancellation>& self) {
    asio::io_context* on;
    {
      std::lock_guard lock(self->mutex);
      self->cancelled = true;
      on = self->loop;
    }
    if (!on) return;  // nothing runs on a loop (yet): the coroutine looks at `cancelled` first
    asio::post(*on, [self] {
      asio::cancellation_signal* signal;
      {
        std::lock_guard lock(self->mutex);
        signal = self->signal;
      }
      if (signal) signal->emit(asio::cancellation_type::terminal);
    });
  }
};

// Runs `work` on the current loop, cancellable through `state` (see Cancellation).
Task<void> run_cancellable(std::shared_ptr<Cancellation> state, Task<void> work) {
  asio::cancellation_signal signal;
  {
    std::lock_guard lock(state->mutex);
    state->signal = &signal;
  }
  struct Unregister {
    Cancellation& state;
    ~Unregister() {
      std::lock_guard lock(state.mutex);
      state.signal = nullptr;
    }
  } unregister{*state};
  auto on = co_await asio::this_coro::executor;
  co_await asio::co_spawn(on, std::move(work),
                          asio::bind_cancellation_slot(signal.slot(), asio::use_awaitable));
}

// Starts `work` on `loop` for a call whose cancellation state is `state`.
void spawn_cancellable(asio::io_context& loop, const std::shared_ptr<Cancellation>& state,
                       Task<void> work) {
  {
    std::lock_guard lock(state->mutex);
    state->loop = &loop;
  }
  asio::co_spawn(loop, run_cancellable(state, std::move(work)), asio::detached);
}

[[noreturn]] void throw_cancelled() {
  throw StatusError(::grpc::StatusCode::CANCELLED, "the call was cancelled");
}

// What a call that threw answers. A call the client cancelled (or whose deadline passed) is not
// the handler's failure: whatever its awaits threw then, it is CANCELLED and not logged as one.
::grpc::Status status_after_failure(const Call& call, const MethodEntry& method,
                                    const std::exception_ptr& error, bool cancelled) {
  if (cancelled) return {::grpc::StatusCode::CANCELLED, "the call was cancelled"};
  std::string detail;
  auto status = status_for(error, &detail);
  if (!detail.empty())
    call.log(log::Level::error, "gRPC handler failed",
             {{"method", method.info.path}, {"error", detail}});
  return status;
}

// A request's bytes as `into`'s message type; INVALID_ARGUMENT naming the type when they are not.
// Read in place: a ProtoBufferReader only reads the buffer gRPC owns (a copy for Deserialize,
// which consumes its buffer, cost a buffer made and destroyed per call).
[[noreturn]] void throw_unparsed(const Message& request) {
  throw StatusError(::grpc::StatusCode::INVALID_ARGUMENT,
                    "the request is not a valid " + request.GetDescriptor()->full_name());
}

void parse(const Bytes& raw, Message& into) {
  ::grpc::ProtoBufferReader reader(const_cast<Bytes*>(&raw));
  if (!reader.status().ok() || !into.ParseFromZeroCopyStream(&reader)) throw_unparsed(into);
}

// One unary call. Runs the pipeline on gRPC's thread as far as it can without waiting, then
// (if something must wait) on an I/O loop; deleted by gRPC's OnDone.
class UnaryCall final : public ::grpc::ServerUnaryReactor {
 public:
  UnaryCall(ServerCore& core, MethodEntry& method, const UnaryInvoke& invoke,
            ::grpc::CallbackServerContext* context, const Message& request, bool parsed,
            Message& response)
      : core_(core),
        method_(method),
        invoke_(invoke),
        request_(request),
        response_(response),
        parsed_(parsed),
        call_(*context, method.info, &core.logger),
        cancellation_(std::make_shared<Cancellation>()) {}

  void run() {
    try {
      if (!parsed_) throw_unparsed(request_);
      const auto& steps = method_.pipeline;
      for (std::size_t i = 0; i < steps.size(); ++i)
        if (auto wait = steps[i]->before(call_)) return later(std::move(*wait), i + 1);
      if (auto wait = invoke_(call_, request_, response_))
        return later(std::move(*wait), steps.size() + 1);
      finish(::grpc::Status::OK);
    } catch (...) {
      fail(std::current_exception());
    }
  }

  void OnCancel() override { Cancellation::cancel(cancellation_); }
  // In the call's arena (start_unary), as gRPC's own reactors are: no delete, only the destructor.
  void OnDone() override { this->~UnaryCall(); }
  // Both reactions are trivial (a destructor, a post), so gRPC may run them on the thread that
  // finishes the call, as it does for its own DefaultReactor. Otherwise it hands every OnDone to
  // its executor threads: a thread switch per call, 8 us of CPU and a third of the throughput of
  // a unary call on this machine (benchmarks/grpc_load.py).
  bool InternalInlineable() override { return true; }

 private:
  // The rest of the call on an I/O loop: `wait`, then the steps from `next` (the handler is step
  // pipeline.size()).
  void later(Task<void> wait, std::size_t next) {
    spawn_cancellable(core_.next_loop(), cancellation_, resume(this, std::move(wait), next));
  }

  static Task<void> resume(UnaryCall* self, Task<void> wait, std::size_t next) {
    try {
      if (self->cancellation_->is_cancelled()) throw_cancelled();
      co_await std::move(wait);
      const auto& steps = self->method_.pipeline;
      for (std::size_t i = next; i < steps.size(); ++i)
        if (auto more = steps[i]->before(self->call_)) co_await std::move(*more);
      if (next <= steps.size())
        if (auto more = self->invoke_(self->call_, self->request_, self->response_))
          co_await std::move(*more);
      if (self->cancellation_->is_cancelled()) throw_cancelled();
      self->finish(::grpc::Status::OK);
    } catch (...) {
      self->fail(std::current_exception());
    }
  }

  void fail(const std::exception_ptr& error) {
    finish(status_after_failure(call_, method_, error, cancellation_->is_cancelled()));
  }

  // The last thing this object does: gRPC may delete it as soon as Finish is called.
  void finish(const ::grpc::Status& status) {
    core_.finished(call_, method_, status, call_.received_at());
    Finish(status);
  }

  ServerCore& core_;
  MethodEntry& method_;
  const UnaryInvoke& invoke_;
  const Message& request_;
  Message& response_;
  bool parsed_;
  Call call_;
  std::shared_ptr<Cancellation> cancellation_;
};

// One server-streaming call: the pipeline and the handler on an I/O loop; each write serialised
// and handed to gRPC, the next awaited until gRPC is done with it. Deleted by gRPC's OnDone.
class StreamCall final : public ::grpc::ServerWriteReactor<Bytes>, public StreamSink {
 public:
  StreamCall(ServerCore& core, MethodEntry& method, const StreamInvoke& invoke,
             ::grpc::CallbackServerContext* context, std::unique_ptr<Message> request)
      : core_(core),
        method_(method),
        invoke_(invoke),
        request_(std::move(request)),
        call_(*context, method.info, &core.logger),
        cancellation_(std::make_shared<Cancellation>()),
        writes_(std::make_shared<Writes>()) {}

  void run(const Bytes& raw) {
    try {
      parse(raw, *request_);
      const auto& steps = method_.pipeline;
      std::optional<Task<void>> wait;
      std::size_t next = 0;
      for (; next < steps.size() && !wait; ++next) wait = steps[next]->before(call_);
      spawn_cancellable(core_.next_loop(), cancellation_, body(this, std::move(wait), next));
    } catch (...) {
      finish(status_after_failure(call_, method_, std::current_exception(), false));
    }
  }

  Task<bool> write(std::unique_ptr<Message> message) override {
    auto w = writes_;
    auto wrote = svckit::detail::Wakeup::on(co_await asio::this_coro::executor);
    {
      std::lock_guard lock(w->mutex);
      if (w->over || w->pending) co_return false;  // over, or a write not awaited
      bool own = false;
      w->buffer.Clear();  // gRPC is done with the last one (OnWriteDone); Serialize wants it empty
      if (!::grpc::SerializationTraits<Message>::Serialize(*message, &w->buffer, &own).ok())
        throw StatusError(::grpc::StatusCode::INTERNAL, "a message could not be serialised");
      w->pending = true;
      w->wrote = wrote;
    }
    StartWrite(&w->buffer);
    co_await wrote->wait();
    std::lock_guard lock(w->mutex);
    if (w->ok) core_.sent(method_);
    co_return w->ok;
  }

  void OnWriteDone(bool ok) override {
    std::shared_ptr<svckit::detail::Wakeup> wrote;
    {
      std::lock_guard lock(writes_->mutex);
      writes_->pending = false;
      writes_->ok = ok;
      if (!ok) writes_->over = true;
      wrote = std::move(writes_->wrote);
    }
    if (wrote) wrote->fire();
  }
  void OnCancel() override {
    {
      std::lock_guard lock(writes_->mutex);
      writes_->over = true;
    }
    Cancellation::cancel(cancellation_);
  }
  void OnDone() override { delete this; }
  // Every reaction is trivial (a fire, a post, a delete): see UnaryCall.
  bool InternalInlineable() override { return true; }

 private:
  struct Writes {
    std::mutex mutex;
    Bytes buffer;  // the message gRPC is sending
    bool pending = false;
    bool ok = false;
    bool over = false;  // cancelled, or a write failed: nothing more goes out
    std::shared_ptr<svckit::detail::Wakeup> wrote;
  };

  static Task<void> body(StreamCall* self, std::optional<Task<void>> wait, std::size_t next) {
    auto& cancellation = *self->cancellation_;  // lives until OnDone, after finish()
    ::grpc::Status status = ::grpc::Status::OK;
    try {
      if (cancellation.is_cancelled()) throw_cancelled();
      if (wait) co_await std::move(*wait);
      const auto& steps = self->method_.pipeline;
      for (std::size_t i = next; i < steps.size(); ++i)
        if (auto more = steps[i]->before(self->call_)) co_await std::move(*more);
      co_await self->invoke_(self->call_, *self->request_, *self);
      if (cancellation.is_cancelled()) throw_cancelled();
    } catch (...) {
      status = status_after_failure(self->call_, self->method_, std::current_exception(),
                                    cancellation.is_cancelled());
    }
    self->finish(status);  // the last use of `self`: OnDone may delete it now
  }

  void finish(const ::grpc::Status& status) {
    core_.finished(call_, method_, status, call_.received_at());
    Finish(status);
  }

  ServerCore& core_;
  MethodEntry& method_;
  const StreamInvoke& invoke_;
  std::unique_ptr<Message> request_;
  Call call_;
  std::shared_ptr<Cancellation> cancellation_;
  std::shared_ptr<Writes> writes_;
};

}  // namespace

::grpc::ServerUnaryReactor* start_unary(ServerCore& core, MethodEntry& method,
                                        const UnaryInvoke& invoke,
                                        ::grpc::CallbackServerContext* context,
                                        const Message& request, bool parsed, Message& response) {
  void* memory = grpc_call_arena_alloc(context->c_call(), sizeof(UnaryCall));
  auto* call = new (memory) UnaryCall(core, method, invoke, context, request, parsed, response);
  call->run();
  return call;
}

::grpc::ServerWriteReactor<Bytes>* start_stream(ServerCore& core, MethodEntry& method,
                                                const StreamInvoke& invoke,
                                                ::grpc::CallbackServerContext* context,
                                                const Bytes* raw,
                                                std::unique_ptr<Message> request) {
  auto* call = new StreamCall(core, method, invoke, context, std::move(request));
  call->run(*raw);
  return call;
}

// --- the core ----------------------------------------------------------------------------------

namespace {

template <class T>
T& required(T* part, const char* name) {
  if (!part) throw std::logic_error(std::string("the gRPC server needs its ") + name);
  return *part;
}

}  // namespace

ServerCore::ServerCore(ServerParts parts, ServerOptions o)
    : options(std::move(o)),
      loops(std::move(parts.loops)),
      logger(required(parts.logger, "logger")),
      ready(std::move(parts.ready)),
      blocking(required(parts.blocking, "blocking pool")),
      metrics(parts.meter ? std::make_unique<GrpcMetrics>(*parts.meter) : nullptr) {
  if (loops.empty()) throw std::logic_error("the gRPC server needs at least one I/O loop");
}

ServerCore::~ServerCore() = default;

asio::io_context& ServerCore::next_loop() {
  return *loops[next_loop_.fetch_add(1, std::memory_order_relaxed) % loops.size()];
}

// A SERVER span named by the method ("aether.ai.v1.Chat/Complete"), as OpenTelemetry's RPC
// conventions have it.
void ServerCore::record_span(Call& call, const MethodEntry& method, const ::grpc::Status& status,
                             Clock::time_point started) noexcept {
  try {
    const auto& path = method.info.path;  // "/package.Service/Method"
    auto span = trace::Span::of(call.context().trace(), path.substr(path.empty() ? 0 : 1),
                                trace::SpanKind::server);
    span.end_unix_nano = span.start_unix_nano;
    span.start_unix_nano -= static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
    span.set("rpc.system", std::string("grpc"))
        .set("rpc.method", std::string(path))
        .set("rpc.grpc.status_code", static_cast<std::int64_t>(status.error_code()));
    if (!status.ok()) span.fail(std::string(code_name(status.error_code())));
    trace::record(std::move(span));
  } catch (...) {  // a span is not worth a call
  }
}

void ServerCore::finished(Call& call, const MethodEntry& method, const ::grpc::Status& status,
                          Clock::time_point started) noexcept {
  for (auto it = method.pipeline.rbegin(); it != method.pipeline.rend(); ++it)
    (*it)->after(call, status);
  // The request id goes back on a call that failed (the one whose id a client quotes). Not on
  // every call: metadata with a value new each call cost 13% of a unary call's throughput in
  // gRPC 1.51 (its HPACK encoder indexes every new value), initial or trailing alike.
  if (!status.ok()) {
    try {
      call.server_context().AddTrailingMetadata("x-request-id", call.request_id());
    } catch (...) {
    }
  }
  if (trace::recording(call.context().trace())) record_span(call, method, status, started);
  if (!logger.enabled(log::Level::info)) return;
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  try {
    call.log(log::Level::info, "rpc",
             {{"method", method.info.path},
              {"grpc_code", code_name(status.error_code())},
              {"duration_ms", static_cast<double>(static_cast<std::int64_t>(ms * 1000)) / 1000}});
  } catch (...) {  // a log line is not worth a call
  }
}

void ServerCore::sent(const MethodEntry& method) noexcept {
  if (metrics) metrics->sent(method.info);
}

}  // namespace detail

// --- ServiceBuilder ----------------------------------------------------------------------------

detail::MethodEntry& ServiceBuilder::add(std::string_view method, bool server_streaming,
                                         const google::protobuf::Descriptor* request,
                                         const google::protobuf::Descriptor* response,
                                         const MethodOptions& options) {
  auto& core = *core_;
  if (core.started) throw std::logic_error("gRPC methods must be added before the App runs");
  auto& service = core.services[service_];
  const auto* described =
      google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service.name);
  const auto* m = described->FindMethodByName(std::string(method));
  auto refuse = [&](const std::string& why) {
    throw std::logic_error("gRPC method " + service.name + "/" + std::string(method) + ": " + why);
  };
  if (!m) refuse("the .proto declares no such method");
  if (m->input_type() != request || m->output_type() != response)
    refuse("the .proto says " + m->input_type()->full_name() + " -> " +
           m->output_type()->full_name() + ", registered with " + request->full_name() + " -> " +
           response->full_name());
  if (m->client_streaming() || m->server_streaming() != server_streaming)
    refuse(std::string("the .proto declares it ") + (m->client_streaming()   ? "client-streaming"
                                                     : m->server_streaming() ? "server-streaming"
                                                                             : "unary"));
  for (const auto& e : core.methods)
    if (e.service == &service && e.info.name == method) refuse("added twice");

  auto& entry = core.methods.emplace_back();
  entry.info.service = service.name;
  entry.info.name = std::string(method);
  entry.info.path = "/" + service.name + "/" + entry.info.name;
  entry.info.type = server_streaming ? "server_stream" : "unary";
  entry.info.permission = options.permission;
  entry.service = &service;
  entry.index = service.impl->add(entry.info.path.c_str(),
                                  server_streaming ? ::grpc::internal::RpcMethod::SERVER_STREAMING
                                                   : ::grpc::internal::RpcMethod::NORMAL_RPC);
  return entry;
}

void ServiceBuilder::set_handler(detail::MethodEntry& entry,
                                 ::grpc::internal::MethodHandler* handler) {
  entry.service->impl->set_handler(entry.index, handler);
}

void ServiceBuilder::set_raw_handler(detail::MethodEntry& entry,
                                     ::grpc::internal::MethodHandler* handler) {
  entry.service->impl->set_raw_handler(entry.index, handler);
}

// --- Server ------------------------------------------------------------------------------------

Server::Server(ServerParts parts, ServerOptions options)
    : core_(std::make_shared<detail::ServerCore>(std::move(parts), std::move(options))) {}

Server::~Server() {
  if (core_->server) core_->server->Shutdown(std::chrono::system_clock::now());
}

ServiceBuilder Server::service(std::string full_name, std::shared_ptr<Interceptor> authentication) {
  auto& core = *core_;
  if (core.started) throw std::logic_error("gRPC services must be added before the App runs");
  if (!google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(full_name))
    throw std::logic_error("gRPC service " + full_name +
                           ": no compiled .proto declares it (is its library linked?)");
  for (std::size_t i = 0; i < core.services.size(); ++i)
    if (core.services[i].name == full_name) {
      if (authentication)
        throw std::logic_error("gRPC service " + full_name + ": its authentication is set already");
      return ServiceBuilder(core_, i);
    }
  auto& entry = core.services.emplace_back();
  entry.name = full_name;
  entry.impl = std::make_unique<detail::ServiceImpl>();
  entry.authentication = std::move(authentication);
  return ServiceBuilder(core_, core.services.size() - 1);
}

void Server::use(std::shared_ptr<Interceptor> interceptor) {
  if (core_->started) throw std::logic_error("gRPC interceptors must be added before the App runs");
  core_->interceptors.push_back(std::move(interceptor));
}

std::uint16_t Server::port() const {
  return static_cast<std::uint16_t>(core_->bound_port);
}

void Server::start() {
  auto& core = *core_;
  detail::add_health_service(*this, core);
  core.started = true;
  for (auto& m : core.methods) {
    if (core.metrics) {
      core.metrics->add(m.info);
      m.pipeline.push_back(core.metrics.get());
    }
    if (m.service->authentication) m.pipeline.push_back(m.service->authentication.get());
    for (const auto& i : core.interceptors) m.pipeline.push_back(i.get());
  }
  if (core.options.reflection) {
    static std::once_flag once;  // a process-wide plugin: every builder after this gets it
    std::call_once(once, [] { ::grpc::reflection::InitProtoReflectionServerBuilderPlugin(); });
  }
  ::grpc::ServerBuilder builder;
  std::string address = core.options.host + ":" + std::to_string(core.options.port);
  builder.AddListeningPort(address, ::grpc::InsecureServerCredentials(), &core.bound_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(core.options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(core.options.max_message_bytes));
  for (auto& s : core.services) builder.RegisterService(s.impl.get());
  core.server = builder.BuildAndStart();
  if (!core.server || core.bound_port == 0)
    throw std::runtime_error("cannot listen for gRPC on " + address);
  std::string host = core.options.host == "0.0.0.0" ? "127.0.0.1" : core.options.host;
  core.logger.info("gRPC listening", {{"grpc_port", core.bound_port},
                                      {"services", static_cast<std::int64_t>(core.services.size())},
                                      {"url", host + ":" + std::to_string(core.bound_port)}});
}

Task<void> Server::drain(std::chrono::milliseconds timeout) {
  auto core = core_;
  core->draining = true;
  if (!core->server) co_return;
  auto deadline = std::chrono::system_clock::now() + timeout;
  // Refuses new calls at once; calls in flight get until the deadline, then are cancelled. A
  // named lambda (docs/architecture.md: GCC 12 destroys one written inside co_await twice).
  auto shutdown = [server = core->server.get(), deadline] { server->Shutdown(deadline); };
  try {
    co_await core->blocking.run(shutdown);
  } catch (const std::exception& e) {
    core->logger.error("gRPC drain failed", {{"error", e.what()}});
  }
  core->logger.info("gRPC drained");
}

}  // namespace svckit::grpc
