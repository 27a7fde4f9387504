#pragma once
// A task as the Task Manager stores and returns it (seed 000 §4.2.3), and what clients send and
// get: each described once (Boost.Describe), which gives its JSON, its checks, its SQL row and
// its schema.
#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

namespace aether::task_manager {

inline constexpr std::array<std::string_view, 4> kPriorities = {"low", "medium", "high", "urgent"};
inline constexpr std::array<std::string_view, 3> kStatuses = {"pending", "in_progress",
                                                              "completed"};

struct TaskRecord {
  std::string id;
  std::string title;
  std::string description;
  std::string priority = "medium";
  std::string status = "pending";
  std::optional<std::string> category;
  std::optional<std::string> due_date;
  std::optional<std::string> assignee;  // the user it is assigned to (notified of changes)
  std::optional<std::string> created_by;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> completed_at;
  static void rules(svckit::model::Rules<TaskRecord>& r);
};
BOOST_DESCRIBE_STRUCT(TaskRecord, (),
                      (id, title, description, priority, status, category, due_date, assignee,
                       created_by, created_at, updated_at, completed_at))

// The rules of the fields a client sets, shared by the models that carry them.
template <class T>
void client_field_rules(svckit::model::Rules<T>& r) {
  r.field(&T::title).length(1, 200);
  r.field(&T::description).length(0, 10000);
  r.field(&T::priority).one_of(kPriorities);
  r.field(&T::status).one_of(kStatuses);
  r.field(&T::category).length(0, 100);
  r.field(&T::due_date).format("date-time");
  r.field(&T::assignee).length(1, 200);
}

// POST /api/v1/tasks: a title, the rest optional.
struct NewTask {
  std::string title;
  std::optional<std::string> description;
  std::optional<std::string> priority;
  std::optional<std::string> status;
  std::optional<std::string> category;
  std::optional<std::string> due_date;
  std::optional<std::string> assignee;
  static void rules(svckit::model::Rules<NewTask>& r) { client_field_rules(r); }
};
BOOST_DESCRIBE_STRUCT(NewTask, (),
                      (title, description, priority, status, category, due_date, assignee))

// PUT /api/v1/tasks/{id}: what is present changes.
struct TaskChanges {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> priority;
  std::optional<std::string> status;
  std::optional<std::string> category;
  std::optional<std::string> due_date;
  std::optional<std::string> assignee;
  static void rules(svckit::model::Rules<TaskChanges>& r) { client_field_rules(r); }
};
BOOST_DESCRIBE_STRUCT(TaskChanges, (),
                      (title, description, priority, status, category, due_date, assignee))

struct TaskCreated {
  std::string id;
  TaskRecord task;
};
BOOST_DESCRIBE_STRUCT(TaskCreated, (), (id, task))

struct TaskReply {
  TaskRecord task;
};
BOOST_DESCRIBE_STRUCT(TaskReply, (), (task))

struct TaskList {
  std::vector<TaskRecord> tasks;
  std::int64_t total = 0;
  std::int64_t page = 1;
  std::int64_t limit = 20;
};
BOOST_DESCRIBE_STRUCT(TaskList, (), (tasks, total, page, limit))

struct TaskStats {
  std::int64_t total = 0;
  std::map<std::string, std::int64_t> by_status;
  std::map<std::string, std::int64_t> by_priority;
  double completion_rate = 0;
};
BOOST_DESCRIBE_STRUCT(TaskStats, (), (total, by_status, by_priority, completion_rate))

}  // namespace aether::task_manager
