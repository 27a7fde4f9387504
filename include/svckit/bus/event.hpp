#pragma once
// A CloudEvents 1.0 event (https://github.com/cloudevents/spec): what every svckit service
// publishes and consumes. Data is JSON (datacontenttype application/json). Extensions carry the
// trace (`traceparent`, the distributed-tracing extension), the request id (`requestid`) and,
// for request/reply, `correlationid` and `replyto`.
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/context.hpp"

namespace svckit::bus {

// A bus operation that failed: a malformed event, an unusable pattern, a broker that refused.
class BusError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct Event {
  std::string id;      // unique per source
  std::string source;  // the publishing service ("task-manager")
  std::string specversion = "1.0";
  std::string type;  // "task.created"
  std::string time;  // RFC 3339, UTC
  std::string datacontenttype = "application/json";
  nlohmann::json data;
  std::map<std::string, std::string> extensions;  // traceparent, requestid, ...
  // Which delivery of the event a handler is given: 1 the first, counted up by the bus's retries
  // (a replay from the dead-letter queue starts again at 1). Lets a handler know its last
  // attempt (attempt == SubscribeOptions::retry.max_attempts). Not part of the CloudEvent.
  int attempt = 1;
  // The trace of the CONSUMER span a traced delivery is recorded as (svckit/trace/span.hpp), set
  // by the bus while the handler runs: the handler's context() is that span's. Not part of the
  // CloudEvent.
  std::optional<trace::TraceContext> delivery_trace;

  // An extension attribute, empty when absent.
  const std::string& extension(const std::string& name) const;

  // Structured mode: one JSON object with the attributes and "data".
  nlohmann::json to_json() const;
  // From structured mode. Throws BusError naming what is missing or wrong: id, source, type and
  // specversion "1.0" are required strings; extension names are lowercase alphanumeric.
  static Event from_json(const nlohmann::json& json);
  // Whether `json` is already a structured CloudEvent (and is published as it is).
  static bool is_cloud_event(const nlohmann::json& json);

  // The context of the work this delivery starts: the publisher's request id (`requestid`, when
  // sane; else the trace id) and its trace continued (`traceparent`; a new trace without one), so
  // what a consumer logs, calls and publishes stays on the request that caused the event.
  Context context(const log::Logger* logger = nullptr) const;
};

// AMQP topic matching: words separated by '.', `*` matches exactly one word, `#` zero or more.
bool topic_matches(std::string_view pattern, std::string_view type);
// Throws BusError unless `pattern` is a valid topic pattern (non-empty words, `*`/`#` whole).
void check_pattern(std::string_view pattern);
// Throws BusError unless `group` is 1-128 of letters, digits and . _ - : (it names a queue).
void check_group(std::string_view group);

}  // namespace svckit::bus
