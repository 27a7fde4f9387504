#pragma once
// Server-sent events (text/event-stream, the HTML standard's EventSource): the one-way
// alternative to a WebSocket for a browser that only listens.
//
//   api.events("/events", [&hub](http::EventStream stream, http::Request& req) -> Task<void> {
//     for (auto& missed : history.after(stream.last_event_id())) stream.send(missed);
//     auto member = hub.join(req.user_id(), stream);
//     co_await stream.closed();                       // the client went away, or close()
//   });
//
// The request passes the group's middleware (auth) like any; the answer's head goes out at
// once, then each event as it is sent. Sending never waits: a client that lets
// `send_queue_bytes` pile up is a slow consumer and is disconnected (it reconnects with
// Last-Event-ID and resumes). A comment line every `heartbeat` keeps proxies from timing the
// stream out. A draining server ends the stream; EventSource reconnects elsewhere.
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "svckit/context.hpp"
#include "svckit/http/handler.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

struct ServerEvent {
  std::string data;   // split into one "data:" line per line
  std::string event;  // the type; empty: "message"
  std::string id;     // what the client sends back as Last-Event-ID when it reconnects
  std::optional<std::chrono::milliseconds> retry;  // the client's reconnection delay
};

struct EventStreamOptions {
  std::size_t send_queue_bytes = 1 << 20;  // queued beyond this: disconnected
  std::chrono::milliseconds heartbeat{15000};
};

namespace detail {
class EventStreamSession;  // src/http/event_stream.cpp
}

// A handle on one stream; copies share it (a hub may keep one and send from any thread).
class EventStream {
 public:
  explicit EventStream(std::shared_ptr<detail::EventStreamSession> session);

  // Queues an event, from any thread; false when the stream has ended or this event made the
  // client a slow consumer (then it is being disconnected).
  bool send(const ServerEvent& event) const;
  // An event already in the wire format (format_event()), shared by many streams.
  bool send_formatted(std::shared_ptr<const std::string> text) const;
  // Ends the stream once what is queued is written; from any thread.
  void close() const;
  bool is_open() const;
  // Until the client has gone or the stream is closed. On the stream's loop.
  Task<void> closed() const;

  // The Last-Event-ID the client reconnected with; empty on a first connection.
  const std::string& last_event_id() const;
  const Context& context() const;
  const void* loop() const;
  bool operator==(const EventStream& other) const { return session_ == other.session_; }

  // Queues `text` (format_event()) on each of `streams`, one post per loop; how many were
  // open to take it.
  static std::size_t send_all(const std::vector<EventStream>& streams,
                              const std::shared_ptr<const std::string>& text);

 private:
  std::shared_ptr<detail::EventStreamSession> session_;
};

// The wire format of one event: "id:", "event:", "retry:" and "data:" lines and a blank line.
// Line breaks inside `event` and `id` (which would end the field) are dropped.
std::string format_event(const ServerEvent& event);

using EventStreamHandler = std::function<Task<void>(EventStream, Request&)>;

// The handler of an event-stream route (RouteGroup::events()).
Handler event_stream_route(EventStreamHandler handler, EventStreamOptions options = {});

}  // namespace svckit::http
