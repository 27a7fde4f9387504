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
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/ids.hpp>
#include <svckit/sql/database.hpp>

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
     "CREATE INDEX events_by_time ON events(timestamp);"},
};

constexpr std::array<std::string_view, 4> kGranularities = {"hour", "day", "week", "month"};
constexpr std::array<std::string_view, 4> kSeverities = {"info", "warning", "error", "critical"};

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

std::string bucket_expression(std::string_view granularity) {
  if (granularity == "hour") return "strftime('%Y-%m-%dT%H:00:00Z', timestamp)";
  if (granularity == "week") return "date(timestamp, 'weekday 0', '-6 days') || 'T00:00:00Z'";
  if (granularity == "month") return "strftime('%Y-%m-01T00:00:00Z', timestamp)";
  return "strftime('%Y-%m-%dT00:00:00Z', timestamp)";
}

bool valid_event_type(std::string_view type) {
  if (type.empty() || type.size() > 128) return false;
  for (char c : type)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
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

struct Stored {
  std::string source, id, type;
  std::optional<std::string> user;
  nlohmann::json metadata;
  std::string timestamp;
};

// INSERT OR IGNORE on (source, id): a redelivered event is recorded once.
Task<bool> store(svckit::sql::Database& db, Stored e) {
  auto severity = severity_of(e.type, e.metadata);
  // Named, not braced inside the co_await: GCC 12 miscompiles initializer lists there.
  std::vector<svckit::sql::Value> params{e.source,    e.id,
                                         e.type,      e.user,
                                         severity,    e.metadata.dump(),
                                         e.timestamp, svckit::utc_now_iso8601()};
  auto result = co_await db.execute(
      "INSERT OR IGNORE INTO events (source, id, event_type, user_id, severity, metadata, "
      "timestamp, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      std::move(params));
  co_return result.changes > 0;
}

// Host figures for GET /health: CPU as the 1-minute load per core, memory in use, and the disk
// that holds the data, each in percent.
nlohmann::json host_metrics(const std::string& data_dir) {
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
  return {{"cpu", round1(cpu)}, {"memory", round1(memory)}, {"disk", round1(disk)}};
}

}  // namespace

void Analytics::declare(svckit::Settings& settings) {
  settings.declare("analytics",
                   {.name = "ANALYTICS_SERVICES",
                    .help = "name=url,... of the services whose readiness GET /health reports"});
}

void Analytics::install(svckit::App& app) {
  auto& db = app.database("analytics");
  db.migrate("analytics", kMigrations);

  // Events from the other services. Database trouble is retried; the bus dead-letters what
  // keeps failing.
  auto record = [&db](const svckit::bus::Event& e) -> Task<svckit::bus::Outcome> {
    Stored s;
    s.source = e.source;
    s.id = e.id;
    s.type = e.type;
    s.user = user_of(e.data);
    s.metadata = e.data;
    std::string when;
    if (e.data.is_object() && e.data.contains("timestamp") && e.data["timestamp"].is_string())
      when = e.data["timestamp"].get<std::string>();
    auto normalized = normalize_time(when, nullptr);
    if (!normalized) normalized = normalize_time(e.time, nullptr);
    s.timestamp = normalized.value_or(svckit::utc_now_iso8601());
    co_await store(db, std::move(s));
    co_return svckit::bus::Outcome::success;
  };
  for (const char* pattern : {"task.#", "ai.#", "integration.#"})
    app.bus().subscribe("analytics", pattern, record);

  // ANALYTICS_SERVICES="task-manager=http://127.0.0.1:8001,security=http://127.0.0.1:8002":
  // whose readiness GET /health reports.
  std::stringstream services(app.settings().text("ANALYTICS_SERVICES"));
  for (std::string item; std::getline(services, item, ',');) {
    auto eq = item.find('=');
    if (item.empty()) continue;
    if (eq == std::string::npos || eq == 0)
      throw svckit::ConfigError("ANALYTICS_SERVICES", "expected name=url[,name=url...]");
    svckit::http::ClientOptions options;
    options.name = item.substr(0, eq);
    options.timeout = std::chrono::milliseconds(1000);
    options.retry = svckit::RetryPolicy::none();
    try {
      probes_.push_back(
          {options.name, std::make_unique<svckit::http::Client>(item.substr(eq + 1), options)});
    } catch (const std::invalid_argument& e) {
      throw svckit::ConfigError("ANALYTICS_SERVICES", e.what());
    }
  }

  auto auth = svckit::required_bearer_options_from_settings(app, "Analytics");
  auto api = app.http().group("/api/v1/analytics", {svckit::auth::bearer(std::move(auth))});
  auto read = svckit::auth::require("analytics:read");

  // Any authenticated caller may log an event; the caller is its source unless it names a user.
  api.post("/events", [&db](Request& req) -> Task<Response> {
    auto body = req.json_object();
    auto type = body.required_string("event_type");
    if (!valid_event_type(type))
      throw svckit::ValidationError("event_type", "1-128 of a-z, 0-9, '.', '_', '-'");
    Stored s;
    s.source = "api";
    s.id = svckit::uuid_v4();
    s.type = type;
    s.user = body.optional_string("user_id");
    if (!s.user && !req.user_id().empty()) s.user = req.user_id();
    if (s.user && s.user->size() > 256) throw svckit::ValidationError("user_id", "too long");
    s.metadata = body.optional_object("metadata").value_or(nlohmann::json::object());
    if (s.metadata.dump().size() > 16 * 1024)
      throw svckit::ValidationError("metadata", "larger than 16 KiB");
    auto when = body.optional_string("timestamp");
    if (when) {
      auto t = normalize_time(*when, nullptr);
      if (!t)
        throw svckit::ValidationError("timestamp", "expected a UTC time (2025-11-24T03:26:05Z)");
      s.timestamp = *t;
    } else {
      s.timestamp = svckit::utc_now_iso8601();
    }
    co_await store(db, std::move(s));
    co_return Response::json(201, {{"success", true}});
  });

  api.get("/usage", read, [&db](Request& req) -> Task<Response> {
    auto [start, end] = range(req);
    auto granularity = req.query_param("granularity").value_or("day");
    svckit::http::require_one_of("granularity", granularity, kGranularities);
    std::vector<svckit::sql::Value> params{start, end};
    auto rows = co_await db.read("SELECT " + bucket_expression(granularity) +
                                     " AS bucket, event_type, COUNT(*) AS n FROM events "
                                     "WHERE timestamp >= ? AND timestamp <= ? "
                                     "GROUP BY bucket, event_type ORDER BY bucket, event_type "
                                     "LIMIT 10000",
                                 std::move(params));
    auto usage = nlohmann::json::array();
    for (const auto& row : rows.rows)
      usage.push_back({{"timestamp", row.text("bucket")},
                       {"count", row.integer("n")},
                       {"metric", row.text("event_type")}});
    co_return Response::json(200, {{"usage", usage}, {"granularity", granularity}});
  });

  api.get("/errors", read, [&db](Request& req) -> Task<Response> {
    auto [start, end] = range(req);
    auto severity = req.query_param("severity");
    if (severity) svckit::http::require_one_of("severity", *severity, kSeverities);
    std::string where = "severity IS NOT NULL AND timestamp >= ? AND timestamp <= ?";
    std::vector<svckit::sql::Value> params{start, end};
    if (severity) {
      where += " AND severity = ?";
      params.emplace_back(*severity);
    }
    auto latest = co_await db.read(
        "SELECT source, id, event_type, user_id, severity, metadata, timestamp FROM events WHERE " +
            where + " ORDER BY timestamp DESC LIMIT 100",
        params);
    auto counts = co_await db.read("SELECT severity, event_type, COUNT(*) AS n FROM events WHERE " +
                                       where + " GROUP BY severity, event_type",
                                   params);
    auto errors = nlohmann::json::array();
    for (const auto& row : latest.rows)
      errors.push_back({{"event_type", row.text("event_type")},
                        {"source", row.text("source")},
                        {"user_id", row.optional_text("user_id").value_or("")},
                        {"severity", row.text("severity")},
                        {"metadata", nlohmann::json::parse(row.text("metadata"))},
                        {"timestamp", row.text("timestamp")}});
    nlohmann::json by_severity = nlohmann::json::object(), by_type = nlohmann::json::object();
    std::int64_t total = 0;
    for (const auto& row : counts.rows) {
      auto n = row.integer("n");
      total += n;
      by_severity[row.text("severity")] = by_severity.value(row.text("severity"), 0) + n;
      by_type[row.text("event_type")] = by_type.value(row.text("event_type"), 0) + n;
    }
    co_return Response::json(
        200, {{"errors", errors},
              {"summary", {{"total", total}, {"by_severity", by_severity}, {"by_type", by_type}}}});
  });

  api.get("/health", read, [this, &app](Request& req) -> Task<Response> {
    auto services = nlohmann::json::array();
    bool all_up = true;
    for (auto& probe : probes_) {
      auto started = std::chrono::steady_clock::now();
      std::string status = "DOWN";
      try {
        auto res = co_await probe.client->get("/ready", &req.context());
        status = res.status == 200 ? "UP" : "DOWN";
      } catch (const svckit::http::UpstreamError&) {
      }
      all_up = all_up && status == "UP";
      double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
              .count();
      services.push_back(
          {{"name", probe.name}, {"status", status}, {"latency_ms", std::round(ms * 10) / 10}});
    }
    co_return Response::json(200, {{"status", all_up ? "UP" : "DEGRADED"},
                                   {"metrics", host_metrics(app.config().data_dir)},
                                   {"services", services}});
  });
}

}  // namespace aether::analytics
