#include "task_record.hpp"

#include <svckit/error.hpp>

namespace aether::task_manager {
namespace {

using svckit::http::JsonBody;

constexpr std::size_t kMaxTitle = 200;
constexpr std::size_t kMaxDescription = 10000;
constexpr std::size_t kMaxCategory = 100;

TaskInput read_common(const JsonBody& body) {
  TaskInput in;
  in.title = body.optional_string("title");
  if (in.title) svckit::http::require_length("title", *in.title, 1, kMaxTitle);
  in.description = body.optional_string("description");
  if (in.description)
    svckit::http::require_length("description", *in.description, 0, kMaxDescription);
  in.priority = body.optional_string("priority");
  if (in.priority) svckit::http::require_one_of("priority", *in.priority, kPriorities);
  in.category = body.optional_string("category");
  if (in.category) svckit::http::require_length("category", *in.category, 0, kMaxCategory);
  in.due_date = body.optional_string("due_date");
  if (in.due_date) svckit::http::require_iso8601("due_date", *in.due_date);
  return in;
}

}  // namespace

void TaskRecord::write_json(svckit::JsonWriter& out) const {
  out.begin_object()
      .field("id", id)
      .field("title", title)
      .field("description", description)
      .field("priority", priority)
      .field("status", status)
      .field("category", category)
      .field("due_date", due_date)
      .field("created_by", created_by)
      .field("created_at", created_at)
      .field("updated_at", updated_at)
      .field("completed_at", completed_at)
      .end_object();
}

TaskInput TaskInput::for_create(const JsonBody& body) {
  if (!body.has("title")) throw svckit::ValidationError("title", "field required");
  TaskInput in = read_common(body);
  if (body.has("status")) {
    auto status = body.optional_string("status");
    svckit::http::require_one_of("status", *status, kStatuses);
    in.status = status;
  }
  return in;
}

TaskInput TaskInput::for_update(const JsonBody& body) {
  TaskInput in = read_common(body);
  in.status = body.optional_string("status");
  if (in.status) svckit::http::require_one_of("status", *in.status, kStatuses);
  return in;
}

}  // namespace aether::task_manager
