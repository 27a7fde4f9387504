#include "amqp_publisher.hpp"

#include <amqp_framing.h>

#include <boost/asio/this_coro.hpp>

#include "amqp_topology.hpp"

namespace svckit::bus::detail {
namespace {
constexpr std::size_t kBatch = 256;  // sent per pump, then acks are read
}

AmqpPublisher::AmqpPublisher(AmqpAddress address, const log::Logger* logger,
                             std::size_t max_pending, std::function<void(bool)> on_state)
    : AmqpLink("publisher", std::move(address), logger),
      max_pending_(std::max<std::size_t>(1, max_pending)),
      on_state_(std::move(on_state)) {}

AmqpPublisher::~AmqpPublisher() {
  stop();
  abandon("the bus was destroyed");
}

Task<void> AmqpPublisher::send(std::string exchange, std::string routing_key, AmqpMessage message) {
  auto executor = co_await boost::asio::this_coro::executor;
  for (;;) {  // backpressure: wait for room
    auto room = Wakeup::on(executor);
    {
      std::lock_guard lock(mutex_);
      if (queued_.size() + unconfirmed_.size() < max_pending_) break;
      waiting_for_room_.push_back(room);
    }
    co_await room->wait();
    if (!room->error().empty()) throw BusError(room->error());
  }
  auto done = Wakeup::on(executor);
  {
    std::lock_guard lock(mutex_);
    queued_.push_back({std::move(exchange), std::move(routing_key), std::move(message), done});
  }
  wake();
  co_await done->wait();
  if (!done->error().empty()) throw BusError(done->error());
}

std::size_t AmqpPublisher::pending() const {
  std::lock_guard lock(mutex_);
  return queued_.size() + unconfirmed_.size();
}

void AmqpPublisher::abandon(const std::string& reason) {
  std::deque<Outgoing> queued;
  std::map<std::uint64_t, Outgoing> unconfirmed;
  std::vector<std::shared_ptr<Wakeup>> waiters;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queued_);
    unconfirmed.swap(unconfirmed_);
    waiters.swap(waiting_for_room_);
  }
  for (auto& o : queued) o.done->fire(reason);
  for (auto& [tag, o] : unconfirmed) o.done->fire(reason);
  for (auto& w : waiters) w->fire(reason);
}

void AmqpPublisher::on_connected(amqp_connection_state_t conn) {
  amqp_confirm_select(conn, kChannel);
  check_reply(conn, "turning on publisher confirms");
  declare_exchanges(conn);
  {
    std::lock_guard lock(mutex_);
    next_tag_ = 1;
  }
  if (on_state_) on_state_(true);
}

void AmqpPublisher::pump(amqp_connection_state_t conn) {
  std::deque<Outgoing> batch;
  {
    std::lock_guard lock(mutex_);
    while (!queued_.empty() && batch.size() < kBatch) {
      batch.push_back(std::move(queued_.front()));
      queued_.pop_front();
    }
  }
  while (!batch.empty()) {
    auto& o = batch.front();
    try {
      send_message(conn, kChannel, o.exchange, o.routing_key, o.message);
    } catch (...) {  // what was not sent goes back in front, in order
      std::lock_guard lock(mutex_);
      queued_.insert(queued_.begin(), std::make_move_iterator(batch.begin()),
                     std::make_move_iterator(batch.end()));
      throw;
    }
    std::lock_guard lock(mutex_);
    unconfirmed_.emplace(next_tag_++, std::move(o));
    batch.pop_front();
  }
}

void AmqpPublisher::on_frame(amqp_connection_state_t, const amqp_frame_t& frame) {
  if (frame.frame_type != AMQP_FRAME_METHOD || frame.channel != kChannel) return;
  if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
    auto* ack = static_cast<amqp_basic_ack_t*>(frame.payload.method.decoded);
    settle(ack->delivery_tag, ack->multiple, {});
  } else if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD) {
    auto* nack = static_cast<amqp_basic_nack_t*>(frame.payload.method.decoded);
    settle(nack->delivery_tag, nack->multiple, "the broker could not take the message (nack)");
  }
}

void AmqpPublisher::settle(std::uint64_t tag, bool multiple, const std::string& error) {
  std::vector<std::shared_ptr<Wakeup>> done;
  {
    std::lock_guard lock(mutex_);
    auto end = multiple ? unconfirmed_.upper_bound(tag) : unconfirmed_.find(tag);
    auto begin = multiple ? unconfirmed_.begin() : end;
    if (!multiple && end != unconfirmed_.end()) ++end;
    for (auto it = begin; it != end; ++it) done.push_back(std::move(it->second.done));
    unconfirmed_.erase(begin, end);
    wake_waiters_locked();
  }
  for (auto& d : done) d->fire(error);
}

void AmqpPublisher::wake_waiters_locked() {
  if (queued_.size() + unconfirmed_.size() >= max_pending_) return;
  for (auto& w : waiting_for_room_) w->fire();
  waiting_for_room_.clear();
}

void AmqpPublisher::on_lost() {
  if (on_state_) on_state_(false);
  std::lock_guard lock(mutex_);
  // Unconfirmed may or may not have reached the broker: send them again, first and in order.
  std::vector<Outgoing> again;
  for (auto& [tag, o] : unconfirmed_) again.push_back(std::move(o));
  unconfirmed_.clear();
  queued_.insert(queued_.begin(), std::make_move_iterator(again.begin()),
                 std::make_move_iterator(again.end()));
}

}  // namespace svckit::bus::detail
