#include "task_manager.hpp"

#include <cmath>

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/ids.hpp>

namespace aether::task_manager {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

// {"task": {...}}, plus "id" first when asked (the create response).
Response task_response(int status, const TaskRecord& task, bool with_id = false) {
  svckit::JsonWriter out;
  out.begin_object();
  if (with_id) out.field("id", task.id);
  out.key("task");
  task.write_json(out);
  out.end_object();
  return Response::json_text(status, out.take());
}

svckit::NotFound task_not_found(const std::string& id) {
  return svckit::NotFound("task '" + id + "' not found");
}

std::optional<std::string> enum_filter(const Request& req, const char* name,
                                       std::span<const std::string_view> allowed) {
  auto value = req.query_param(name);
  if (value) svckit::http::require_one_of(name, *value, allowed);
  return value;
}

}  // namespace

void TaskManager::declare(svckit::Settings& settings) {
  // 0 when several replicas share one database: the cache trusts that this process makes every
  // change.
  settings.declare("task-manager",
                   {.name = "TASK_CACHE_ENTRIES",
                    .type = svckit::SettingType::integer,
                    .default_value = "10000",
                    .min = 0,
                    .max = 10'000'000,
                    .help = "tasks kept in memory for reads by id (0 with shared databases)"});
}

void TaskManager::install(svckit::App& app) {
  auto cache_entries = app.settings().integer("TASK_CACHE_ENTRIES");
  store_ = std::make_unique<TaskStore>(app.database("task-manager"),
                                       static_cast<std::size_t>(cache_entries));
  store_->migrate();
  auto& created = app.metrics().counter("tasks_created_total", "Tasks created, by priority.");
  TaskStore& store = *store_;
  // Events after each change is committed (seed 000 §4.3): task.created, task.completed, and
  // task.updated / task.deleted for consumers that keep a copy.
  svckit::bus::Bus& bus = app.bus();

  // Every task route needs a token (JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE, JWKS_FILE or JWKS_URL,
  // as the Security Service signs them): reads need tasks:read, changes tasks:write.
  auto auth = svckit::required_bearer_options_from_settings(app, "the Task Manager");
  auto tasks = app.http().group("/api/v1/tasks", {svckit::auth::bearer(std::move(auth))});
  auto read = svckit::auth::require("tasks:read");
  auto write = svckit::auth::require("tasks:write");

  tasks.post("/", write, [&store, &created, &bus](Request& req) -> Task<Response> {
    auto input = TaskInput::for_create(req.json_object());
    std::optional<std::string> user;
    if (!req.user_id().empty()) user = req.user_id();
    auto task = co_await store.create(std::move(input), std::move(user));
    created.Add({{"priority", task.priority}}).Increment();
    req.log(svckit::log::Level::info, "task created", {{"task_id", task.id}});
    nlohmann::json event = {{"task_id", task.id},
                            {"title", task.title},
                            {"priority", task.priority},
                            {"created_by", task.created_by.value_or("")},
                            {"timestamp", task.created_at}};
    co_await bus.publish("task.created", std::move(event), &req.context());
    co_return task_response(201, task, /*with_id=*/true);
  });

  tasks.get("/", read, [&store](Request& req) -> Task<Response> {
    TaskFilter filter;
    filter.status = enum_filter(req, "status", kStatuses);
    filter.priority = enum_filter(req, "priority", kPriorities);
    filter.category = req.query_param("category");
    filter.page = svckit::http::query_int("page", req.query_param("page"), 1, 1, 1'000'000);
    filter.limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
    auto page = co_await store.list(filter);
    svckit::JsonWriter out;
    out.begin_object().key("tasks").begin_array();
    for (const auto& t : page.tasks) t.write_json(out);
    out.end_array()
        .field("total", page.total)
        .field("page", filter.page)
        .field("limit", filter.limit)
        .end_object();
    co_return Response::json_text(200, out.take());
  });

  tasks.get("/stats", read, [&store](Request&) -> Task<Response> {
    auto s = co_await store.stats();
    std::int64_t completed = s.by_status["completed"];
    double rate =
        s.total == 0 ? 0.0 : static_cast<double>(completed) / static_cast<double>(s.total);
    co_return Response::json(200, {{"total", s.total},
                                   {"by_status", s.by_status},
                                   {"by_priority", s.by_priority},
                                   {"completion_rate", std::round(rate * 10000) / 10000}});
  });

  tasks.get("/{id}", read, [&store](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto task = co_await store.find(id);
    if (!task) throw task_not_found(id);
    co_return task_response(200, *task);
  });

  tasks.put("/{id}", write, [&store, &bus](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto input = TaskInput::for_update(req.json_object());
    auto task = co_await store.update(id, std::move(input));
    if (!task) throw task_not_found(id);
    nlohmann::json event = {{"task_id", task->id},         {"title", task->title},
                            {"status", task->status},      {"priority", task->priority},
                            {"updated_by", req.user_id()}, {"timestamp", task->updated_at}};
    co_await bus.publish("task.updated", std::move(event), &req.context());
    co_return task_response(200, *task);
  });

  tasks.del("/{id}", write, [&store, &bus](Request& req) -> Task<Response> {
    auto id = req.param("id");
    if (!co_await store.remove(id)) throw task_not_found(id);
    nlohmann::json event = {
        {"task_id", id}, {"deleted_by", req.user_id()}, {"timestamp", svckit::utc_now_iso8601()}};
    co_await bus.publish("task.deleted", std::move(event), &req.context());
    co_return Response::json(200, {{"success", true}});
  });

  tasks.post("/{id}/complete", write, [&store, &bus](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto task = co_await store.complete(id);
    if (!task) throw task_not_found(id);
    auto completed_at = task->completed_at.value_or(task->updated_at);
    nlohmann::json event = {{"task_id", task->id},
                            {"completed_by", req.user_id()},
                            {"completion_time", completed_at},
                            {"timestamp", svckit::utc_now_iso8601()}};
    co_await bus.publish("task.completed", std::move(event), &req.context());
    co_return task_response(200, *task);
  });
}

}  // namespace aether::task_manager
