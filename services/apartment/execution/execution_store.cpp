#include "execution_store.hpp"

#include <svckit/model/json.hpp>

namespace apartment::execution {
namespace {

const svckit::sql::Migration kMigrations[] = {
    {1, "executions",
     "CREATE TABLE executions ("
     " id TEXT PRIMARY KEY,"
     " request_id TEXT NOT NULL,"
     " status TEXT NOT NULL,"
     " updated_at TEXT NOT NULL,"
     " document TEXT NOT NULL);"
     "CREATE INDEX executions_request ON executions (request_id);",
     "DROP TABLE executions"},
};

}  // namespace

void ExecutionStore::migrate() {
  db_.migrate("execution", kMigrations);
}

svckit::Task<std::optional<Execution>> ExecutionStore::find(std::string id) {
  auto r = co_await db_.read("SELECT document FROM executions WHERE id = ?", std::move(id));
  if (r.empty()) co_return std::nullopt;
  auto document = r.rows.front().text("document");
  co_return svckit::model::from_json<Execution>(nlohmann::json::parse(document));
}

svckit::Task<void> ExecutionStore::save(Execution e, std::string event,
                                        std::optional<std::string> error,
                                        const svckit::Context* context) {
  auto document = svckit::model::to_json_text(e);
  co_await db_.transaction([&](svckit::sql::Transaction& tx) -> svckit::Task<void> {
    co_await tx.execute(
        "INSERT INTO executions (id, request_id, status, updated_at, document) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
        "updated_at = excluded.updated_at, document = excluded.document",
        e.id, e.request_id, e.status, e.updated_at, document);
    if (event.empty()) co_return;
    ExecutionUpdate update{e.id,
                           e.request_id,
                           e.status,
                           static_cast<std::int64_t>(e.attempts.size()),
                           e.external_reference,
                           error};
    auto data = svckit::model::to_json(update);
    co_await outbox_.add(tx, event, std::move(data), context);
  });
  if (!event.empty())
    outbox_.wake();  // committed: publish now rather than at the relay's next look
}

}  // namespace apartment::execution
