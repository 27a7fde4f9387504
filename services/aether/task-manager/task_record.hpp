#pragma once
// A task as the Task Manager stores and returns it (seed 000 §4.2.3).
#include <array>
#include <optional>
#include <string>

#include <svckit/http/json_body.hpp>
#include <svckit/json_writer.hpp>

namespace aether::task_manager {

struct TaskRecord {
  std::string id;
  std::string title;
  std::string description;
  std::string priority = "medium";
  std::string status = "pending";
  std::optional<std::string> category;
  std::optional<std::string> due_date;
  std::optional<std::string> created_by;
  std::string created_at;
  std::string updated_at;
  std::optional<std::string> completed_at;

  void write_json(svckit::JsonWriter& out) const;
};

// The fields a client may set. Absent fields are nullopt; each present one was validated.
struct TaskInput {
  std::optional<std::string> title;
  std::optional<std::string> description;
  std::optional<std::string> priority;
  std::optional<std::string> status;
  std::optional<std::string> category;
  std::optional<std::string> due_date;

  // POST: title is required.
  static TaskInput for_create(const svckit::http::JsonBody& body);
  // PUT: every field optional.
  static TaskInput for_update(const svckit::http::JsonBody& body);
};

inline constexpr std::array<std::string_view, 4> kPriorities = {"low", "medium", "high", "urgent"};
inline constexpr std::array<std::string_view, 3> kStatuses = {"pending", "in_progress",
                                                              "completed"};

}  // namespace aether::task_manager
