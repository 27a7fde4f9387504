#pragma once
// Consuming: the link declares every group's queues, starts one AMQP consumer per subscription
// with its prefetch window, assembles deliveries from frames and hands them over; acks and nacks
// come back from the I/O threads and go out on the next pump. An ack for a delivery of an
// earlier connection is dropped: the broker has already put that message back.
//
// Acks go out as one `basic.ack` with `multiple` for every delivery up to the oldest one still
// being handled, so the broker is told once per batch instead of once per message, and only
// after the handling. Acks behind a running handler wait for it, but never more than half of
// their consumer's prefetch window (so a slow handler cannot starve the other consumers), nor
// longer than 100 ms, nor once the bus is closing: then they go out one by one. Nacks and
// rejects go out at once.
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "amqp_link.hpp"
#include "amqp_topology.hpp"

namespace svckit::bus::detail {

struct AmqpDelivery {
  std::uint64_t generation = 0;
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string routing_key;
  AmqpMessage message;
  bool oversize = false;  // the body was over the limit and was not kept
};

class AmqpConsumer final : public AmqpLink {
 public:
  using Deliver = std::function<void(AmqpDelivery)>;
  struct Hooks {
    std::function<void(AmqpMessage)> reply;                 // a message on the reply queue
    std::function<void(bool up)> state;                     // connected or not
    std::function<void(const std::string&, double)> depth;  // a group's queue depth
    std::function<void()> delivered;  // after each read: what `Deliver` got may be handed on
  };
  AmqpConsumer(AmqpAddress address, const log::Logger* logger, std::string reply_queue,
               std::size_t max_message_bytes, Hooks hooks);
  ~AmqpConsumer() override;

  // A consumer of `group`'s queue, bound to `pattern` too. Any thread; starts on the next pump.
  // `expires_ms`: the queue's x-expires, 0 for none (SubscribeOptions::expires_unused).
  void add(const std::string& group, const std::string& pattern, std::size_t prefetch,
           std::int64_t expires_ms, Deliver deliver);
  enum class Settle { ack, requeue, reject };  // reject: to the group's dead-letter queue
  void settle(std::uint64_t generation, std::uint64_t tag, Settle how);
  // Stops every consumer; deliveries already sent still arrive.
  void cancel_all();
  std::size_t unsent_settlements() const;
  // Every subscription added so far consumes (and its queue is declared and bound).
  bool consuming() const;

 private:
  struct Subscription {
    std::string group;
    std::size_t prefetch;
    Deliver deliver;
    std::string tag;
    std::uint64_t consuming_on = 0;  // the generation it consumes on, 0 for none
    std::size_t acks_held = 0;       // link thread: handled, acknowledged, not yet sent
  };
  struct Settlement {
    std::uint64_t generation, tag;
    Settle how;
  };

  void on_connected(amqp_connection_state_t conn) override;
  bool pump(amqp_connection_state_t conn) override;
  void on_frame(amqp_connection_state_t conn, const amqp_frame_t& frame) override;
  void on_frames_read() override;
  int poll_timeout_ms() const override;
  void on_lost() override;
  void start_consumers(amqp_connection_state_t conn);
  void report_depths(amqp_connection_state_t conn);
  void finish_delivery();
  void apply(amqp_connection_state_t conn, const Settlement& settlement);
  void send_acks(amqp_connection_state_t conn);
  void release_held(std::map<std::uint64_t, Subscription*>::iterator held);

  const std::string reply_queue_;
  const std::size_t max_message_bytes_;
  Hooks hooks_;

  mutable std::mutex mutex_;
  std::map<std::string, GroupQueue> groups_;  // by group
  std::vector<std::shared_ptr<Subscription>> subscriptions_;
  std::map<std::string, std::shared_ptr<Subscription>> by_tag_;
  std::vector<Settlement> settlements_;
  bool changed_ = false;
  bool cancel_ = false;
  bool cancelled_ = false;

  // Link thread only: the deliveries not yet settled with the broker, and the one being
  // assembled from its frames.
  // Both bounded by the consumers' prefetch windows: the broker sends no more unsettled.
  // By delivery tag, to the consumer each went to.
  std::map<std::uint64_t, Subscription*> handling_;  // delivered, handler not done
  std::map<std::uint64_t, Subscription*> held_;      // handled and acked, ack not yet sent
  bool closing_ = false;                             // cancel_all() seen: nothing is held
  std::vector<std::shared_ptr<Subscription>> subscriptions_snapshot_;
  std::atomic<std::size_t> acks_held_{0};
  std::atomic<std::size_t> applying_{0};  // taken from settlements_, not yet held or sent
  std::optional<std::chrono::steady_clock::time_point> hold_started_;  // acks held since
  std::optional<AmqpDelivery> current_;
  std::shared_ptr<Subscription> current_to_;
  bool current_is_reply_ = false;
  std::uint64_t body_size_ = 0;
  std::uint64_t body_received_ = 0;
  std::chrono::steady_clock::time_point next_depth_report_{};
};

}  // namespace svckit::bus::detail
