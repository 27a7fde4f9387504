#pragma once
// The WebSocket devices connected to this replica, by user. A notification reaches every device
// of its user here; the bus carries it to the other replicas' devices (each replica consumes
// `notification.live` in a group of its own).
//
// A device that connects first gets what it missed (from the history), then what happens live;
// what arrives live while the history is being sent waits, and no notification is sent to a
// device twice (the last 64 sent are remembered per device, by a hash of their id: a repeat comes
// from a replica that died between sending and recording, so it is recent). (WebSocketHub sends
// straight to a connection, with no such hold or memory: hub.hpp.)
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <svckit/http/websocket.hpp>

namespace raptorflow::notification {

class LiveDevices {
 public:
  class Device;
  // Removes the device when destroyed.
  class Membership {
   public:
    Membership(LiveDevices& devices, std::string user, std::shared_ptr<Device> device);
    ~Membership();
    Membership(const Membership&) = delete;
    Membership& operator=(const Membership&) = delete;
    // Sends the history's `id` now (while live ones wait).
    void send_missed(const std::string& id, std::string text);
    // A message that is not a notification (not remembered, never held back).
    void send_now(std::string text);
    // The history is sent: what waited goes out, and from now on live ones go straight.
    void live();

   private:
    LiveDevices& devices_;
    std::string user_;
    std::shared_ptr<Device> device_;
  };

  [[nodiscard]] std::unique_ptr<Membership> join(std::string user, svckit::http::WebSocket ws);
  // Sends notification `id` to every device of `user` here; how many took it.
  std::size_t deliver(const std::string& user, const std::string& id,
                      const svckit::http::WebSocket::Shared& text);
  std::size_t connected() const;

 private:
  void leave(const std::string& user, const std::shared_ptr<Device>& device);
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<Device>>> by_user_;
  std::size_t count_ = 0;
};

}  // namespace raptorflow::notification
