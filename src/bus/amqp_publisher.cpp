#include "amqp_publisher.hpp"

#include <amqp_framing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <boost/asio/this_coro.hpp>

#include "amqp_topology.hpp"

namespace svckit::bus::detail {
namespace {
constexpr std::size_t kBatch = 256;  // sent per pump, then acks are read

// TCP_CORK for a scope: what is written meanwhile goes out when it ends (or a segment fills).
class Cork {
 public:
  Cork(int fd, bool on) : fd_(on ? fd : -1) { set(1); }
  ~Cork() { set(0); }
  Cork(const Cork&) = delete;
  Cork& operator=(const Cork&) = delete;

 private:
  void set(int value) {
    if (fd_ >= 0) ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &value, sizeof value);
  }
  int fd_;
};
}  // namespace

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
  auto done = Wakeup::on(executor);
  for (;;) {
    std::shared_ptr<Wakeup> room;
    bool was_idle = false;
    {
      std::lock_guard lock(mutex_);
      if (queued_.size() + unconfirmed_.size() < max_pending_) {
        was_idle = queued_.empty();
        queued_.push_back({std::move(exchange), std::move(routing_key), std::move(message), done});
      } else {  // backpressure: wait for room
        room = Wakeup::on(executor);
        waiting_for_room_.push_back(room);
      }
    }
    if (!room) {
      if (was_idle) wake();
      break;
    }
    co_await room->wait();
    if (!room->error().empty()) throw BusError(room->error());
  }
  co_await done->wait();
  if (!done->error().empty()) throw BusError(done->error());
}

std::size_t AmqpPublisher::pending() const {
  std::lock_guard lock(mutex_);
  return queued_.size() + unconfirmed_.size();
}

void AmqpPublisher::abandon(const std::string& reason) {
  std::deque<Outgoing> queued, unconfirmed;
  std::vector<std::shared_ptr<Wakeup>> waiters;
  {
    std::lock_guard lock(mutex_);
    queued.swap(queued_);
    unconfirmed.swap(unconfirmed_);
    waiters.swap(waiting_for_room_);
  }
  for (auto* outgoing : {&queued, &unconfirmed})
    for (auto& o : *outgoing)
      if (o.done) waiters.push_back(std::move(o.done));
  Wakeup::fire_all(std::move(waiters), reason);
}

void AmqpPublisher::on_connected(amqp_connection_state_t conn) {
  amqp_confirm_select(conn, kChannel);
  check_reply(conn, "turning on publisher confirms");
  declare_exchanges(conn);
  {
    std::lock_guard lock(mutex_);
    first_unconfirmed_ = 1;
  }
  if (on_state_) on_state_(true);
}

bool AmqpPublisher::pump(amqp_connection_state_t conn) {
  std::vector<Outgoing> batch;
  {
    std::lock_guard lock(mutex_);
    std::size_t n = std::min(queued_.size(), kBatch);
    batch.reserve(n);
    std::move(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n),
              std::back_inserter(batch));
    queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
  }
  if (batch.empty()) return false;
  std::size_t sent = 0;
  auto settle_batch = [&] {  // what was sent awaits its confirm; the rest goes back in front
    std::lock_guard lock(mutex_);
    std::move(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(sent),
              std::back_inserter(unconfirmed_));
    queued_.insert(queued_.begin(), std::make_move_iterator(batch.begin() + sent),
                   std::make_move_iterator(batch.end()));
    return !queued_.empty();
  };
  // Corked, a batch leaves in full segments instead of one per message: the broker then reads
  // and parses many publishes per wake-up.
  Cork cork(amqp_get_sockfd(conn), batch.size() > 1);
  try {
    for (; sent < batch.size(); ++sent)
      send_message(conn, kChannel, batch[sent].exchange, batch[sent].routing_key,
                   batch[sent].message);
  } catch (...) {
    settle_batch();
    throw;
  }
  return settle_batch();
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
    if (tag < first_unconfirmed_ || tag - first_unconfirmed_ >= unconfirmed_.size()) return;
    std::size_t last = tag - first_unconfirmed_;
    for (std::size_t i = multiple ? 0 : last; i <= last; ++i)
      if (unconfirmed_[i].done) done.push_back(std::move(unconfirmed_[i].done));
    while (!unconfirmed_.empty() && !unconfirmed_.front().done) {
      unconfirmed_.pop_front();
      ++first_unconfirmed_;
    }
    wake_waiters_locked();
  }
  Wakeup::fire_all(std::move(done), error);
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
  std::erase_if(unconfirmed_, [](const Outgoing& o) { return !o.done; });
  queued_.insert(queued_.begin(), std::make_move_iterator(unconfirmed_.begin()),
                 std::make_move_iterator(unconfirmed_.end()));
  unconfirmed_.clear();
}

}  // namespace svckit::bus::detail
