#include "live.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>

namespace raptorflow::notification {

class LiveDevices::Device {
 public:
  explicit Device(svckit::http::WebSocket ws) : ws_(std::move(ws)) {}

  bool send_live(const std::string& id, const svckit::http::WebSocket::Shared& text) {
    std::lock_guard lock(mutex_);
    if (catching_up_) {
      held_.emplace_back(id, text);
      return true;
    }
    if (!first_time(id)) return true;
    return ws_.send(text);
  }
  void send_missed(const std::string& id, std::string text) {
    std::lock_guard lock(mutex_);
    if (first_time(id)) ws_.send(std::move(text));
  }
  void send_now(std::string text) {
    std::lock_guard lock(mutex_);
    ws_.send(std::move(text));
  }
  void live() {
    std::lock_guard lock(mutex_);
    catching_up_ = false;
    for (auto& [id, text] : held_)
      if (first_time(id)) ws_.send(text);
    held_.clear();
    held_.shrink_to_fit();
  }

 private:
  // Whether `id` was not sent to this device lately, remembering it. A delivery sent again (a
  // replica died between publishing it and recording that) then reaches the device once.
  bool first_time(const std::string& id) {
    std::uint64_t h = std::hash<std::string>()(id) | 1;  // 0 marks an empty slot
    if (std::find(recent_.begin(), recent_.end(), h) != recent_.end()) return false;
    recent_[next_++ % recent_.size()] = h;
    return true;
  }
  std::mutex mutex_;
  svckit::http::WebSocket ws_;
  bool catching_up_ = true;
  std::array<std::uint64_t, 64> recent_{};
  std::size_t next_ = 0;
  std::vector<std::pair<std::string, svckit::http::WebSocket::Shared>> held_;
};

LiveDevices::Membership::Membership(LiveDevices& devices, std::string user,
                                    std::shared_ptr<Device> device)
    : devices_(devices), user_(std::move(user)), device_(std::move(device)) {}

LiveDevices::Membership::~Membership() {
  devices_.leave(user_, device_);
}

void LiveDevices::Membership::send_missed(const std::string& id, std::string text) {
  device_->send_missed(id, std::move(text));
}

void LiveDevices::Membership::send_now(std::string text) {
  device_->send_now(std::move(text));
}

void LiveDevices::Membership::live() {
  device_->live();
}

std::unique_ptr<LiveDevices::Membership> LiveDevices::join(std::string user,
                                                           svckit::http::WebSocket ws) {
  auto device = std::make_shared<Device>(std::move(ws));
  {
    std::lock_guard lock(mutex_);
    by_user_[user].push_back(device);
    ++count_;
  }
  return std::make_unique<Membership>(*this, std::move(user), std::move(device));
}

void LiveDevices::leave(const std::string& user, const std::shared_ptr<Device>& device) {
  std::lock_guard lock(mutex_);
  auto it = by_user_.find(user);
  if (it == by_user_.end()) return;
  auto& devices = it->second;
  auto found = std::find(devices.begin(), devices.end(), device);
  if (found == devices.end()) return;
  devices.erase(found);
  --count_;
  if (devices.empty()) by_user_.erase(it);
}

std::size_t LiveDevices::deliver(const std::string& user, const std::string& id,
                                 const svckit::http::WebSocket::Shared& text) {
  std::vector<std::shared_ptr<Device>> devices;
  {
    std::lock_guard lock(mutex_);
    auto it = by_user_.find(user);
    if (it == by_user_.end()) return 0;
    devices = it->second;
  }
  std::size_t taken = 0;
  for (auto& device : devices) taken += device->send_live(id, text);
  return taken;
}

std::size_t LiveDevices::connected() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace raptorflow::notification
