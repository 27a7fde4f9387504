#include "analytics.hpp"

#include <sys/statvfs.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/comma_list.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/sql/mapping.hpp>

namespace aether::analytics {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

const svckit::sql::Migration kMigrations[] = {
    {1, "events",
     "CREATE TABLE events ("
     "  source TEXT NOT NULL,"
     "  id TEXT NOT NULL,"
     "  event_type TEXT NOT NULL,"
     "  user_id TEXT,"
     "  severity TEXT,"
     "  metadata TEXT NOT NULL,"
     "  timestamp TEXT NOT NULL,"
     "  received_at TEXT NOT NULL,"
     "  PRIMARY KEY (source, id));"
     "CREATE INDEX events_by_time ON events(timestamp);",
     "DROP TABLE events"},
    // One report per period and start: replicas making the same one, the first insert wins.
    {2, "reports",
     "CREATE TABLE reports ("
     "  period TEXT NOT NULL,"
     "  start TEXT NOT NULL,"
     "  end_at TEXT NOT NULL,"
     "  body TEXT NOT NULL,"
     "  PRIMARY KEY (period, start));",
     "DROP TABLE reports"},
};

// A UTC time as RFC 3339 ("2025-11-24T03:26:05Z", fractions and "+00:00" allowed), or a date
// when `date_only_end` says how to complete it; normalized to "YYYY-MM-DDTHH:MM:SS.mmmZ" so that
// stored times compare as strings. nullopt when it is not one.
std::optional<std::string> normalize_time(std::string_view text, const char* date_completion) {
  static const std::regex kDate(R"(^(\d{4})-(\d{2})-(\d{2})$)");
  static const std::regex kTime(
      R"(^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.(\d{1,9}))?(Z|z|\+00:00)$)");
  std::string s(text.substr(0, 64));
  std::smatch m;
  auto valid = [](int month, int day, int hour, int minute, int second) {
    return month >= 1 && month <= 12 && day >= 1 && day <= 31 && hour <= 23 && minute <= 59 &&
           second <= 60;
  };
  if (std::regex_match(s, m, kDate)) {
    if (!date_completion || !valid(std::stoi(m[2]), std::stoi(m[3]), 0, 0, 0)) return std::nullopt;
    return s + date_completion;
  }
  if (!std::regex_match(s, m, kTime)) return std::nullopt;
  if (!valid(std::stoi(m[2]), std::stoi(m[3]), std::stoi(m[4]), std::stoi(m[5]), std::stoi(m[6])))
    return std::nullopt;
  std::string millis = m[8].matched ? (m[8].str() + "00").substr(0, 3) : "000";
  return m[1].str() + "-" + m[2].str() + "-" + m[3].str() + "T" + m[4].str() + ":" + m[5].str() +
         ":" + m[6].str() + "." + millis + "Z";
}

std::string time_param(const Request& req, const char* name, const char* date_completion,
                       std::string fallback) {
  auto value = req.query_param(name);
  if (!value) return fallback;
  auto t = normalize_time(*value, date_completion);
  if (!t)
    throw svckit::ValidationError(name,
                                  "expected a date (2025-11-24) or a UTC time "
                                  "(2025-11-24T03:26:05Z)");
  return *t;
}

std::pair<std::string, std::string> range(const Request& req) {
  auto start = time_param(req, "start_date", "T00:00:00.000Z", "0000-01-01T00:00:00.000Z");
  auto end = time_param(req, "end_date", "T23:59:59.999Z", "9999-12-31T23:59:59.999Z");
  if (start > end) throw svckit::ValidationError("end_date", "is before start_date");
  return {start, end};
}

svckit::sql::TimeUnit time_unit(std::string_view granularity) {
  using svckit::sql::TimeUnit;
  if (granularity == "hour") return TimeUnit::hour;
  if (granularity == "week") return TimeUnit::week;
  if (granularity == "month") return TimeUnit::month;
  return TimeUnit::day;
}

// Events of failures: *.failed, anything named error, or a declared severity.
std::optional<std::string> severity_of(std::string_view type, const nlohmann::json& metadata) {
  if (metadata.is_object()) {
    auto s = metadata.find("severity");
    if (s != metadata.end() && s->is_string()) {
      auto text = s->get<std::string>();
      if (std::find(kSeverities.begin(), kSeverities.end(), text) != kSeverities.end()) return text;
    }
  }
  if (type.ends_with(".failed") || type.find("error") != std::string_view::npos) return "error";
  return std::nullopt;
}

// The acting user of an event, by the seed's payload field names.
std::optional<std::string> user_of(const nlohmann::json& data) {
  if (!data.is_object()) return std::nullopt;
  for (const char* field : {"user_id", "created_by", "completed_by", "updated_by", "deleted_by"}) {
    auto it = data.find(field);
    if (it != data.end() && it->is_string() && !it->get_ref<const std::string&>().empty())
      return it->get<std::string>();
  }
  return std::nullopt;
}

// Host figures for GET /health: CPU as the 1-minute load per core, memory in use, and the disk
// that holds the data, each in percent.
HostMetrics host_metrics(const std::string& data_dir) {
  double cpu = 0, memory = 0, disk = 0;
  std::ifstream loadavg("/proc/loadavg");
  double load = 0;
  if (loadavg >> load) {
    long cores = std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
    cpu = std::min(100.0, load / static_cast<double>(cores) * 100.0);
  }
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  double value = 0, total = 0, available = 0;
  std::string unit;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemTotal:") total = value;
    if (key == "MemAvailable:") available = value;
  }
  if (total > 0) memory = (total - available) / total * 100.0;
  struct statvfs fs {};
  if (statvfs(data_dir.c_str(), &fs) == 0 && fs.f_blocks > 0)
    disk =
        static_cast<double>(fs.f_blocks - fs.f_bavail) / static_cast<double>(fs.f_blocks) * 100.0;
  auto round1 = [](double v) { return std::round(v * 10) / 10; };
  return {round1(cpu), round1(memory), round1(disk)};
}

