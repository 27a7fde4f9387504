#include "execution_store.hpp"

#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

namespace apartment::execution {
namespace {

using svckit::sql::Transaction;

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

const svckit::sql::TransactionOptions kReadModifyWrite{.isolation =
                                                           svckit::sql::Isolation::serializable};

svckit::Task<std::optional<Execution>> select(Transaction& tx, const std::string& id) {
  auto r = co_await tx.execute("SELECT document FROM executions WHERE id = ?", id);
  if (r.empty()) co_return std::nullopt;
  auto document = r.rows.front().text("document");
  co_return svckit::model::from_json<Execution>(nlohmann::json::parse(document));
}

svckit::Task<void> write(Transaction& tx, const Execution& e) {
  auto document = svckit::model::to_json_text(e);
  co_await tx.execute(
      "INSERT INTO executions (id, request_id, status, updated_at, document) "
      "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
      "updated_at = excluded.updated_at, document = excluded.document",
      e.id, e.request_id, e.status, e.updated_at, document);
}

nlohmann::json update_of(const Execution& e, const std::optional<std::string>& error) {
  ExecutionUpdate update{e.id,
                         e.request_id,
                         e.status,
                         static_cast<std::int64_t>(e.attempts.size()),
                         e.external_reference,
                         error};
  return svckit::model::to_json(update);
}

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

svckit::Task<Claim> ExecutionStore::claim(ExecutionOrder order, std::string target,
                                          std::chrono::milliseconds busy_for,
                                          const svckit::Context* context) {
  bool announced = false;
  auto work = [&](Transaction& tx) -> svckit::Task<Claim> {
    announced = false;
    auto now = svckit::utc_now_iso8601();
    auto found = co_await select(tx, order.execution_id);
    Claim claim;
    if (found && found->status == "succeeded") {
      claim.kind = Claim::Kind::done;
      claim.execution = std::move(*found);
      co_return claim;
    }
    if (found && found->busy_until && *found->busy_until > now) {
      claim.kind = Claim::Kind::busy;
      claim.execution = std::move(*found);
      co_return claim;
    }
    Execution e;
    if (found) {
      e = std::move(*found);
    } else {
      e.id = order.execution_id;
      e.request_id = order.request_id;
      e.option_id = order.option_id;
      e.action = order.action;
      e.target = target;
      e.created_at = now;
    }
    bool first = e.attempts.empty() && e.status.empty();
    e.status = "executing";
    e.busy_until = svckit::utc_iso8601_after(busy_for);
    e.updated_at = now;
    co_await write(tx, e);
    if (first) {
      auto data = update_of(e, std::nullopt);
      co_await outbox_.add(tx, kExecutionStarted, std::move(data), context);
      announced = true;
    }
    claim.execution = std::move(e);
    co_return claim;
  };
  auto claim = co_await db_.transaction(work, kReadModifyWrite, context);
  if (announced) outbox_.wake();  // committed: publish now rather than at the relay's next look
  co_return claim;
}

svckit::Task<Execution> ExecutionStore::finish(std::string id, Attempt attempt,
                                               std::optional<std::string> reference, bool give_up,
                                               const svckit::Context* context) {
  bool announced = false;
  auto work = [&](Transaction& tx) -> svckit::Task<Execution> {
    announced = false;
    auto found = co_await select(tx, id);
    Execution e = std::move(*found);           // claimed before: the row exists
    if (e.status == "succeeded") co_return e;  // never overwritten
    attempt.number = static_cast<std::int64_t>(e.attempts.size()) + 1;
    e.attempts.push_back(attempt);
    e.busy_until.reset();
    e.updated_at = svckit::utc_now_iso8601();
    const char* event = nullptr;
    if (attempt.outcome == "succeeded") {
      e.status = "succeeded";
      e.external_reference = reference;
      event = kExecutionSucceeded;
    } else if (give_up) {
      e.status = "failed";
      event = kExecutionFailed;
    }
    co_await write(tx, e);
    if (event) {
      auto data = update_of(e, attempt.error);
      co_await outbox_.add(tx, event, std::move(data), context);
      announced = true;
    }
    co_return e;
  };
  auto e = co_await db_.transaction(work, kReadModifyWrite, context);
  if (announced) outbox_.wake();
  co_return e;
}

}  // namespace apartment::execution
