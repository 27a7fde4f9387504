#include "svckit/bus/bus.hpp"

#include "amqp_bus.hpp"
#include "inproc_bus.hpp"
#include "svckit/http/request.hpp"
#include "svckit/ids.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::bus {

RequestTimeout::RequestTimeout(const std::string& type, std::chrono::milliseconds timeout)
    : Error(504, "about:blank", "Gateway Timeout",
            "no reply to " + type + " within " + std::to_string(timeout.count()) + " ms") {}

Event Bus::make_event(std::string type, nlohmann::json data, const http::Request* context) const {
  if (Event::is_cloud_event(data)) return Event::from_json(data);
  Event e;
  e.id = uuid_v4();
  e.source = options_.source;
  e.type = std::move(type);
  e.time = utc_now_iso8601();
  e.data = std::move(data);
  if (context) {
    trace::TraceContext child = context->trace();
    child.span_id = trace::random_hex(8);
    e.extensions["traceparent"] = child.traceparent();
    if (!context->request_id().empty()) e.extensions["requestid"] = context->request_id();
  }
  return e;
}

Task<Event> Bus::publish(std::string type, nlohmann::json data, const http::Request* context) {
  Event e = make_event(std::move(type), std::move(data), context);
  co_await publish(e);
  co_return e;
}

Task<nlohmann::json> Bus::request(std::string type, nlohmann::json data,
                                  std::chrono::milliseconds timeout, const http::Request* context) {
  Event e = make_event(std::move(type), std::move(data), context);
  Event reply = co_await request(std::move(e), timeout);
  co_return std::move(reply.data);
}

std::unique_ptr<Bus> open_bus(std::string_view url, std::vector<boost::asio::io_context*> loops,
                              BusOptions options) {
  if (url.empty() || url == "inproc://" || url == "inproc")
    return std::make_unique<detail::InprocBus>(std::move(loops), std::move(options));
  if (url.starts_with("amqp://") || url.starts_with("amqps://"))
    return std::make_unique<detail::AmqpBus>(url, std::move(loops), std::move(options));
  throw BusError("BUS_URL: expected inproc:// or amqp://user:pass@host:5672/vhost, got '" +
                 std::string(url.substr(0, 64)) + "'");
}

}  // namespace svckit::bus
