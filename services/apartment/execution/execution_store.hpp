#pragma once
// Execution's records in SQL: one row per execution, its attempts in the row's document. Each
// change commits with the event announcing it (the outbox).
#include <optional>
#include <string>

#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "apartment/execution.hpp"

namespace apartment::execution {

class ExecutionStore {
 public:
  ExecutionStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox)
      : db_(db), outbox_(outbox) {}
  void migrate();

  svckit::Task<std::optional<Execution>> find(std::string id);
  // Inserts or replaces `execution`; with `event` (a type of execution.hpp), publishes its
  // ExecutionUpdate after the commit.
  svckit::Task<void> save(Execution execution, std::string event, std::optional<std::string> error,
                          const svckit::Context* context);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
};

}  // namespace apartment::execution
