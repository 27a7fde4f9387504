#include "task_store.hpp"

#include <cmath>

#include <svckit/ids.hpp>
#include <svckit/sql/mapping.hpp>

namespace aether::task_manager {
namespace {

using svckit::sql::Transaction;
using svckit::sql::Value;

const svckit::sql::Migration kMigrations[] = {
    {1, "create tasks",
     "CREATE TABLE tasks ("
     " id TEXT PRIMARY KEY,"
     " title TEXT NOT NULL,"
     " description TEXT NOT NULL DEFAULT '',"
     " priority TEXT NOT NULL,"
     " status TEXT NOT NULL,"
     " category TEXT,"
     " due_date TEXT,"
     " created_by TEXT,"
     " created_at TEXT NOT NULL,"
     " updated_at TEXT NOT NULL,"
     " completed_at TEXT);"
     "CREATE INDEX tasks_status ON tasks (status);"
     "CREATE INDEX tasks_priority ON tasks (priority);"
     "CREATE INDEX tasks_category ON tasks (category);"
     "CREATE INDEX tasks_created_at ON tasks (created_at);",
     "DROP TABLE tasks"},
    {2, "tasks have an assignee", "ALTER TABLE tasks ADD COLUMN assignee TEXT",
     "ALTER TABLE tasks DROP COLUMN assignee"},
};

const std::string kSelectById = svckit::sql::select_sql<TaskRecord>("tasks", " WHERE id = ?");

svckit::Task<std::optional<TaskRecord>> select_one(Transaction& tx, const std::string& id) {
  auto result = co_await tx.execute(kSelectById, id);
  if (result.empty()) co_return std::nullopt;
  co_return svckit::sql::from_row<TaskRecord>(result.rows.front());
}

svckit::Task<void> save(Transaction& tx, const TaskRecord& t) {
  static const std::string kUpdate = svckit::sql::update_sql<TaskRecord>("tasks", "id");
  co_await tx.execute(kUpdate, svckit::sql::update_values(t, "id"));
}

// Read, change, write in one serializable transaction: of two replicas editing one task at
// once, the second is run again on what the first wrote (PostgreSQL reports the conflict and
// Database::transaction retries), so no edit is lost. SQLite serializes writers anyway.
const svckit::sql::TransactionOptions kReadModifyWrite{.isolation =
                                                           svckit::sql::Isolation::serializable};
// A transaction with the defaults (named: no temporary in a co_await's arguments, for GCC 12).
const svckit::sql::TransactionOptions kPlain{};

// What a task's events carry for the Notification Service's reminders and notices: whom it is
// assigned to, who made it and when it is due, when it says.
void add_schedule(nlohmann::json& event, const TaskRecord& t) {
  if (t.assignee) event["assignee"] = *t.assignee;
  if (t.created_by) event["created_by"] = *t.created_by;
  if (t.due_date) event["due_date"] = *t.due_date;
}

// Moving into "completed" stamps completed_at; moving out of it clears it.
void set_status(TaskRecord& t, const std::string& status, const std::string& now) {
  if (status == "completed" && t.status != "completed") t.completed_at = now;
  if (status != "completed") t.completed_at.reset();
  t.status = status;
}

}  // namespace

void TaskStore::migrate() {
  db_.migrate("task-manager", kMigrations);
}

svckit::Task<TaskRecord> TaskStore::create(NewTask in, const svckit::Context& context) {
  TaskRecord t;
  t.id = svckit::uuid_v4();
  t.title = std::move(in.title);
  t.description = in.description.value_or("");
  t.priority = in.priority.value_or("medium");
  t.category = std::move(in.category);
  t.due_date = std::move(in.due_date);
  t.assignee = std::move(in.assignee);
  if (!context.user_id().empty()) t.created_by = context.user_id();
  t.created_at = t.updated_at = svckit::utc_now_iso8601();
  set_status(t, in.status.value_or("pending"), t.created_at);
  auto work = [&](Transaction& tx) -> svckit::Task<void> {
    static const std::string kInsert = svckit::sql::insert_sql<TaskRecord>("tasks");
    co_await tx.execute(kInsert, svckit::sql::values(t));
    nlohmann::json event = {{"task_id", t.id},
                            {"title", t.title},
                            {"priority", t.priority},
                            {"created_by", t.created_by.value_or("")},
                            {"timestamp", t.created_at}};
    add_schedule(event, t);
    co_await outbox_.add(tx, "task.created", std::move(event), &context);
  };
  co_await db_.transaction(work, kPlain, &context);  // its deadline, and its trace
  outbox_.wake();
  co_return t;
}

svckit::Task<std::optional<TaskRecord>> TaskStore::find(std::string id) {
  if (auto cached = cache_.find(id)) co_return *cached;
  auto seen = cache_.version();
  auto result = co_await db_.read(kSelectById, id);
  if (result.empty()) co_return std::nullopt;
  auto task = svckit::sql::from_row<TaskRecord>(result.rows.front());
  cache_.fill(std::move(id), task, seen);
  co_return task;
}

svckit::Task<TaskList> TaskStore::list(TaskFilter f) {
  auto work = [&](Transaction& tx) -> svckit::Task<TaskList> {
    std::string where = " WHERE 1 = 1";
    std::vector<Value> params;
    auto filter = [&](const char* column, const std::optional<std::string>& v) {
      if (!v) return;
      where += std::string(" AND ") + column + " = ?";
      params.emplace_back(*v);
    };
    filter("status", f.status);
    filter("priority", f.priority);
    filter("category", f.category);
    TaskList page{.page = f.page, .limit = f.limit};
    auto count = co_await tx.execute("SELECT COUNT(*) AS n FROM tasks" + where, params);
    page.total = count.rows[0].integer("n");
    params.emplace_back(f.limit);
    params.emplace_back((f.page - 1) * f.limit);
    auto rows =
        co_await tx.execute(svckit::sql::select_sql<TaskRecord>(
                                "tasks", where + " ORDER BY created_at DESC, id LIMIT ? OFFSET ?"),
                            params);
    for (const auto& r : rows.rows) page.tasks.push_back(svckit::sql::from_row<TaskRecord>(r));
    co_return page;
  };
  co_return co_await db_.snapshot(work);
}

svckit::Task<std::optional<TaskRecord>> TaskStore::update(std::string id, TaskChanges in,
                                                          const svckit::Context& context) {
  auto work = [&](Transaction& tx) -> svckit::Task<std::optional<TaskRecord>> {
    auto t = co_await select_one(tx, id);
    if (!t) co_return std::nullopt;
    auto now = svckit::utc_now_iso8601();
    if (in.title) t->title = *in.title;
    if (in.description) t->description = *in.description;
    if (in.priority) t->priority = *in.priority;
    if (in.category) t->category = in.category;
    if (in.due_date) t->due_date = in.due_date;
    auto previous_assignee = t->assignee;
    if (in.assignee) t->assignee = in.assignee;
    if (in.status) set_status(*t, *in.status, now);
    t->updated_at = now;
    co_await save(tx, *t);
    nlohmann::json event = {{"task_id", t->id},
                            {"title", t->title},
                            {"status", t->status},
                            {"priority", t->priority},
                            {"updated_by", context.user_id()},
                            {"timestamp", t->updated_at}};
    add_schedule(event, *t);
    if (previous_assignee && previous_assignee != t->assignee)
      event["previous_assignee"] = *previous_assignee;
    co_await outbox_.add(tx, "task.updated", std::move(event), &context);
    co_return t;
  };
  auto updated = co_await db_.transaction(work, kReadModifyWrite, &context);
  cache_.invalidate(id);  // after the commit: see EntityCache
  if (updated) outbox_.wake();
  co_return updated;
}

svckit::Task<std::optional<TaskRecord>> TaskStore::complete(std::string id,
                                                            const svckit::Context& context) {
  auto work = [&](Transaction& tx) -> svckit::Task<std::optional<TaskRecord>> {
    auto t = co_await select_one(tx, id);
    if (!t) co_return std::nullopt;
    if (t->status == "completed") co_return t;  // completing twice changes nothing
    auto now = svckit::utc_now_iso8601();
    set_status(*t, "completed", now);
    t->updated_at = now;
    co_await save(tx, *t);
    nlohmann::json event = {{"task_id", t->id},
                            {"title", t->title},
                            {"completed_by", context.user_id()},
                            {"completion_time", *t->completed_at},
                            {"timestamp", now}};
    add_schedule(event, *t);
    co_await outbox_.add(tx, "task.completed", std::move(event), &context);
    co_return t;
  };
  auto completed = co_await db_.transaction(work, kReadModifyWrite, &context);
  cache_.invalidate(id);
  if (completed) outbox_.wake();
  co_return completed;
}

svckit::Task<bool> TaskStore::remove(std::string id, const svckit::Context& context) {
  auto work = [&](Transaction& tx) -> svckit::Task<bool> {
    auto result =
        co_await tx.execute("DELETE FROM tasks WHERE id = ? RETURNING title, assignee", id);
    if (result.empty()) co_return false;
    nlohmann::json event = {{"task_id", id},
                            {"title", result.rows[0].text("title")},
                            {"deleted_by", context.user_id()},
                            {"timestamp", svckit::utc_now_iso8601()}};
    if (auto assignee = result.rows[0].optional_text("assignee")) event["assignee"] = *assignee;
    co_await outbox_.add(tx, "task.deleted", std::move(event), &context);
    co_return true;
  };
  bool removed = co_await db_.transaction(work, kPlain, &context);
  cache_.invalidate(id);
  if (removed) outbox_.wake();
  co_return removed;
}

svckit::Task<TaskStats> TaskStore::stats() {
  auto work = [](Transaction& tx) -> svckit::Task<TaskStats> {
    TaskStats s;
    for (auto v : kStatuses) s.by_status[std::string(v)] = 0;
    for (auto v : kPriorities) s.by_priority[std::string(v)] = 0;
    auto statuses = co_await tx.execute("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status");
    for (const auto& r : statuses.rows) s.by_status[r.text("status")] = r.integer("n");
    auto priorities =
        co_await tx.execute("SELECT priority, COUNT(*) AS n FROM tasks GROUP BY priority");
    for (const auto& r : priorities.rows) s.by_priority[r.text("priority")] = r.integer("n");
    for (const auto& [status, n] : s.by_status) s.total += n;
    double rate = s.total == 0 ? 0.0 : static_cast<double>(s.by_status["completed"]) / s.total;
    s.completion_rate = std::round(rate * 10000) / 10000;
    co_return s;
  };
  co_return co_await db_.snapshot(work);
}

}  // namespace aether::task_manager
