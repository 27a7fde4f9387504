#pragma once
// WebSocket (RFC 6455) routes: a coroutine per connection, on the connection's loop.
//
//   api.websocket("/ws", [](http::WebSocket ws, http::Request& upgrade) -> Task<void> {
//     while (auto message = co_await ws.receive()) ws.send("echo: " + message->data);
//   });
//
// The upgrade request goes through the group's middleware like any request, so auth::bearer
// authenticates it: from the Authorization header, or, for browsers (which cannot set headers
// on a WebSocket), from a "bearer.<token>" entry offered in Sec-WebSocket-Protocol. Never from
// the query string, which proxies log. The connection carries the request's Context (id, trace,
// user) for its whole life.
//
// Sending never waits and never grows without bound: each connection has a send queue of
// `send_queue_bytes`; a peer that lets it fill is a slow consumer and is closed with 1013 (try
// again later), counted in websocket_slow_consumers_total, while every other connection keeps
// receiving. Incoming messages over `max_message` close the connection with 1009; masking,
// UTF-8 and control-frame violations with 1002/1007 (Beast's checks). A silent peer is pinged
// at half `idle_timeout` and closed after all of it. A draining server says 1001 (going away)
// and waits for the peer's close.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/context.hpp"
#include "svckit/http/handler.hpp"
#include "svckit/task.hpp"

namespace svckit::http {

struct WebSocketOptions {
  std::size_t max_message = 1 << 20;       // an incoming message larger than this: close 1009
  std::size_t send_queue_bytes = 1 << 20;  // queued beyond this: a slow consumer, close 1013
  std::chrono::milliseconds idle_timeout{60000};  // silent this long: closed (pinged at half)
  std::chrono::milliseconds close_timeout{5000};  // for the closing handshake, then cut
  // Subprotocols the route speaks, in its order of preference; the first one the client offers
  // is chosen. Empty: the client's first offer that is not a token ("bearer.<token>") is echoed,
  // which is what a browser passing its token that way needs to complete the handshake.
  std::vector<std::string> protocols;
  // Browsers send the page's origin with an upgrade; when this is not empty, an upgrade whose
  // Origin is not listed gets 403, so that another site's page cannot open a connection with
  // the user's cookies or client certificate (cross-site WebSocket hijacking). Clients that are
  // not browsers send no Origin and are not refused for it.
  std::vector<std::string> allowed_origins;
};

// Close codes a handler may use (RFC 6455 §7.4.1).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t policy_violation = 1008;
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t internal_error = 1011;
inline constexpr std::uint16_t try_again_later = 1013;
}  // namespace close_code

namespace detail {
class WebSocketSession;  // src/http/websocket.cpp
}

// A handle on one WebSocket connection: copies share it, so a hub (hub.hpp) may keep
// one and send from any thread. It stays valid after the connection ends; sends then return
// false.
class WebSocket {
 public:
  struct Message {
    std::string data;
    bool binary = false;
  };
  // A payload many connections share (a broadcast): queued by reference, not copied.
  using Shared = std::shared_ptr<const std::string>;

  explicit WebSocket(std::shared_ptr<detail::WebSocketSession> session);

  // The next message; nullopt once the connection is closed (by either side, or failed). Call
  // it from the handler (the connection's loop), one at a time. A handler that only sends still
  // keeps a receive() waiting: it is what answers pings and sees the peer's close.
  Task<std::optional<Message>> receive();
  // Queues a text (or binary) message; from any thread. false: the connection is closed or
  // closing, or this message made it a slow consumer (then it is being closed with 1013).
  bool send(std::string text) const;
  bool send(Shared text) const;
  bool send_binary(std::string data) const;
  // Starts the closing handshake, from any thread; what is queued before it is sent first.
  void close(std::uint16_t code = close_code::normal, std::string reason = {}) const;
  bool is_open() const;

  // The upgrade request's context: request id, trace, user, logger. Read it on the
  // connection's loop.
  const Context& context() const;
  // The subprotocol chosen at the handshake; empty when none.
  const std::string& protocol() const;
  // The route's template ("/ws"), as metrics label it.
  const std::string& route() const;
  // The loop the connection lives on (a hub groups its sends by it).
  const void* loop() const;
  // The same connection.
  bool operator==(const WebSocket& other) const { return session_ == other.session_; }

  // Queues `message` on each of `sockets`, posting once per loop for all of that loop's
  // connections rather than once per connection; how many were open to take it.
  static std::size_t send_all(const std::vector<WebSocket>& sockets, const Shared& message);

 private:
  std::shared_ptr<detail::WebSocketSession> session_;
};

// Runs for the connection's life with the upgrade request (its path parameters, query, headers),
// which lives as long as the handler runs.
using WebSocketHandler = std::function<Task<void>(WebSocket, Request&)>;

// The handler of a WebSocket route: GET requests that ask to upgrade are switched and handed to
// `handler`; other requests get 426 Upgrade Required (400 for a malformed upgrade request).
// RouteGroup::websocket() registers it.
Handler websocket_route(WebSocketHandler handler, WebSocketOptions options = {});

// The token a browser offers as "bearer.<token>" in Sec-WebSocket-Protocol of an upgrade
// request, when there is one (what auth::bearer reads when there is no Authorization header).
std::optional<std::string_view> websocket_bearer_token(const Request& req);

}  // namespace svckit::http
