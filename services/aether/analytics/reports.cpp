#include "reports.hpp"

#include <cstdio>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <svckit/error.hpp>
#include <svckit/ids.hpp>

namespace aether::analytics {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using std::chrono::days;
using std::chrono::sys_days;
using svckit::Task;

std::string stamp(sys_days day) {
  std::chrono::year_month_day ymd{day};
  char text[32];
  std::snprintf(text, sizeof text, "%04d-%02u-%02uT00:00:00.000Z", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return text;
}

Period make_period(const std::string& name, sys_days start) {
  auto length = name == "week" ? days(7) : days(1);
  return {name, stamp(start), stamp(start + length)};
}

void check_name(const std::string& name) {
  if (name != "day" && name != "week")
    throw svckit::ValidationError("period", "must be day or week");
}

}  // namespace

Period last_complete(const std::string& name, std::chrono::system_clock::time_point now) {
  auto today = std::chrono::floor<days>(now);
  if (name != "week") return make_period("day", today - days(1));
  // This week's Monday, then the week before it.
  auto since_monday = (std::chrono::weekday{today} - std::chrono::Monday).count();
  return make_period("week", today - days(since_monday) - days(7));
}

Period period_starting(const std::string& name, const std::string& date,
                       std::chrono::system_clock::time_point now) {
  check_name(name);
  int y = 0;
  unsigned m = 0, d = 0;
  char tail = 0;
  if (date.size() != 10 || std::sscanf(date.c_str(), "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3)
    throw svckit::ValidationError("start", "must be a date, 2026-12-07");
  std::chrono::year_month_day ymd{std::chrono::year{y}, std::chrono::month{m}, std::chrono::day{d}};
  if (!ymd.ok()) throw svckit::ValidationError("start", "is not a date");
  sys_days start{ymd};
  if (name == "week" && std::chrono::weekday{start} != std::chrono::Monday)
    throw svckit::ValidationError("start", "a week starts on a Monday");
  auto period = make_period(name, start);
  if (start + (name == "week" ? days(7) : days(1)) > std::chrono::floor<days>(now))
    throw svckit::ValidationError("start", "the " + name + " is not over yet");
  return period;
}

Task<std::pair<json, bool>> Reports::make(Period p) {
  auto by_type = co_await db_.read(
      "SELECT event_type, COUNT(*) AS n FROM events WHERE timestamp >= ? AND timestamp < ? "
      "AND event_type NOT LIKE 'analytics.%' GROUP BY event_type ORDER BY n DESC, event_type",
      p.start, p.end);
  auto totals = co_await db_.read(
      "SELECT COUNT(*) AS events, COUNT(severity) AS errors, COUNT(DISTINCT user_id) AS users "
      "FROM events WHERE timestamp >= ? AND timestamp < ? AND event_type NOT LIKE 'analytics.%'",
      p.start, p.end);
  const auto& t = totals.rows.front();
  json report = {{"period", p.name},
                 {"start", p.start},
                 {"end", p.end},
                 {"events", t.integer("events")},
                 {"errors", t.integer("errors")},
                 {"active_users", t.integer("users")},
                 {"by_type", json::object()},
                 {"created_at", svckit::utc_now_iso8601()}};
  json top = json::array();
  for (const auto& row : by_type.rows) {
    report["by_type"][row.text("event_type")] = row.integer("n");
    if (top.size() < 5)
      top.push_back({{"type", row.text("event_type")}, {"count", row.integer("n")}});
  }
  auto work = [&](svckit::sql::Transaction& tx) -> Task<bool> {
    auto added = co_await tx.execute(
        "INSERT INTO reports (period, start, end_at, body) VALUES (?, ?, ?, ?) ON CONFLICT DO "
        "NOTHING",
        p.name, p.start, p.end, report.dump());
    if (added.changes != 1) co_return false;
    json ready = {{"recipients", recipients_},
                  {"category", "reports"},
                  {"title", std::string(p.name == "week" ? "Weekly" : "Daily") + " report from " +
                                p.start.substr(0, 10)},
                  {"period", p.name},
                  {"start", p.start.substr(0, 10)},
                  {"end", p.end.substr(0, 10)},
                  {"events", report["events"]},
                  {"errors", report["errors"]},
                  {"active_users", report["active_users"]},
                  {"top", top}};
    co_await outbox_.add(tx, "analytics.report.ready", ready);
    for (const char* figure : {"events", "errors", "active_users"}) {
      json metric = {{"metric_name", std::string("analytics.") + p.name + "." + figure},
                     {"value", report[figure]},
                     {"tags", {{"period", p.name}, {"start", p.start}}},
                     {"timestamp", p.end}};
      co_await outbox_.add(tx, "analytics.metric.recorded", metric);
    }
    co_return true;
  };
  bool made = co_await db_.transaction(work);
  if (!made) {
    auto kept = co_await db_.read("SELECT body FROM reports WHERE period = ? AND start = ?", p.name,
                                  p.start);
    if (!kept.empty()) report = json::parse(kept.rows.front().text("body"));
  }
  std::pair<json, bool> out{std::move(report), made};
  co_return out;
}

Task<std::vector<json>> Reports::list(std::string name, std::int64_t limit) {
  auto r =
      co_await db_.read("SELECT body FROM reports WHERE period = ? ORDER BY start DESC LIMIT ?",
                        std::move(name), limit);
  std::vector<json> out;
  for (const auto& row : r.rows) out.push_back(json::parse(row.text("body")));
  co_return out;
}

Task<void> Reports::keep_up(std::chrono::milliseconds every) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    for (const auto& name : periods_) {
      try {
        auto period = last_complete(name, std::chrono::system_clock::now());
        co_await make(std::move(period));
      } catch (const std::exception&) {
        // The database away: the next round makes it.
      }
    }
    timer.expires_after(every);
    co_await timer.async_wait(asio::use_awaitable);
  }
}

}  // namespace aether::analytics
