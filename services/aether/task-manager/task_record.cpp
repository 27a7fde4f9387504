#include "task_record.hpp"

namespace aether::task_manager {

void TaskRecord::rules(svckit::model::Rules<TaskRecord>& r) {
  client_field_rules(r);
  r.field(&TaskRecord::id).format("uuid");
  r.field(&TaskRecord::created_at).format("date-time");
  r.field(&TaskRecord::updated_at).format("date-time");
  r.field(&TaskRecord::completed_at).format("date-time");
}

}  // namespace aether::task_manager
