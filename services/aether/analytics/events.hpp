#pragma once
// What Analytics stores and answers (seed 000 §4.2.4), each described once (Boost.Describe):
// that gives the JSON in and out, its checks, the row and the schema in /openapi.json.
#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/model/rules.hpp>

namespace aether::analytics {

inline constexpr std::array<std::string_view, 4> kGranularities = {"hour", "day", "week", "month"};
inline constexpr std::array<std::string_view, 4> kSeverities = {"info", "warning", "error",
                                                                "critical"};

// POST /api/v1/analytics/events. Metadata is at most 16 KiB of JSON (checked by the handler: a
// size of the whole object is not a rule of one field).
struct NewEvent {
  std::string event_type;
  std::optional<std::string> user_id;  // the caller's when absent
  std::map<std::string, nlohmann::json> metadata;
  std::optional<std::string> timestamp;  // UTC; now when absent
  static void rules(svckit::model::Rules<NewEvent>& r) {
    r.field(&NewEvent::event_type).length(1, 128).pattern("[a-z0-9._-]+");
    r.field(&NewEvent::user_id).length(0, 256);
    r.field(&NewEvent::metadata).defaulted().describe("any JSON object, at most 16 KiB");
    r.field(&NewEvent::timestamp).format("date-time").describe("UTC: Z or +00:00");
  }
};
BOOST_DESCRIBE_STRUCT(NewEvent, (), (event_type, user_id, metadata, timestamp))

// POST /api/v1/analytics/metrics: seed 000's analytics.metric.recorded.
struct NewMetric {
  std::string metric_name;
  double value = 0;
  std::map<std::string, std::string> tags;
  static void rules(svckit::model::Rules<NewMetric>& r) {
    r.field(&NewMetric::metric_name).length(1, 128).pattern("[A-Za-z0-9._:-]+");
    r.field(&NewMetric::tags).defaulted().describe("string values, at most 16");
  }
};
BOOST_DESCRIBE_STRUCT(NewMetric, (), (metric_name, value, tags))

// POST /api/v1/analytics/reports: a past period's report now.
struct ReportRequest {
  std::string period;  // day | week
  std::string start;   // the period's first day, YYYY-MM-DD (a Monday for a week)
  static void rules(svckit::model::Rules<ReportRequest>& r) {
    r.field(&ReportRequest::period).one_of({"day", "week"});
    r.field(&ReportRequest::start).length(10, 10).format("date");
  }
};
BOOST_DESCRIBE_STRUCT(ReportRequest, (), (period, start))

struct EventRecorded {
  bool success = true;
};
BOOST_DESCRIBE_STRUCT(EventRecorded, (), (success))

// A row of the events table. (source, id) is its key: a redelivered event is stored once.
struct EventRow {
  std::string source;  // "api" for posted events, the publishing service's name otherwise
  std::string id;
  std::string event_type;
  std::optional<std::string> user_id;
  std::optional<std::string> severity;  // set on failures only
  nlohmann::json metadata;
  std::string timestamp;  // "YYYY-MM-DDTHH:MM:SS.mmmZ", so that times compare as text
  std::string received_at;
};
BOOST_DESCRIBE_STRUCT(EventRow, (),
                      (source, id, event_type, user_id, severity, metadata, timestamp, received_at))

// GET /usage: events per type and time bucket.
struct UsagePoint {
  std::string timestamp;  // the bucket's start
  std::int64_t count = 0;
  std::string metric;  // the event type
};
BOOST_DESCRIBE_STRUCT(UsagePoint, (), (timestamp, count, metric))

struct UsageAnswer {
  std::vector<UsagePoint> usage;
  std::string granularity;
};
BOOST_DESCRIBE_STRUCT(UsageAnswer, (), (usage, granularity))

// GET /errors: the latest 100 failures and counts of all of them.
struct ErrorEvent {
  std::string event_type;
  std::string source;
  std::optional<std::string> user_id;
  std::string severity;
  nlohmann::json metadata;
  std::string timestamp;
};
BOOST_DESCRIBE_STRUCT(ErrorEvent, (), (event_type, source, user_id, severity, metadata, timestamp))

struct ErrorSummary {
  std::int64_t total = 0;
  std::map<std::string, std::int64_t> by_severity;
  std::map<std::string, std::int64_t> by_type;
};
BOOST_DESCRIBE_STRUCT(ErrorSummary, (), (total, by_severity, by_type))

struct ErrorsAnswer {
  std::vector<ErrorEvent> errors;
  ErrorSummary summary;
};
BOOST_DESCRIBE_STRUCT(ErrorsAnswer, (), (errors, summary))

// GET /health: the host, in percent, and the readiness of ANALYTICS_SERVICES.
struct HostMetrics {
  double cpu = 0;  // the 1-minute load per core
  double memory = 0;
  double disk = 0;  // of the disk that holds DATA_DIR
};
BOOST_DESCRIBE_STRUCT(HostMetrics, (), (cpu, memory, disk))

struct ServiceHealth {
  std::string name;
  std::string status;  // UP or DOWN
  double latency_ms = 0;
};
BOOST_DESCRIBE_STRUCT(ServiceHealth, (), (name, status, latency_ms))

struct SystemHealth {
  std::string status;  // UP when every service is, DEGRADED otherwise
  HostMetrics metrics;
  std::vector<ServiceHealth> services;
};
BOOST_DESCRIBE_STRUCT(SystemHealth, (), (status, metrics, services))

}  // namespace aether::analytics
