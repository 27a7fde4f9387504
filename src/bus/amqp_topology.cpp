#include "amqp_topology.hpp"

#include "amqp_link.hpp"

namespace svckit::bus::detail {
namespace {

amqp_bytes_t bytes(const std::string& s) {
  return amqp_bytes_t{s.size(), const_cast<char*>(s.data())};
}

}  // namespace

std::string dead_letter_queue(const std::string& group) {
  return group + ".dlq";
}

void declare_exchanges(amqp_connection_state_t conn) {
  amqp_exchange_declare(conn, kChannel, amqp_cstring_bytes(kEventsExchange),
                        amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
  check_reply(conn, "declaring svckit.events");
  amqp_exchange_declare(conn, kChannel, amqp_cstring_bytes(kDeadExchange),
                        amqp_cstring_bytes("direct"), 0, 1, 0, 0, amqp_empty_table);
  check_reply(conn, "declaring svckit.dead");
}

void declare_group(amqp_connection_state_t conn, const std::string& group,
                   const GroupQueue& queue) {
  amqp_table_entry_t entries[3];
  entries[0].key = amqp_cstring_bytes("x-dead-letter-exchange");
  entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[0].value.value.bytes = amqp_cstring_bytes(kDeadExchange);
  entries[1].key = amqp_cstring_bytes("x-dead-letter-routing-key");
  entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
  entries[1].value.value.bytes = bytes(group);
  entries[2].key = amqp_cstring_bytes("x-expires");
  entries[2].value.kind = AMQP_FIELD_KIND_I64;
  entries[2].value.value.i64 = queue.expires_ms;
  bool expires = queue.expires_ms > 0;
  amqp_table_t arguments{expires ? 3 : 2, entries};
  amqp_queue_declare(conn, kChannel, bytes(group), 0, 1, 0, 0, arguments);
  check_reply(conn, "declaring a group's queue");
  std::string dlq = dead_letter_queue(group);
  amqp_table_t dlq_arguments{expires ? 1 : 0, &entries[2]};
  amqp_queue_declare(conn, kChannel, bytes(dlq), 0, 1, 0, 0, dlq_arguments);
  check_reply(conn, "declaring a dead-letter queue");
  amqp_queue_bind(conn, kChannel, bytes(dlq), amqp_cstring_bytes(kDeadExchange), bytes(group),
                  amqp_empty_table);
  check_reply(conn, "binding a dead-letter queue");
  for (const auto& pattern : queue.patterns) {
    amqp_queue_bind(conn, kChannel, bytes(group), amqp_cstring_bytes(kEventsExchange),
                    bytes(pattern), amqp_empty_table);
    check_reply(conn, "binding a group's queue");
  }
}

std::uint32_t queue_depth(amqp_connection_state_t conn, const std::string& queue) {
  auto* ok = amqp_queue_declare(conn, kChannel, bytes(queue), 1, 0, 0, 0, amqp_empty_table);
  check_reply(conn, "looking up a queue");
  return ok ? ok->message_count : 0;
}

}  // namespace svckit::bus::detail
