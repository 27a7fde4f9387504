#include "task_manager.hpp"

#include <cmath>

#include <svckit/app/app.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>

namespace aether::task_manager {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

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

void TaskManager::install(svckit::App& app) {
  store_ = std::make_unique<TaskStore>(app.database("task-manager"));
  store_->migrate();
  auto& created = app.metrics().counter("tasks_created_total", "Tasks created, by priority.");
  TaskStore& store = *store_;

  auto tasks = app.http().group("/api/v1/tasks");

  tasks.post("/", [&store, &created](Request& req) -> Task<Response> {
    auto input = TaskInput::for_create(req.json_object());
    std::optional<std::string> user;
    if (!req.user_id().empty()) user = req.user_id();
    auto task = co_await store.create(std::move(input), std::move(user));
    created.Add({{"priority", task.priority}}).Increment();
    req.log(svckit::log::Level::info, "task created", {{"task_id", task.id}});
    co_return Response::json(201, {{"id", task.id}, {"task", task.to_json()}});
  });

  tasks.get("/", [&store](Request& req) -> Task<Response> {
    TaskFilter filter;
    filter.status = enum_filter(req, "status", kStatuses);
    filter.priority = enum_filter(req, "priority", kPriorities);
    filter.category = req.query_param("category");
    filter.page = svckit::http::query_int("page", req.query_param("page"), 1, 1, 1'000'000);
    filter.limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
    auto page = co_await store.list(filter);
    nlohmann::json items = nlohmann::json::array();
    for (const auto& t : page.tasks) items.push_back(t.to_json());
    co_return Response::json(200, {{"tasks", std::move(items)},
                                   {"total", page.total},
                                   {"page", filter.page},
                                   {"limit", filter.limit}});
  });

  tasks.get("/stats", [&store](Request&) -> Task<Response> {
    auto s = co_await store.stats();
    std::int64_t completed = s.by_status["completed"];
    double rate =
        s.total == 0 ? 0.0 : static_cast<double>(completed) / static_cast<double>(s.total);
    co_return Response::json(200, {{"total", s.total},
                                   {"by_status", s.by_status},
                                   {"by_priority", s.by_priority},
                                   {"completion_rate", std::round(rate * 10000) / 10000}});
  });

  tasks.get("/{id}", [&store](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto task = co_await store.find(id);
    if (!task) throw task_not_found(id);
    co_return Response::json(200, {{"task", task->to_json()}});
  });

  tasks.put("/{id}", [&store](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto input = TaskInput::for_update(req.json_object());
    auto task = co_await store.update(id, std::move(input));
    if (!task) throw task_not_found(id);
    co_return Response::json(200, {{"task", task->to_json()}});
  });

  tasks.del("/{id}", [&store](Request& req) -> Task<Response> {
    auto id = req.param("id");
    if (!co_await store.remove(id)) throw task_not_found(id);
    co_return Response::json(200, {{"success", true}});
  });

  tasks.post("/{id}/complete", [&store](Request& req) -> Task<Response> {
    auto id = req.param("id");
    auto task = co_await store.complete(id);
    if (!task) throw task_not_found(id);
    co_return Response::json(200, {{"task", task->to_json()}});
  });
}

}  // namespace aether::task_manager
