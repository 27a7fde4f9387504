#pragma once
// The transactional outbox: a row and the event that announces it are committed together. The
// event goes into the service's own database, in the transaction that writes the row; the
// request answers at once; a relay publishes the outbox with the bus's confirms, in order, and
// removes what the broker confirmed. A broker that is away delays events, never loses them, and
// never holds up a request.
//
//   auto& outbox = app.outbox("task-manager");          // table, relay, metrics, readiness
//   auto work = [&](sql::Transaction& tx) -> Task<void> {
//     co_await tx.execute(kInsert, sql::values(task));
//     co_await outbox.add(tx, "task.created", data, &req.context());  // after the write
//   };
//   co_await db.transaction(work);
//   outbox.wake();                                       // publish now rather than at the poll
//
// Order: events are published in the order they were added (the outbox's sequence). Add an
// event after the write it announces: the write's row lock then orders two transactions on one
// aggregate, and their events follow the same order.
//
// Replicas: one relay at a time publishes a component's outbox, the holder of a lease in the
// database (renewed every round, taken over when it lapses). A relay that dies between the
// broker's confirm and removing the row leaves the event to be published again by the next:
// delivery stays at least once, and consumers de-duplicate by CloudEvent id
// (messaging::ProcessedEvents).
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/bus/bus.hpp"
#include "svckit/task.hpp"

namespace svckit::sql {
class Database;
class Transaction;
}  // namespace svckit::sql
namespace svckit::meter {
class Gauge;
class Counter;
}  // namespace svckit::meter

namespace svckit::messaging {

struct OutboxOptions {
  std::chrono::milliseconds poll{200};    // how often the relay looks when nobody wakes it
  std::size_t batch = 256;                // events per round
  std::chrono::milliseconds lease{5000};  // how long a relay's claim lasts without renewal
  meter::Meter* metrics = nullptr;        // outbox_* metrics when given
  const log::Logger* logger = nullptr;
};

// What waits in an outbox.
struct Backlog {
  std::int64_t pending = 0;
  std::chrono::milliseconds oldest{0};  // age of the oldest event waiting, 0 when none
};

class Outbox {
 public:
  // Creates its tables (svckit_outbox, svckit_outbox_lease) in `database`. Blocks: call from
  // install(). `bus` publishes; `component` names this outbox's rows in a shared database.
  Outbox(sql::Database& database, bus::Bus& bus, std::string component, OutboxOptions options = {});
  ~Outbox();
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  // Adds `event` to the outbox inside `tx`: it is published after the transaction commits.
  Task<void> add(sql::Transaction& tx, const bus::Event& event);
  // The CloudEvent bus.publish(type, data, context) would send, added; returns it.
  Task<bus::Event> add(sql::Transaction& tx, std::string type, nlohmann::json data,
                       const Context* context = nullptr);

  // Asks the relay to look now rather than at its next poll. From any thread; cheap.
  void wake();

  // Publishes the outbox until cancelled (App runs it in the background).
  Task<void> relay();
  // One round of the relay: claims the lease, publishes up to a batch, removes what was
  // confirmed. Returns how many it published; 0 when another replica holds the lease.
  Task<std::size_t> relay_once();

  // What waits, as of the relay's last round.
  Backlog backlog() const;

 private:
  Task<bool> claim_lease();
  Task<void> count_backlog();

  sql::Database& database_;
  bus::Bus& bus_;
  std::string component_;
  OutboxOptions options_;
  std::string holder_;  // this process's name in the lease
  meter::Gauge* pending_gauge_ = nullptr;
  meter::Gauge* oldest_gauge_ = nullptr;
  meter::Counter* published_ = nullptr;

  struct Waker;  // the relay's timer and loop, for wake() from any thread
  std::shared_ptr<Waker> waker_;
  mutable std::mutex mutex_;
  Backlog backlog_;
};

}  // namespace svckit::messaging
