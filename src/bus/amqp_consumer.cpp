#include "amqp_consumer.hpp"

#include <amqp_framing.h>

#include <algorithm>
#include <limits>

#include "amqp_topology.hpp"

namespace svckit::bus::detail {
namespace {

constexpr const char* kReplyTag = "svckit.reply";
constexpr auto kDepthInterval = std::chrono::seconds(5);
constexpr std::chrono::milliseconds kMaxAckHold{100};  // an ack behind a running handler

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}
std::string text(amqp_bytes_t b) {
  return std::string(static_cast<const char*>(b.bytes), b.len);
}

}  // namespace

AmqpConsumer::AmqpConsumer(AmqpAddress address, const log::Logger* logger, std::string reply_queue,
                           std::size_t max_message_bytes, Hooks hooks)
    : AmqpLink("consumer", std::move(address), logger),
      reply_queue_(std::move(reply_queue)),
      max_message_bytes_(max_message_bytes),
      hooks_(std::move(hooks)) {}

AmqpConsumer::~AmqpConsumer() {
  stop();
}

void AmqpConsumer::add(const std::string& group, const std::string& pattern, std::size_t prefetch,
                       std::int64_t expires_ms, Deliver deliver) {
  {
    std::lock_guard lock(mutex_);
    auto& queue = groups_[group];
    queue.expires_ms = std::max(queue.expires_ms, expires_ms);
    auto& patterns = queue.patterns;
    if (std::find(patterns.begin(), patterns.end(), pattern) == patterns.end())
      patterns.push_back(pattern);
    auto s = std::make_shared<Subscription>();
    s->group = group;
    s->prefetch = prefetch;
    s->deliver = std::move(deliver);
    s->tag = "svckit." + std::to_string(subscriptions_.size() + 1) + "." + group;
    by_tag_[s->tag] = s;
    subscriptions_.push_back(std::move(s));
    changed_ = true;
  }
  wake();
}

void AmqpConsumer::settle(std::uint64_t generation, std::uint64_t tag, Settle how) {
  bool was_idle;
  {
    std::lock_guard lock(mutex_);
    was_idle = settlements_.empty();
    settlements_.push_back({generation, tag, how});
  }
  if (was_idle) wake();
}

void AmqpConsumer::cancel_all() {
  {
    std::lock_guard lock(mutex_);
    cancel_ = true;
  }
  wake();
}

std::size_t AmqpConsumer::unsent_settlements() const {
  std::lock_guard lock(mutex_);
  return settlements_.size() + applying_ + acks_held_;
}

bool AmqpConsumer::consuming() const {
  std::lock_guard lock(mutex_);
  return up() && !changed_;
}

void AmqpConsumer::on_connected(amqp_connection_state_t conn) {
  declare_exchanges(conn);
  amqp_queue_declare(conn, kChannel, bytes(reply_queue_), 0, 0, 1, 1, amqp_empty_table);
  check_reply(conn, "declaring the reply queue");
  amqp_basic_consume(conn, kChannel, bytes(reply_queue_), amqp_cstring_bytes(kReplyTag), 0, 1, 1,
                     amqp_empty_table);
  check_reply(conn, "consuming replies");
  {
    std::lock_guard lock(mutex_);
    changed_ = true;
    cancelled_ = false;
  }
  start_consumers(conn);
  if (hooks_.state) hooks_.state(true);
}

