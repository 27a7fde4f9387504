#pragma once
// What a unary handler returns: the response now, or a Task that produces it.
//
// Handlers are called on gRPC's own thread, and a handler that can answer without waiting
// (cached, computed, in memory) answers there: no hop to another thread, which on a small
// machine costs more than the rest of the call. One that must wait (a database, another
// service) returns a Task; it runs on one of the App's I/O loops, where svckit's clients work.
//
//   [&](Call& call, const ChatRequest& req) -> Reply<ChatResponse> {
//     if (auto hit = cache.find(req)) return *hit;   // on gRPC's thread
//     return ask_provider(call, req);                // Task<ChatResponse>: on an I/O loop
//   }
#include <utility>
#include <variant>

#include "svckit/task.hpp"

namespace svckit::grpc {

template <class Response>
class Reply {
 public:
  Reply(Response response) : state_(std::in_place_index<0>, std::move(response)) {}
  Reply(Task<Response> later) : state_(std::in_place_index<1>, std::move(later)) {}

  bool ready() const { return state_.index() == 0; }
  Response& response() { return std::get<0>(state_); }
  Task<Response>& later() { return std::get<1>(state_); }

 private:
  std::variant<Response, Task<Response>> state_;
};

}  // namespace svckit::grpc
