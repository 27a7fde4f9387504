#pragma once
// Scheduled reports: for each completed day and week (UTC; weeks from Monday), the period's
// events counted by type, its failures and its active users, kept once per period (replicas make
// it once: the first insert wins) and announced through the outbox — `analytics.report.ready` to
// the recipients (the Notification Service delivers it) and seed 000's `analytics.metric.recorded`
// for each figure.
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

namespace aether::analytics {

struct Period {
  std::string name;   // "day" or "week"
  std::string start;  // "YYYY-MM-DDT00:00:00.000Z", inclusive
  std::string end;    // exclusive
};

// The last period of `name` that is over at `now`.
Period last_complete(const std::string& name, std::chrono::system_clock::time_point now);
// The period of `name` that starts on `date` ("YYYY-MM-DD"); svckit::ValidationError when it is
// not a date, not a Monday for a week, or not over at `now`.
Period period_starting(const std::string& name, const std::string& date,
                       std::chrono::system_clock::time_point now);

class Reports {
 public:
  Reports(svckit::sql::Database& db, svckit::messaging::Outbox& outbox,
          std::vector<std::string> periods, std::vector<std::string> recipients)
      : db_(db),
        outbox_(outbox),
        periods_(std::move(periods)),
        recipients_(std::move(recipients)) {}

  const std::vector<std::string>& periods() const { return periods_; }
  // The period's report, made now (true) or as it was made before (false).
  svckit::Task<std::pair<nlohmann::json, bool>> make(Period period);
  // Reports of `name`, newest first.
  svckit::Task<std::vector<nlohmann::json>> list(std::string name, std::int64_t limit);
  // Makes each configured period's last report when it is missing, every `every`; until
  // cancelled.
  svckit::Task<void> keep_up(std::chrono::milliseconds every);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
  std::vector<std::string> periods_;
  std::vector<std::string> recipients_;
};

}  // namespace aether::analytics
