#pragma once
// What every transport carries for the work one request starts: its request id, its trace, its
// deadline, who it acts for and where its log lines go. An HTTP request, a gRPC call and a bus
// delivery each have one (http::Request::context(), grpc::Call::context(), bus::Event's
// context()); the HTTP client, the gRPC channel and the bus take one, so a call or an event made
// while serving a request carries that request's id, trace and deadline on whatever transport
// it leaves by. The base layer: it knows no transport.
#include <any>
#include <chrono>
#include <string>
#include <string_view>
#include <typeindex>
#include <utility>
#include <vector>

#include "svckit/log/logger.hpp"
#include "svckit/resilience/deadline.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit {

class Context {
 public:
  Context() = default;
  Context(std::string request_id, trace::TraceContext trace, const log::Logger* logger = nullptr)
      : request_id_(std::move(request_id)), trace_(std::move(trace)), logger_(logger) {}

  // The id the request came with, or its trace id when it came without a usable one.
  const std::string& request_id() const {
    return request_id_.empty() ? trace_.trace_id : request_id_;
  }
  const trace::TraceContext& trace() const { return trace_; }
  // When the caller stops waiting; unset when it said nothing. Bounds every call made with this
  // context, and travels with them.
  Deadline deadline() const { return deadline_; }
  void set_deadline(Deadline deadline) { deadline_ = deadline; }
  // Who the work acts for, once authenticated (the principal's id); empty when anonymous.
  const std::string& user_id() const { return user_id_; }
  void set_user_id(std::string user_id) { user_id_ = std::move(user_id); }
  const log::Logger* logger() const { return logger_; }
  // When the work began (a request's arrival), for its latency; the epoch when nobody said.
  std::chrono::steady_clock::time_point started_at() const { return started_at_; }
  void set_started_at(std::chrono::steady_clock::time_point when) { started_at_ = when; }

  // Logs with the context's fields attached: request_id, trace_id and user_id when known.
  void log(log::Level level, std::string_view message, log::Fields fields = {}) const;

  // Typed attachments: one value per type. Policies keep their per-request state here without
  // the transport knowing of them (auth's principal: auth::principal(context)).
  template <class T>
  void attach(T value) {
    for (auto& [type, any] : attachments_)
      if (type == typeid(T)) {
        any = std::move(value);
        return;
      }
    attachments_.emplace_back(typeid(T), std::move(value));
  }
  template <class T>
  const T* attached() const {
    for (auto& [type, any] : attachments_)
      if (type == typeid(T)) return std::any_cast<T>(&any);
    return nullptr;
  }

  // Who made it sets these (the server for a request, the bus for a delivery).
  void set_request(std::string request_id, trace::TraceContext trace, const log::Logger* logger) {
    request_id_ = std::move(request_id);
    trace_ = std::move(trace);
    logger_ = logger;
  }

 private:
  std::string request_id_;
  trace::TraceContext trace_;
  Deadline deadline_;
  std::string user_id_;
  const log::Logger* logger_ = nullptr;
  std::chrono::steady_clock::time_point started_at_{};
  std::vector<std::pair<std::type_index, std::any>> attachments_;
};

}  // namespace svckit
