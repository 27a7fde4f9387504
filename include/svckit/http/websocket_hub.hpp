#pragma once
// WebSocket connections by key (a user id, a room), to send to all of a key's connections or to
// every connection, from any thread:
//
//   auto member = hub.join(ws.context().user_id(), ws);   // leaves when `member` goes
//   while (auto message = co_await ws.receive()) ...
//   ...
//   hub.send_to("user-7", std::make_shared<const std::string>(R"({"kind":"ping"})"));
//
// A send posts once per loop for all of that loop's connections, and the text is shared, not
// copied per connection; each connection's own send queue bounds what a slow one holds.
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "svckit/http/websocket.hpp"

namespace svckit::http {

class WebSocketHub {
 public:
  // Removes its connection from the hub when destroyed.
  class Membership {
   public:
    Membership() = default;
    Membership(WebSocketHub* hub, std::string key, WebSocket ws)
        : hub_(hub), key_(std::move(key)), ws_(std::move(ws)) {}
    Membership(Membership&& other) noexcept
        : hub_(std::exchange(other.hub_, nullptr)),
          key_(std::move(other.key_)),
          ws_(std::move(other.ws_)) {}
    Membership& operator=(Membership&& other) noexcept;
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() { leave(); }
    void leave();

   private:
    WebSocketHub* hub_ = nullptr;
    std::string key_;
    std::optional<WebSocket> ws_;
  };

  WebSocketHub() = default;
  WebSocketHub(const WebSocketHub&) = delete;
  WebSocketHub& operator=(const WebSocketHub&) = delete;

  [[nodiscard]] Membership join(std::string key, WebSocket ws);
  // Queues `message` on every connection of `key`; how many took it.
  std::size_t send_to(std::string_view key, const WebSocket::Shared& message);
  // Queues `message` on every connection; how many took it.
  std::size_t broadcast(const WebSocket::Shared& message);
  std::size_t connections() const;
  std::size_t connections(std::string_view key) const;

 private:
  void leave(const std::string& key, const WebSocket& ws);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<WebSocket>> by_key_;
  std::size_t count_ = 0;
};

}  // namespace svckit::http
