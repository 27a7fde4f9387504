#pragma once
// Long-lived connections by key (a user id, a room), to send to all of a key's connections or to
// every connection, from any thread: WebSocketHub for WebSockets, EventStreamHub for server-sent
// event streams.
//
//   auto member = hub.join(ws.context().user_id(), ws);   // leaves when `member` goes
//   while (auto message = co_await ws.receive()) ...
//   ...
//   hub.send_to("user-7", std::make_shared<const std::string>(R"({"kind":"ping"})"));
//
// A send posts once per loop for all of that loop's connections, and the text is shared, not
// copied per connection; each connection's own send queue bounds what a slow one holds.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "svckit/http/event_stream.hpp"
#include "svckit/http/websocket.hpp"

namespace svckit::http {

// `Channel` is a shared handle (WebSocket, EventStream) with a static
// send_all(const std::vector<Channel>&, const std::shared_ptr<const std::string>&).
template <class Channel>
class Hub {
 public:
  using Text = std::shared_ptr<const std::string>;

  // Removes its connection from the hub when destroyed or left.
  class Membership {
   public:
    Membership() = default;
    Membership(Hub* hub, std::string key, Channel channel)
        : hub_(hub), key_(std::move(key)), channel_(std::move(channel)) {}
    Membership(Membership&& other) noexcept
        : hub_(std::exchange(other.hub_, nullptr)),
          key_(std::move(other.key_)),
          channel_(std::move(other.channel_)) {}
    Membership& operator=(Membership&& other) noexcept {
      if (this != &other) {
        leave();
        hub_ = std::exchange(other.hub_, nullptr);
        key_ = std::move(other.key_);
        channel_ = std::move(other.channel_);
      }
      return *this;
    }
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    ~Membership() { leave(); }

    void leave() {
      if (auto* hub = std::exchange(hub_, nullptr); hub && channel_) hub->remove(key_, *channel_);
      channel_.reset();
    }

   private:
    Hub* hub_ = nullptr;
    std::string key_;
    std::optional<Channel> channel_;
  };

  Hub() = default;
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  [[nodiscard]] Membership join(std::string key, Channel channel) {
    {
      std::lock_guard lock(mutex_);
      by_key_[key].push_back(channel);
      ++count_;
    }
    return Membership(this, std::move(key), std::move(channel));
  }

  // Queues `text` on every connection of `key`; how many were open to take it.
  std::size_t send_to(std::string_view key, const Text& text) {
    std::vector<Channel> targets;
    {
      std::lock_guard lock(mutex_);
      auto it = by_key_.find(std::string(key));
      if (it == by_key_.end()) return 0;
      targets = it->second;
    }
    return Channel::send_all(targets, text);
  }

  // Queues `text` on every connection; how many were open to take it.
  std::size_t broadcast(const Text& text) {
    std::vector<Channel> targets;
    {
      std::lock_guard lock(mutex_);
      targets.reserve(count_);
      for (const auto& [key, list] : by_key_)
        targets.insert(targets.end(), list.begin(), list.end());
    }
    return Channel::send_all(targets, text);
  }

  std::size_t connections() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::size_t connections(std::string_view key) const {
    std::lock_guard lock(mutex_);
    auto it = by_key_.find(std::string(key));
    return it == by_key_.end() ? 0 : it->second.size();
  }

 private:
  void remove(const std::string& key, const Channel& channel) {
    std::lock_guard lock(mutex_);
    auto it = by_key_.find(key);
    if (it == by_key_.end()) return;
    auto& list = it->second;
    auto found = std::find(list.begin(), list.end(), channel);
    if (found == list.end()) return;
    *found = std::move(list.back());  // order does not matter: swap out
    list.pop_back();
    --count_;
    if (list.empty()) by_key_.erase(it);
  }

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Channel>> by_key_;
  std::size_t count_ = 0;
};

using WebSocketHub = Hub<WebSocket>;
using EventStreamHub = Hub<EventStream>;

}  // namespace svckit::http
