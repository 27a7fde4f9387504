#include "svckit/messaging/processed_events.hpp"

#include <ctime>

#include "svckit/ids.hpp"
#include "svckit/sql/database.hpp"

namespace svckit::messaging {
namespace {

const sql::Migration kMigrations[] = {
    {1, "processed events",
     "CREATE TABLE IF NOT EXISTS svckit_processed_events ("
     "  consumer TEXT NOT NULL,"
     "  source TEXT NOT NULL,"
     "  id TEXT NOT NULL,"
     "  processed_at BIGINT NOT NULL,"  // Unix seconds
     "  PRIMARY KEY (consumer, source, id));"
     "CREATE INDEX IF NOT EXISTS svckit_processed_events_age "
     "  ON svckit_processed_events(processed_at);",
     "DROP TABLE svckit_processed_events"},
};

}  // namespace

ProcessedEvents::ProcessedEvents(sql::Database& database, std::string consumer)
    : database_(database), consumer_(std::move(consumer)) {
  if (consumer_.empty()) throw bus::BusError("ProcessedEvents needs a consumer name");
  database_.migrate("svckit.processed_events", kMigrations);
}

Task<bool> ProcessedEvents::handled(const Event& event) {
  std::vector<sql::Value> params{consumer_, event.source, event.id};
  auto rows = co_await database_.read(
      "SELECT 1 FROM svckit_processed_events WHERE consumer = ? AND source = ? AND id = ?",
      std::move(params));
  co_return !rows.empty();
}

Task<void> ProcessedEvents::mark_handled(const Event& event) {
  std::vector<sql::Value> params{consumer_, event.source, event.id,
                                 static_cast<std::int64_t>(std::time(nullptr))};
  co_await database_.execute(
      "INSERT INTO svckit_processed_events (consumer, source, id, processed_at) "
      "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
      std::move(params));
}

Task<std::int64_t> ProcessedEvents::forget_older_than(std::chrono::hours age) {
  std::vector<sql::Value> params{consumer_,
                                 static_cast<std::int64_t>(std::time(nullptr)) -
                                     std::chrono::duration_cast<std::chrono::seconds>(age).count()};
  auto result = co_await database_.execute(
      "DELETE FROM svckit_processed_events WHERE consumer = ? AND processed_at < ?",
      std::move(params));
  co_return result.changes;
}

Handler ProcessedEvents::wrap(Handler handler) {
  return [this, handler = std::move(handler)](const Event& event) -> Task<Outcome> {
    // Claimed for as long as this delivery runs, released however it ends.
    struct Claim {
      std::shared_ptr<InProgress> in_progress;
      std::string key;
      bool held = false;
      ~Claim() {
        if (!held) return;
        std::lock_guard lock(in_progress->mutex);
        in_progress->keys.erase(key);
      }
    } claim{in_progress_, event.source + '\0' + event.id};
    {
      std::lock_guard lock(in_progress_->mutex);
      claim.held = in_progress_->keys.insert(claim.key).second;
    }
    if (!claim.held) co_return Outcome::success;  // a copy of one being handled right now
    if (co_await handled(event)) co_return Outcome::success;  // a redelivery: already done
    Outcome outcome = co_await handler(event);
    if (outcome == Outcome::success) co_await mark_handled(event);
    co_return outcome;
  };
}

}  // namespace svckit::messaging