void AmqpConsumer::start_consumers(amqp_connection_state_t conn) {
  std::map<std::string, GroupQueue> groups;
  std::vector<std::shared_ptr<Subscription>> subscriptions;
  {
    std::lock_guard lock(mutex_);
    if (!changed_ || cancel_) return;
    groups = groups_;
    subscriptions = subscriptions_;
  }
  subscriptions_snapshot_ = subscriptions;
  for (const auto& [group, queue] : groups) declare_group(conn, group, queue);
  for (auto& s : subscriptions) {
    if (s->consuming_on == generation()) continue;
    amqp_basic_qos(conn, kChannel, 0,
                   static_cast<std::uint16_t>(std::min<std::size_t>(s->prefetch, 65535)), 0);
    check_reply(conn, "setting the prefetch window");
    amqp_basic_consume(conn, kChannel, bytes(s->group), bytes(s->tag), 0, 0, 0, amqp_empty_table);
    check_reply(conn, "starting a consumer");
    s->consuming_on = generation();
  }
  std::lock_guard lock(mutex_);
  changed_ = subscriptions_.size() != subscriptions.size() || groups_ != groups;
}

bool AmqpConsumer::pump(amqp_connection_state_t conn) {
  std::vector<Settlement> settlements;
  bool cancel = false;
  {
    std::lock_guard lock(mutex_);
    settlements.swap(settlements_);
    applying_ = settlements.size();  // still unsent for close(), until held or sent below
    cancel = cancel_ && !cancelled_;
    closing_ = cancel_;
  }
  for (const auto& s : settlements) apply(conn, s);
  send_acks(conn);
  applying_ = 0;
  if (cancel) {
    std::vector<std::shared_ptr<Subscription>> subscriptions;
    {
      std::lock_guard lock(mutex_);
      subscriptions = subscriptions_;
      cancelled_ = true;
    }
    for (auto& s : subscriptions) {
      if (s->consuming_on != generation()) continue;
      amqp_basic_cancel(conn, kChannel, bytes(s->tag));
      check_reply(conn, "cancelling a consumer");
      s->consuming_on = 0;
    }
  }
  start_consumers(conn);
  report_depths(conn);
  return false;
}

void AmqpConsumer::apply(amqp_connection_state_t conn, const Settlement& s) {
  if (s.generation != generation()) return;  // the broker re-queued it when that connection went
  auto it = handling_.find(s.tag);
  if (it == handling_.end()) return;  // settled already
  Subscription* consumer = it->second;
  handling_.erase(it);
  if (s.how == Settle::ack) {
    held_.emplace(s.tag, consumer);
    ++consumer->acks_held;
    ++acks_held_;
    return;
  }
  check_status(amqp_basic_nack(conn, kChannel, s.tag, 0, s.how == Settle::requeue), "rejecting");
}

void AmqpConsumer::release_held(std::map<std::uint64_t, Subscription*>::iterator held) {
  --held->second->acks_held;
  --acks_held_;
  held_.erase(held);
}

void AmqpConsumer::send_acks(amqp_connection_state_t conn) {
  // Every delivery below the oldest one still being handled is settled: one ack with
  // `multiple` up to the newest held ack among them.
  const std::uint64_t oldest_handling =
      handling_.empty() ? std::numeric_limits<std::uint64_t>::max() : handling_.begin()->first;
  std::uint64_t through = 0;
  while (!held_.empty() && held_.begin()->first < oldest_handling) {
    through = held_.begin()->first;
    release_held(held_.begin());
  }
  if (through) check_status(amqp_basic_ack(conn, kChannel, through, 1), "acknowledging");
  if (held_.empty()) {
    hold_started_.reset();
    return;
  }
  // Held behind a running handler: at half a consumer's window, after kMaxAckHold, or once
  // the bus is closing, they go out one by one.
  auto now = std::chrono::steady_clock::now();
  if (!hold_started_) hold_started_ = now;
  const bool all = closing_ || now - *hold_started_ >= kMaxAckHold;
  bool over = all;
  for (const auto& sub : subscriptions_snapshot_) over |= sub->acks_held * 2 > sub->prefetch;
  if (!over) return;
  for (auto it = held_.begin(); it != held_.end();) {
    auto next = std::next(it);
    if (all || it->second->acks_held * 2 > it->second->prefetch) {
      check_status(amqp_basic_ack(conn, kChannel, it->first, 0), "acknowledging");
      release_held(it);
    }
    it = next;
  }
  if (held_.empty()) hold_started_.reset();
}

