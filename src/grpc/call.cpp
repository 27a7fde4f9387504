#include "svckit/grpc/call.hpp"

#include <grpcpp/server_context.h>

#include "svckit/ids.hpp"

namespace svckit::grpc {
namespace {

std::optional<std::string_view> find(const ::grpc::CallbackServerContext& server,
                                     std::string_view key) {
  const auto& metadata = server.client_metadata();
  auto it = metadata.find(::grpc::string_ref(key.data(), key.size()));
  if (it == metadata.end()) return std::nullopt;
  return std::string_view(it->second.data(), it->second.size());
}

Deadline deadline_of(const ::grpc::CallbackServerContext& server) {
  auto when = server.deadline();
  if (when == std::chrono::system_clock::time_point::max()) return {};
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      when - std::chrono::system_clock::now());
  // A client with an absurd deadline (years) means none; a passed one means now.
  if (left > std::chrono::hours(24 * 365)) return {};
  return Deadline::after(std::max(left, std::chrono::milliseconds(0)));
}

}  // namespace

Call::Call(::grpc::CallbackServerContext& server, const MethodInfo& method,
           const log::Logger* logger)
    : server_(server), method_(method) {
  context_.set_started_at(std::chrono::steady_clock::now());
  auto trace =
      trace::TraceContext::continue_from(find(server, "traceparent"), find(server, "tracestate"));
  auto rid = find(server, "x-request-id");
  std::string request_id = rid && sane_request_id(*rid) ? std::string(*rid) : trace.trace_id;
  context_.set_request(std::move(request_id), std::move(trace), logger);
  context_.set_deadline(deadline_of(server));
}

std::optional<std::string_view> Call::metadata(std::string_view key) const {
  return find(server_, key);
}

std::string Call::peer() const {
  return server_.peer();
}

bool Call::cancelled() const {
  return server_.IsCancelled();
}

}  // namespace svckit::grpc
