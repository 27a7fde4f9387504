#pragma once
// Tasks in SQL, one row per TaskRecord (svckit/sql/mapping.hpp: its columns are its members).
// Each change and the event that announces it (seed 000 §4.3: task.created, task.updated,
// task.completed, task.deleted) commit in one transaction, through the transactional outbox.
#include <optional>
#include <string>
#include <vector>

#include <svckit/context.hpp>
#include <svckit/entity_cache.hpp>
#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

#include "task_record.hpp"

namespace aether::task_manager {

struct TaskFilter {
  std::optional<std::string> status;
  std::optional<std::string> priority;
  std::optional<std::string> category;
  std::int64_t page = 1;
  std::int64_t limit = 20;
};

class TaskStore {
 public:
  // Up to `cache_entries` tasks are kept in memory for reads by id (0: none).
  TaskStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox, std::size_t cache_entries)
      : db_(db), outbox_(outbox), cache_(cache_entries) {}

  // Creates the schema (versioned migrations).
  void migrate();

  // The writes act for `context`'s user, whom their events name.
  svckit::Task<TaskRecord> create(NewTask input, const svckit::Context& context);
  svckit::Task<std::optional<TaskRecord>> find(std::string id);
  svckit::Task<TaskList> list(TaskFilter filter);
  // nullopt when no task has this id.
  svckit::Task<std::optional<TaskRecord>> update(std::string id, TaskChanges changes,
                                                 const svckit::Context& context);
  svckit::Task<std::optional<TaskRecord>> complete(std::string id, const svckit::Context& context);
  svckit::Task<bool> remove(std::string id, const svckit::Context& context);
  svckit::Task<TaskStats> stats();

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
  svckit::EntityCache<TaskRecord> cache_;
};

}  // namespace aether::task_manager
