#pragma once
// An AMQP 0-9-1 message as svckit handles it, free of rabbitmq-c types, and how a CloudEvent maps
// onto one. Events go out in binary mode: the attributes as `cloudEvents:` headers, the data as
// the body, datacontenttype as content-type. Coming in, binary mode (`cloudEvents:` or
// `cloudEvents_` headers), structured mode (one JSON CloudEvent as the body) and the monolith's
// plain JSON bodies (wrapped, the routing key as the type) are all accepted.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/bus/event.hpp"

namespace svckit::bus::detail {

struct AmqpMessage {
  std::string content_type;
  std::string message_id;
  std::string correlation_id;
  std::string reply_to;
  std::string type;
  std::string app_id;
  std::uint64_t timestamp = 0;  // seconds since the epoch, 0 when absent
  bool persistent = true;
  // Header values as text (numbers and booleans rendered in decimal and true/false).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  const std::string* header(std::string_view name) const;
  void set_header(std::string name, std::string value);
};

// Headers svckit adds when it re-publishes for a retry or dead-letters an event.
inline constexpr const char* kAttemptsHeader = "x-svckit-attempts";
inline constexpr const char* kReasonHeader = "x-svckit-reason";
inline constexpr const char* kGroupHeader = "x-svckit-group";
inline constexpr const char* kDeadAtHeader = "x-svckit-dead-at";
inline constexpr const char* kReplyErrorHeader = "x-svckit-error";

// Binary mode; persistent.
AmqpMessage encode_event(const Event& event);
// Any of the three input forms. Throws BusError saying why `message` is not an event.
Event decode_event(const AmqpMessage& message, std::string_view routing_key);
// A header holding a small non-negative count, or `fallback`.
int header_count(const AmqpMessage& message, const char* name, int fallback = 0);

}  // namespace svckit::bus::detail
