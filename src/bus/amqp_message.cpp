#include "amqp_message.hpp"

#include <charconv>
#include <chrono>

#include "svckit/ids.hpp"

namespace svckit::bus::detail {
namespace {

constexpr std::string_view kBinaryPrefix = "cloudEvents:";
constexpr std::string_view kBinaryPrefixAlt = "cloudEvents_";  // JMS-safe spelling
constexpr std::string_view kStructuredType = "application/cloudevents+json";

bool is_json_type(std::string_view content_type) {
  auto semicolon = content_type.find(';');
  auto type = content_type.substr(0, semicolon);
  return type.empty() || type == "application/json" || type == "text/json" ||
         type.ends_with("+json");
}

// Data as the body carries it: JSON when the content type says so, else the text itself.
nlohmann::json body_data(const AmqpMessage& m) {
  if (m.body.empty()) return nullptr;
  if (!is_json_type(m.content_type)) return m.body;
  auto parsed = nlohmann::json::parse(m.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) throw BusError("AMQP message: the body is not valid JSON");
  return parsed;
}

std::optional<std::string_view> binary_attribute(std::string_view header) {
  if (header.starts_with(kBinaryPrefix)) return header.substr(kBinaryPrefix.size());
  if (header.starts_with(kBinaryPrefixAlt)) return header.substr(kBinaryPrefixAlt.size());
  return std::nullopt;
}

Event decode_binary(const AmqpMessage& m) {
  nlohmann::json structured = nlohmann::json::object();
  for (const auto& [name, value] : m.headers)
    if (auto attribute = binary_attribute(name)) structured[std::string(*attribute)] = value;
  if (!m.content_type.empty()) structured["datacontenttype"] = m.content_type;
  structured["data"] = body_data(m);
  return Event::from_json(structured);
}

// The monolith's client publishes bare JSON with the event type as the routing key.
Event wrap_plain(const AmqpMessage& m, std::string_view routing_key) {
  Event e;
  e.id = m.message_id.empty() ? uuid_v4() : m.message_id;
  e.source = m.app_id.empty() ? "amqp" : m.app_id;
  e.type = m.type.empty() ? std::string(routing_key) : m.type;
  e.time = m.timestamp ? utc_iso8601(static_cast<std::int64_t>(m.timestamp)) : utc_now_iso8601();
  e.data = body_data(m);
  if (e.type.empty()) throw BusError("AMQP message: no type and no routing key");
  if (!m.correlation_id.empty()) e.extensions["correlationid"] = m.correlation_id;
  if (!m.reply_to.empty()) e.extensions["replyto"] = m.reply_to;
  return e;
}

}  // namespace

const std::string* AmqpMessage::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (k == name) return &v;
  return nullptr;
}

void AmqpMessage::set_header(std::string name, std::string value) {
  for (auto& [k, v] : headers)
    if (k == name) {
      v = std::move(value);
      return;
    }
  headers.emplace_back(std::move(name), std::move(value));
}

AmqpMessage encode_event(const Event& e) {
  AmqpMessage m;
  m.content_type = e.datacontenttype;
  m.message_id = e.id;
  m.app_id = e.source;
  m.type = e.type;
  m.timestamp = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
  m.correlation_id = e.extension("correlationid");
  m.reply_to = e.extension("replyto");
  std::string prefix(kBinaryPrefix);
  m.headers = {{prefix + "specversion", e.specversion},
               {prefix + "id", e.id},
               {prefix + "source", e.source},
               {prefix + "type", e.type}};
  if (!e.time.empty()) m.headers.emplace_back(prefix + "time", e.time);
  for (const auto& [name, value] : e.extensions) m.headers.emplace_back(prefix + name, value);
  if (is_json_type(e.datacontenttype))
    m.body = e.data.is_null() ? std::string() : e.data.dump();
  else
    m.body = e.data.is_string() ? e.data.get<std::string>() : e.data.dump();
  return m;
}

Event decode_event(const AmqpMessage& m, std::string_view routing_key) {
  for (const auto& header : m.headers)
    if (binary_attribute(header.first)) return decode_binary(m);
  auto content_type = std::string_view(m.content_type).substr(0, m.content_type.find(';'));
  if (content_type == kStructuredType) {
    auto parsed = nlohmann::json::parse(m.body, nullptr, false);
    if (parsed.is_discarded()) throw BusError("AMQP message: the CloudEvent is not valid JSON");
    return Event::from_json(parsed);
  }
  if (is_json_type(m.content_type)) {
    auto parsed = nlohmann::json::parse(m.body, nullptr, false);
    if (!parsed.is_discarded() && Event::is_cloud_event(parsed)) return Event::from_json(parsed);
  }
  return wrap_plain(m, routing_key);
}

int header_count(const AmqpMessage& m, const char* name, int fallback) {
  const std::string* text = m.header(name);
  if (!text) return fallback;
  int value = 0;
  auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (ec != std::errc() || end != text->data() + text->size() || value < 0) return fallback;
  return value;
}

}  // namespace svckit::bus::detail
