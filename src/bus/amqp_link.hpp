#pragma once
// One AMQP connection, owned by one thread. rabbitmq-c blocks and a connection must not be shared
// between threads, so each link runs its own: it connects, lets its owner declare what it needs,
// sends what is waiting, reads frames, and on any failure drops the connection and reconnects
// with backoff. I/O threads never call rabbitmq-c; they hand work over and wake the link.
#include <amqp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "amqp_message.hpp"

namespace svckit::log {
class Logger;
}

namespace svckit::bus::detail {

struct AmqpAddress {
  std::string host = "127.0.0.1";
  int port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  bool tls = false;
  std::string display;  // for logs: no password
};
inline constexpr amqp_channel_t kChannel = 1;

// amqp://user:pass@host:port/vhost (amqps:// for TLS). Throws BusError naming what is wrong.
AmqpAddress parse_amqp_url(std::string_view url);

// The connection failed or the broker closed it: the link reconnects.
class AmqpFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
void check_reply(amqp_connection_state_t conn, const char* what);  // after a synchronous call
void check_status(int status, const char* what);

// A logged-in connection with channel kChannel open; throws AmqpFailure.
amqp_connection_state_t open_connection(const AmqpAddress& address);
// Sends one message on `channel`; throws AmqpFailure.
void send_message(amqp_connection_state_t conn, amqp_channel_t channel, std::string_view exchange,
                  std::string_view routing_key, const AmqpMessage& message);
// The properties of a content header, copied out of rabbitmq-c's buffers.
AmqpMessage message_properties(const amqp_basic_properties_t& properties);

class AmqpLink {
 public:
  AmqpLink(const AmqpLink&) = delete;
  AmqpLink& operator=(const AmqpLink&) = delete;

  void start();
  // Closes the connection and joins the thread. Idempotent.
  void stop();
  // Makes the thread look at its work now instead of after its poll. Callers wake it when its
  // work goes from none to some: while work is waiting, the thread is bound to look again.
  void wake();
  bool up() const { return up_; }

 protected:
  AmqpLink(std::string name, AmqpAddress address, const log::Logger* logger);
  virtual ~AmqpLink();  // derived classes call stop() first: the hooks below must not outlive them

  // On the link's thread, each with the live connection. Throwing AmqpFailure reconnects.
  virtual void on_connected(amqp_connection_state_t conn) = 0;  // declare, consume
  // Sends what is waiting; true when some is left (the thread then reads and comes straight back).
  virtual bool pump(amqp_connection_state_t conn) = 0;
  virtual void on_frame(amqp_connection_state_t conn, const amqp_frame_t& frame) = 0;
  virtual void on_frames_read() {}  // after each read of what had come in
  // How long the thread may wait for input before pump() must run again. Bounded so that
  // heartbeats go out on an idle connection (read_frames sends them when due).
  virtual int poll_timeout_ms() const { return 1000; }
  virtual void on_lost() = 0;  // the connection is gone (also called once at stop)

  // Bumped on every new connection: work tagged with an older one (acks) is moot.
  std::uint64_t generation() const { return generation_; }
  const std::string& name() const { return name_; }
  void log_warning(std::string_view message, std::string_view error) const;

 private:
  void run();
  void serve(amqp_connection_state_t conn);
  void read_frames(amqp_connection_state_t conn);
  void wait_for_input(amqp_connection_state_t conn, bool more_to_send);
  bool sleep(std::chrono::milliseconds wait);  // false when stopping

  std::string name_;
  AmqpAddress address_;
  const log::Logger* logger_;
  int wake_fd_ = -1;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> up_{false};
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace svckit::bus::detail