const auto kInsert = svckit::sql::insert_sql<EventRow>("events") + " ON CONFLICT DO NOTHING";

}  // namespace

void Analytics::declare(svckit::Settings& settings) {
  settings.declare("analytics",
                   {.name = "ANALYTICS_SERVICES",
                    .help = "name=url,... of the services whose readiness GET /health reports"});
  settings.declare("analytics",
                   {.name = "ANALYTICS_SUBSCRIPTIONS",
                    .default_value = "#",
                    .help = "bus events recorded (topic patterns, comma-separated; its own "
                            "analytics.* are never recorded)"});
  settings.declare("analytics", {.name = "ANALYTICS_REPORTS",
                                 .default_value = "day,week",
                                 .help = "the periods reports are made for: day, week (none: "
                                         "empty)"});
  settings.declare("analytics",
                   {.name = "ANALYTICS_REPORT_RECIPIENTS",
                    .help = "user ids a report is announced to (analytics.report.ready), "
                            "comma-separated"});
  settings.declare("analytics", {.name = "ANALYTICS_REPORT_POLL",
                                 .type = svckit::SettingType::duration,
                                 .default_value = "60s",
                                 .min = 100,
                                 .max = 86'400'000,
                                 .help = "how often a replica looks for a report to make"});
}

void Analytics::install(svckit::App& app) {
  db_ = &app.database("analytics");
  db_->migrate("analytics", kMigrations);
  data_dir_ = app.config().data_dir;

  // Events from the other services (any system's: their types are kept as they come). Database
  // trouble is retried; the bus dead-letters what keeps failing.
  for (const auto& pattern : svckit::comma_list(app.settings().text("ANALYTICS_SUBSCRIPTIONS")))
    app.bus().subscribe("analytics", pattern,
                        [this](const svckit::bus::Event& e) { return record(e); });
  outbox_ = &app.outbox("analytics");
  auto periods = svckit::comma_list(app.settings().text("ANALYTICS_REPORTS"));
  for (const auto& p : periods)
    if (p != "day" && p != "week")
      throw svckit::ConfigError("ANALYTICS_REPORTS", "'" + p + "' is not day or week");
  reports_ = std::make_unique<Reports>(
      *db_, *outbox_, periods,
      svckit::comma_list(app.settings().text("ANALYTICS_REPORT_RECIPIENTS")));
  if (!periods.empty()) {
    auto every = app.settings().duration("ANALYTICS_REPORT_POLL");
    app.run_in_background("analytics reports", [this, every] { return reports_->keep_up(every); });
  }

  // ANALYTICS_SERVICES="task-manager=http://127.0.0.1:8001,security=http://127.0.0.1:8002":
  // whose readiness GET /health reports.
  std::stringstream services(app.settings().text("ANALYTICS_SERVICES"));
  for (std::string item; std::getline(services, item, ',');) {
    auto eq = item.find('=');
    if (item.empty()) continue;
    if (eq == std::string::npos || eq == 0)
      throw svckit::ConfigError("ANALYTICS_SERVICES", "expected name=url[,name=url...]");
    svckit::http::ClientOptions options;
    options.timeout = std::chrono::milliseconds(1000);
    options.retry = svckit::RetryPolicy::none();
    auto name = item.substr(0, eq);
    // Its own client ("probe:<name>"): a 1 s probe without retries, not another module's client
    // of that service with its timeouts and breaker.
    try {
      probes_.push_back({name, &app.client("probe:" + name, item.substr(eq + 1), options)});
    } catch (const svckit::ConfigError& e) {
      throw svckit::ConfigError("ANALYTICS_SERVICES", e.reason());
    } catch (const std::logic_error&) {
      throw svckit::ConfigError("ANALYTICS_SERVICES", "names '" + name + "' twice");
    }
  }

  auto auth = svckit::required_bearer_options_from_settings(app, "Analytics");
  auto api = app.http().group("/api/v1/analytics", {svckit::auth::bearer(std::move(auth))});
  auto read = svckit::auth::require("analytics:read");
  using svckit::http::bind;
  const char* kStart = "from this date or UTC time (2025-11-24, 2025-11-24T03:26:05Z)";
  const char* kEnd = "up to this date (its end) or UTC time";
  // Any authenticated caller may log an event; the caller is its source unless it names a user.
  api.post("/events", bind(this, &Analytics::post_event))
      .summary("Record an event")
      .accepts<NewEvent>()
      .returns<EventRecorded>(201);
  api.get("/usage", read, bind(this, &Analytics::usage))
      .summary("Events per type and time bucket")
      .query("start_date", kStart)
      .query("end_date", kEnd)
      .query("granularity", "the bucket (default day)", svckit::http::one_of_schema(kGranularities))
      .returns<UsageAnswer>()
      .errors({422});
  api.get("/errors", read, bind(this, &Analytics::errors))
      .summary("The latest failures, and counts by severity and type")
      .query("start_date", kStart)
      .query("end_date", kEnd)
      .query("severity", "only failures of this severity", svckit::http::one_of_schema(kSeverities))
      .returns<ErrorsAnswer>()
      .errors({422});
  api.post("/metrics", bind(this, &Analytics::post_metric))
      .summary("Record a metric: stored, and published as analytics.metric.recorded")
      .accepts<NewMetric>()
      .returns<EventRecorded>(201)
      .errors({422});
  api.get("/reports", read, bind(this, &Analytics::list_reports))
      .summary("Reports per day or week, newest first")
      .query("period", "day or week (default day)")
      .query("limit", "1-366 (default 30)")
      .errors({422});
  api.post("/reports", svckit::auth::require("analytics:write"),
           bind(this, &Analytics::make_report))
      .summary("Make a past period's report now (analytics:write); 200 when it existed")
      .accepts<ReportRequest>()
      .responds(201)
      .errors({422});
  api.get("/health", read, bind(this, &Analytics::system_health))
      .summary("The host's load and the readiness of ANALYTICS_SERVICES")
      .returns<SystemHealth>();
}

