#include "amqp_dead_letters.hpp"

#include <amqp_framing.h>

#include <functional>

#include "amqp_topology.hpp"

namespace svckit::bus::detail {
namespace {

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

// A connection that is closed and freed however the work ends.
class Session {
 public:
  explicit Session(const AmqpAddress& address) : conn_(open_connection(address)) {}
  ~Session() {
    amqp_channel_close(conn_, kChannel, AMQP_REPLY_SUCCESS);  // unacknowledged go back
    amqp_connection_close(conn_, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn_);
  }
  amqp_connection_state_t get() const { return conn_; }

 private:
  amqp_connection_state_t conn_;
};

struct Fetched {
  std::uint64_t tag;
  AmqpMessage message;
};

// Takes up to `limit` messages of `queue` unacknowledged, stopping early when `stop` says so.
void fetch(amqp_connection_state_t conn, const std::string& queue, std::size_t limit,
           const std::function<bool(const Fetched&)>& stop) {
  std::uint32_t available = 0;
  try {
    available = queue_depth(conn, queue);
  } catch (const AmqpFailure& e) {  // no such group: nothing dead-lettered
    if (std::string_view(e.what()).find("NOT_FOUND") != std::string_view::npos) return;
    throw;
  }
  for (std::size_t i = 0; i < std::min<std::size_t>(limit, available); ++i) {
    amqp_rpc_reply_t reply = amqp_basic_get(conn, kChannel, bytes(queue), 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) check_reply(conn, "reading a dead-letter queue");
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return;  // empty
    auto* ok = static_cast<amqp_basic_get_ok_t*>(reply.reply.decoded);
    Fetched f{ok->delivery_tag, {}};
    amqp_message_t message;
    amqp_rpc_reply_t read = amqp_read_message(conn, kChannel, &message, 0);
    if (read.reply_type != AMQP_RESPONSE_NORMAL) check_reply(conn, "reading a dead letter");
    f.message = message_properties(message.properties);
    f.message.body.assign(static_cast<const char*>(message.body.bytes), message.body.len);
    amqp_destroy_message(&message);
    amqp_maybe_release_buffers(conn);
    if (stop(f)) return;
  }
}

DeadLetter letter(const Fetched& f, const std::string& group) {
  DeadLetter d;
  d.group = group;
  try {
    d.event = decode_event(f.message, "");
  } catch (const BusError& e) {  // kept as it came: the reason it was rejected
    d.event.id = f.message.message_id;
    d.event.type = f.message.type;
    d.event.data = f.message.body;
  }
  const std::string* reason = f.message.header(kReasonHeader);
  d.reason = reason ? *reason : "rejected by its consumer: not an event, or over the size limit";
  d.attempts = header_count(f.message, kAttemptsHeader);
  if (const std::string* at = f.message.header(kDeadAtHeader)) d.dead_at = *at;
  return d;
}

}  // namespace

std::vector<DeadLetter> browse_dead_letters(const AmqpAddress& address, const std::string& group,
                                            std::size_t limit) {
  Session session(address);
  std::vector<DeadLetter> out;
  fetch(session.get(), dead_letter_queue(group), limit, [&](const Fetched& f) {
    out.push_back(letter(f, group));
    return false;
  });
  return out;
}

bool replay_dead_letter(const AmqpAddress& address, const std::string& group,
                        const std::string& event_id) {
  Session session(address);
  auto conn = session.get();
  std::optional<Fetched> found;
  fetch(conn, dead_letter_queue(group), 1000000, [&](const Fetched& f) {
    if (letter(f, group).event.id != event_id) return false;
    found = f;
    return true;
  });
  if (!found) return false;
  AmqpMessage again = found->message;
  std::erase_if(again.headers, [](const auto& h) { return h.first.starts_with("x-"); });
  amqp_confirm_select(conn, kChannel);
  check_reply(conn, "turning on publisher confirms");
  send_message(conn, kChannel, "", group, again);
  for (;;) {  // the broker's confirm before the dead letter goes
    amqp_frame_t frame;
    check_status(amqp_simple_wait_frame(conn, &frame), "waiting for a confirm");
    if (frame.frame_type != AMQP_FRAME_METHOD || frame.channel != kChannel) continue;
    if (frame.payload.method.id == AMQP_BASIC_NACK_METHOD)
      throw AmqpFailure("the broker refused the replayed event");
    if (frame.payload.method.id == AMQP_BASIC_ACK_METHOD) break;
  }
  check_status(amqp_basic_ack(conn, kChannel, found->tag, 0), "removing the dead letter");
  return true;
}

}  // namespace svckit::bus::detail
