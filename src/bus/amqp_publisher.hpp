#pragma once
// Publishing with publisher confirms, pipelined: the link sends whatever is queued without
// waiting, and each send() completes when the broker's ack for it comes back. After a lost
// connection, everything unconfirmed is sent again first (the broker may have it already:
// consumers de-duplicate). Queued plus unconfirmed is bounded; beyond it, send() waits.
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "../wakeup.hpp"
#include "amqp_link.hpp"

namespace svckit::bus::detail {

using svckit::detail::Wakeup;

class AmqpPublisher final : public AmqpLink {
 public:
  AmqpPublisher(AmqpAddress address, const log::Logger* logger, std::size_t max_pending,
                std::function<void(bool up)> on_state);
  ~AmqpPublisher() override;

  // Completes once the broker confirmed `message`. Throws BusError when the broker refused it
  // or the publisher was abandoned first.
  Task<void> send(std::string exchange, std::string routing_key, AmqpMessage message);
  // Queued and unconfirmed messages.
  std::size_t pending() const;
  // Fails every queued and unconfirmed send (at close, when the drain ran out of time).
  void abandon(const std::string& reason);

 private:
  struct Outgoing {
    std::string exchange;
    std::string routing_key;
    AmqpMessage message;
    std::shared_ptr<Wakeup> done;
  };

  void on_connected(amqp_connection_state_t conn) override;
  bool pump(amqp_connection_state_t conn) override;
  void on_frame(amqp_connection_state_t conn, const amqp_frame_t& frame) override;
  void on_lost() override;
  void settle(std::uint64_t tag, bool multiple, const std::string& error);
  void wake_waiters_locked();

  const std::size_t max_pending_;
  std::function<void(bool)> on_state_;
  mutable std::mutex mutex_;
  std::deque<Outgoing> queued_;
  // In the order sent: the front's delivery tag is first_unconfirmed_, the rest follow one by one
  // (tags are dense on a channel). A confirmed one in the middle has no `done` left.
  std::deque<Outgoing> unconfirmed_;
  std::uint64_t first_unconfirmed_ = 1;
  std::vector<std::shared_ptr<Wakeup>> waiting_for_room_;
};

}  // namespace svckit::bus::detail