Task<svckit::bus::Outcome> Analytics::record(const svckit::bus::Event& e) {
  // Its own (reports, metrics) are not the systems' events: recording them would count them.
  if (e.type.starts_with("analytics.")) co_return svckit::bus::Outcome::success;
  EventRow row{.source = e.source, .id = e.id, .event_type = e.type, .user_id = user_of(e.data)};
  row.metadata = e.data;
  std::string when;
  if (e.data.is_object() && e.data.contains("timestamp") && e.data["timestamp"].is_string())
    when = e.data["timestamp"].get<std::string>();
  auto normalized = normalize_time(when, nullptr);
  if (!normalized) normalized = normalize_time(e.time, nullptr);
  row.timestamp = normalized.value_or(svckit::utc_now_iso8601());
  co_await store(std::move(row));
  co_return svckit::bus::Outcome::success;
}

Task<Response> Analytics::post_event(Request& req) {
  auto input = req.json<NewEvent>();
  EventRow row{.source = "api", .id = svckit::uuid_v4(), .event_type = std::move(input.event_type)};
  row.user_id = std::move(input.user_id);
  if (!row.user_id && !req.user_id().empty()) row.user_id = req.user_id();
  row.metadata = std::move(input.metadata);
  if (row.metadata.dump().size() > 16 * 1024)
    throw svckit::ValidationError("metadata", "larger than 16 KiB");
  row.timestamp = svckit::utc_now_iso8601();
  if (input.timestamp) {
    auto t = normalize_time(*input.timestamp, nullptr);
    if (!t)
      throw svckit::ValidationError("timestamp", "expected a UTC time (2025-11-24T03:26:05Z)");
    row.timestamp = *t;
  }
  co_await store(std::move(row));
  co_return svckit::http::json_response(201, EventRecorded{});
}

Task<void> Analytics::store(EventRow row) {
  row.severity = severity_of(row.event_type, row.metadata);
  row.received_at = svckit::utc_now_iso8601();
  auto values = svckit::sql::values(row);  // named: GCC 12 and temporaries passed to coroutines
  co_await db_->execute(kInsert, std::move(values));
}

