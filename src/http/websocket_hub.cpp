#include "svckit/http/websocket_hub.hpp"

#include <algorithm>

namespace svckit::http {

WebSocketHub::Membership& WebSocketHub::Membership::operator=(Membership&& other) noexcept {
  if (this != &other) {
    leave();
    hub_ = std::exchange(other.hub_, nullptr);
    key_ = std::move(other.key_);
    ws_ = std::move(other.ws_);
  }
  return *this;
}

void WebSocketHub::Membership::leave() {
  if (auto* hub = std::exchange(hub_, nullptr); hub && ws_) hub->leave(key_, *ws_);
  ws_.reset();
}

WebSocketHub::Membership WebSocketHub::join(std::string key, WebSocket ws) {
  {
    std::lock_guard lock(mutex_);
    by_key_[key].push_back(ws);
    ++count_;
  }
  return Membership(this, std::move(key), std::move(ws));
}

void WebSocketHub::leave(const std::string& key, const WebSocket& ws) {
  std::lock_guard lock(mutex_);
  auto it = by_key_.find(key);
  if (it == by_key_.end()) return;
  auto& list = it->second;
  auto found = std::find(list.begin(), list.end(), ws);
  if (found == list.end()) return;
  *found = std::move(list.back());  // order does not matter: swap out
  list.pop_back();
  --count_;
  if (list.empty()) by_key_.erase(it);
}

std::size_t WebSocketHub::send_to(std::string_view key, const WebSocket::Shared& message) {
  std::vector<WebSocket> targets;
  {
    std::lock_guard lock(mutex_);
    auto it = by_key_.find(std::string(key));
    if (it == by_key_.end()) return 0;
    targets = it->second;
  }
  return WebSocket::send_all(targets, message);
}

std::size_t WebSocketHub::broadcast(const WebSocket::Shared& message) {
  std::vector<WebSocket> targets;
  {
    std::lock_guard lock(mutex_);
    targets.reserve(count_);
    for (const auto& [key, list] : by_key_) targets.insert(targets.end(), list.begin(), list.end());
  }
  return WebSocket::send_all(targets, message);
}

std::size_t WebSocketHub::connections() const {
  std::lock_guard lock(mutex_);
  return count_;
}

std::size_t WebSocketHub::connections(std::string_view key) const {
  std::lock_guard lock(mutex_);
  auto it = by_key_.find(std::string(key));
  return it == by_key_.end() ? 0 : it->second.size();
}

}  // namespace svckit::http
