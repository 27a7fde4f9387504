#pragma once
// What a server-streaming handler sends its messages through.
//
//   for (auto& piece : pieces)
//     if (!co_await out.write(piece)) co_return;  // the client went away: stop
#include <memory>

#include <google/protobuf/message.h>

#include "svckit/task.hpp"

namespace svckit::grpc {

// Where a stream's messages go (the server's call); Writer is its typed face.
class StreamSink {
 public:
  virtual ~StreamSink() = default;
  // Completes when gRPC has taken the message; false when the call is over (cancelled, the
  // client gone, the deadline passed): nothing more can be written.
  virtual Task<bool> write(std::unique_ptr<google::protobuf::Message> message) = 0;
};

template <class Message>
class Writer {
 public:
  explicit Writer(StreamSink& sink) : sink_(sink) {}
  // One message at a time: await each write before the next.
  Task<bool> write(Message message) {
    return sink_.write(std::make_unique<Message>(std::move(message)));
  }

 private:
  StreamSink& sink_;
};

}  // namespace svckit::grpc
