#pragma once
// Effectively-once processing over at-least-once delivery: remembers, in the service's own
// database, which events (CloudEvents `source` + `id`) a consumer has handled, so a redelivered
// event is acknowledged without running its handler again.
//
//   messaging::ProcessedEvents processed(app.database("notifications"), "notifications");
//   app.bus().subscribe("notifications", "task.created", processed.wrap(send_notification));
//
// An event is marked after its handler answers success, never before: a process that dies in
// between handles it again on redelivery (nothing is lost), so the handler's own effect should
// tolerate that rare repeat. A second delivery of an event that this process is handling at that
// moment (a publisher re-sent it after a lost confirm and both copies arrived together) is
// acknowledged at once: the first delivery is still unacknowledged, so if it fails it is retried
// and if the process dies the broker redelivers it. Across processes of one group that race
// remains: two copies handled at the same moment by two processes can both run.
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "svckit/bus/bus.hpp"

namespace svckit::sql {
class Database;
}

namespace svckit::messaging {

using bus::Event;
using bus::Handler;
using bus::Outcome;

class ProcessedEvents {
 public:
  // Creates its table (svckit_processed_events) on first use of `database`. Blocks: call from
  // install().
  ProcessedEvents(sql::Database& database, std::string consumer);

  // `handler`, skipping events this consumer already handled and marking the ones it handles.
  Handler wrap(Handler handler);

  Task<bool> handled(const Event& event);
  Task<void> mark_handled(const Event& event);
  // Forgets events handled before `age` ago; returns how many. Redeliveries come within minutes,
  // so a day or a week of memory is plenty.
  Task<std::int64_t> forget_older_than(std::chrono::hours age);

 private:
  sql::Database& database_;
  std::string consumer_;
  // source + id of the events being handled in this process right now.
  struct InProgress {
    std::mutex mutex;
    std::set<std::string, std::less<>> keys;
  };
  std::shared_ptr<InProgress> in_progress_ = std::make_shared<InProgress>();
};

}  // namespace svckit::messaging