// A metric (seed 000's analytics.metric.recorded): kept as an event of that type, so usage
// counts it, and published through the outbox in the same transaction.
Task<Response> Analytics::post_metric(Request& req) {
  auto in = req.json<NewMetric>();
  if (!std::isfinite(in.value)) throw svckit::ValidationError("value", "must be a finite number");
  if (in.tags.size() > 16) throw svckit::ValidationError("tags", "at most 16");
  nlohmann::json tags = nlohmann::json::object();
  for (const auto& [k, v] : in.tags) tags[k] = v;
  EventRow row{.source = "api", .id = svckit::uuid_v4(), .event_type = "analytics.metric.recorded"};
  if (!req.user_id().empty()) row.user_id = req.user_id();
  row.timestamp = svckit::utc_now_iso8601();
  row.metadata = {{"metric_name", in.metric_name},
                  {"value", in.value},
                  {"tags", tags},
                  {"timestamp", row.timestamp}};
  row.received_at = row.timestamp;
  auto values = svckit::sql::values(row);
  auto data = row.metadata;
  auto work = [&](svckit::sql::Transaction& tx) -> Task<void> {
    co_await tx.execute(kInsert, std::move(values));
    co_await outbox_->add(tx, "analytics.metric.recorded", data, &req.context());
  };
  co_await db_->transaction(work);
  co_return svckit::http::json_response(201, EventRecorded{});
}

Task<Response> Analytics::list_reports(Request& req) {
  auto period = req.query_param("period").value_or("day");
  if (period != "day" && period != "week")
    throw svckit::ValidationError("period", "must be day or week");
  auto limit = svckit::http::query_int("limit", req.query_param("limit"), 30, 1, 366);
  auto reports = co_await reports_->list(period, limit);
  nlohmann::json out = nlohmann::json::array();
  for (auto& r : reports) out.push_back(std::move(r));
  co_return Response::json(200, {{"reports", out}});
}

Task<Response> Analytics::make_report(Request& req) {
  auto in = req.json<ReportRequest>();
  auto period = period_starting(in.period, in.start, std::chrono::system_clock::now());
  auto made = co_await reports_->make(std::move(period));
  co_return Response::json(made.second ? 201 : 200, made.first);
}

Task<Response> Analytics::usage(Request& req) {
  auto [start, end] = range(req);
  UsageAnswer answer;
  answer.granularity = req.query_param("granularity").value_or("day");
  svckit::http::require_one_of("granularity", answer.granularity, kGranularities);
  auto sql = "SELECT " + db_->time_bucket(time_unit(answer.granularity), "timestamp") +
             " AS timestamp, COUNT(*) AS count, event_type AS metric FROM events "
             "WHERE timestamp >= ? AND timestamp <= ? GROUP BY 1, 3 ORDER BY 1, 3 LIMIT 10000";
  auto rows = co_await db_->read(std::move(sql), start, end);
  for (const auto& row : rows.rows) answer.usage.push_back(svckit::sql::from_row<UsagePoint>(row));
  co_return svckit::http::json_response(200, answer);
}

Task<Response> Analytics::errors(Request& req) {
  auto [start, end] = range(req);
  auto severity = req.query_param("severity");
  if (severity) svckit::http::require_one_of("severity", *severity, kSeverities);
  std::string where = " WHERE severity IS NOT NULL AND timestamp >= ? AND timestamp <= ?";
  std::vector<svckit::sql::Value> params{start, end};
  if (severity) {
    where += " AND severity = ?";
    params.emplace_back(*severity);
  }
  auto latest_sql =
      svckit::sql::select_sql<ErrorEvent>("events", where + " ORDER BY timestamp DESC LIMIT 100");
  auto latest = co_await db_->read(std::move(latest_sql), params);
  auto counts_sql = "SELECT severity, event_type, COUNT(*) AS n FROM events" + where +
                    " GROUP BY severity, event_type";
  auto counts = co_await db_->read(std::move(counts_sql), params);
  ErrorsAnswer answer;
  for (const auto& row : latest.rows)
    answer.errors.push_back(svckit::sql::from_row<ErrorEvent>(row));
  for (const auto& row : counts.rows) {
    auto n = row.integer("n");
    answer.summary.total += n;
    answer.summary.by_severity[row.text("severity")] += n;
    answer.summary.by_type[row.text("event_type")] += n;
  }
  co_return svckit::http::json_response(200, answer);
}

Task<Response> Analytics::system_health(Request& req) {
  SystemHealth answer{.status = "UP", .metrics = host_metrics(data_dir_)};
  for (auto& probe : probes_) {
    auto started = std::chrono::steady_clock::now();
    std::string status = "DOWN";
    try {
      auto res = co_await probe.client->get("/ready", &req.context());
      if (res.status == 200) status = "UP";
    } catch (const svckit::http::UpstreamError&) {
    }
    if (status != "UP") answer.status = "DEGRADED";
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    answer.services.push_back({probe.name, status, std::round(ms * 10) / 10});
  }
  co_return svckit::http::json_response(200, answer);
}

}  // namespace aether::analytics