int AmqpConsumer::poll_timeout_ms() const {
  return acks_held_ ? static_cast<int>(kMaxAckHold.count()) : AmqpLink::poll_timeout_ms();
}

void AmqpConsumer::report_depths(amqp_connection_state_t conn) {
  if (!hooks_.depth || std::chrono::steady_clock::now() < next_depth_report_) return;
  next_depth_report_ = std::chrono::steady_clock::now() + kDepthInterval;
  std::vector<std::string> groups;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [group, queue] : groups_) groups.push_back(group);
  }
  for (const auto& group : groups) hooks_.depth(group, queue_depth(conn, group));
}

void AmqpConsumer::on_frame(amqp_connection_state_t conn, const amqp_frame_t& frame) {
  if (frame.channel != kChannel) return;
  switch (frame.frame_type) {
    case AMQP_FRAME_METHOD: {
      if (frame.payload.method.id == AMQP_BASIC_CANCEL_METHOD)  // the queue went away
        throw AmqpFailure("the broker cancelled a consumer");
      if (frame.payload.method.id != AMQP_BASIC_DELIVER_METHOD) return;
      auto* d = static_cast<amqp_basic_deliver_t*>(frame.payload.method.decoded);
      current_.emplace();
      current_->generation = generation();
      current_->tag = d->delivery_tag;
      current_->redelivered = d->redelivered;
      current_->routing_key = text(d->routing_key);
      std::string tag = text(d->consumer_tag);
      current_is_reply_ = tag == kReplyTag;
      if (current_is_reply_) return;  // replies are not acknowledged
      {
        std::lock_guard lock(mutex_);
        auto it = by_tag_.find(tag);
        current_to_ = it == by_tag_.end() ? nullptr : it->second;
      }
      if (!current_to_) {  // no consumer of ours: back to the queue
        check_status(amqp_basic_nack(conn, kChannel, d->delivery_tag, 0, 1), "rejecting");
        return;
      }
      // Tags only grow on a channel: each goes at the end.
      handling_.emplace_hint(handling_.end(), d->delivery_tag, current_to_.get());
      return;
    }
    case AMQP_FRAME_HEADER: {
      if (!current_) return;
      auto* properties = static_cast<amqp_basic_properties_t*>(frame.payload.properties.decoded);
      current_->message = message_properties(*properties);
      body_size_ = frame.payload.properties.body_size;
      body_received_ = 0;
      current_->oversize = body_size_ > max_message_bytes_;
      if (!current_->oversize) current_->message.body.reserve(body_size_);
      if (body_size_ == 0) finish_delivery();
      return;
    }
    case AMQP_FRAME_BODY: {
      if (!current_) return;
      const auto& fragment = frame.payload.body_fragment;
      if (!current_->oversize)
        current_->message.body.append(static_cast<const char*>(fragment.bytes), fragment.len);
      body_received_ += fragment.len;
      if (body_received_ >= body_size_) finish_delivery();
      return;
    }
    default:
      return;
  }
}

void AmqpConsumer::finish_delivery() {
  AmqpDelivery delivery = std::move(*current_);
  current_.reset();
  if (current_is_reply_) {
    if (hooks_.reply) hooks_.reply(std::move(delivery.message));
  } else if (current_to_) {
    current_to_->deliver(std::move(delivery));
  }
  current_to_.reset();
}

void AmqpConsumer::on_frames_read() {
  if (hooks_.delivered) hooks_.delivered();
}

void AmqpConsumer::on_lost() {
  on_frames_read();  // what arrived is handled; its acks are moot, the broker re-queued it
  current_.reset();
  current_to_.reset();
  for (auto& s : subscriptions_snapshot_) s->acks_held = 0;
  handling_.clear();
  held_.clear();
  acks_held_ = 0;
  hold_started_.reset();
  if (hooks_.state) hooks_.state(false);
}

}  // namespace svckit::bus::detail
