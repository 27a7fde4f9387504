#pragma once
// Execution's records in SQL: one row per execution, its attempts in the row's document. An
// attempt is claimed before the external system is called and finished after, each in one
// serializable transaction committed with the event it announces (the outbox): two deliveries
// of one order never call out at once, and a finished success is never overwritten.
#include <chrono>
#include <optional>
#include <string>

#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "apartment/execution.hpp"

namespace apartment::execution {

struct Claim {
  enum class Kind { claimed, done, busy };
  Kind kind = Kind::claimed;
  Execution execution;  // as it is now
};

class ExecutionStore {
 public:
  ExecutionStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox)
      : db_(db), outbox_(outbox) {}
  void migrate();

  svckit::Task<std::optional<Execution>> find(std::string id);
  // Claims an attempt at `order` for `busy_for`: done when it succeeded already, busy while
  // another attempt's claim lasts. The first claim makes the record (target: where it goes) and
  // announces apartment.execution.started.
  svckit::Task<Claim> claim(ExecutionOrder order, std::string target,
                            std::chrono::milliseconds busy_for, const svckit::Context* context);
  // Records `attempt` and ends the claim: succeeded with `reference`, or failed when `give_up`;
  // otherwise still executing. Announces the outcome; the record as it then is.
  svckit::Task<Execution> finish(std::string id, Attempt attempt,
                                 std::optional<std::string> reference, bool give_up,
                                 const svckit::Context* context);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
};

}  // namespace apartment::execution
