#include "task_manager.hpp"

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/app/idempotency.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

namespace aether::task_manager {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

svckit::NotFound task_not_found(const std::string& id) {
  return svckit::NotFound("task '" + id + "' not found");
}

}  // namespace

void TaskManager::declare(svckit::Settings& settings) {
  // The cache trusts that this process makes every change: right for a SQLite file of its own,
  // wrong for replicas sharing a PostgreSQL database, so there it is off unless asked for.
  settings.declare("task-manager",
                   {.name = "TASK_CACHE_ENTRIES",
                    .type = svckit::SettingType::integer,
                    .min = 0,
                    .max = 10'000'000,
                    .help = "tasks kept in memory for reads by id (default: 10000 on SQLite, 0 "
                            "on a shared database)"});
}

void TaskManager::install(svckit::App& app) {
  auto& db = app.database("task-manager");
  bool shared = db.backend() != "sqlite";
  std::int64_t entries = app.settings().is_set("TASK_CACHE_ENTRIES")
                             ? app.settings().integer("TASK_CACHE_ENTRIES")
                             : (shared ? 0 : 10000);
  if (shared && entries > 0)
    app.logger().warning(
        "TASK_CACHE_ENTRIES on a shared database: another replica's change is not seen here "
        "until the entry is evicted",
        {{"entries", entries}});
  // Each change commits with its event (task.created, task.updated, task.completed,
  // task.deleted: seed 000 §4.3); the outbox's relay publishes them.
  store_ = std::make_unique<TaskStore>(db, app.outbox("task-manager"),
                                       static_cast<std::size_t>(entries));
  store_->migrate();
  created_ = &app.metrics().counter("tasks_created_total", "Tasks created, by priority.");

  // Every task route needs a token (JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE, JWKS_FILE or JWKS_URL,
  // as the Security Service signs them): reads need tasks:read, changes tasks:write.
  auto auth = svckit::required_bearer_options_from_settings(app, "the Task Manager");
  // A client that retries a POST with its Idempotency-Key gets the task it made, not a second.
  auto tasks = app.http().group("/api/v1/tasks",
                                {svckit::auth::bearer(std::move(auth)), svckit::idempotency(app)});
  auto read = svckit::auth::require("tasks:read");
  auto write = svckit::auth::require("tasks:write");
  using svckit::http::bind;
  auto whole = [](int min, int max) {
    return nlohmann::json{{"type", "integer"}, {"minimum", min}, {"maximum", max}};
  };
  tasks.post("/", write, bind(this, &TaskManager::create))
      .summary("Create a task")
      .accepts<NewTask>()
      .returns<TaskCreated>(201);
  tasks.get("/", read, bind(this, &TaskManager::list))
      .summary("List tasks, newest first")
      .query("status", "only tasks in this status", svckit::http::one_of_schema(kStatuses))
      .query("priority", "only tasks of this priority", svckit::http::one_of_schema(kPriorities))
      .query("category", "only tasks in this category")
      .query("page", "the page, from 1 (default 1)", whole(1, 1'000'000))
      .query("limit", "tasks per page (default 20)", whole(1, 100))
      .returns<TaskList>()
      .errors({422});
  tasks.get("/stats", read, bind(this, &TaskManager::stats))
      .summary("Tasks by status and priority")
      .returns<TaskStats>();
  tasks.get("/{id}", read, bind(this, &TaskManager::get)).summary("A task").returns<TaskReply>();
  tasks.put("/{id}", write, bind(this, &TaskManager::update))
      .summary("Change a task: the fields present")
      .accepts<TaskChanges>()
      .returns<TaskReply>();
  tasks.del("/{id}", write, bind(this, &TaskManager::remove)).summary("Delete a task");
  tasks.post("/{id}/complete", write, bind(this, &TaskManager::complete))
      .summary("Complete a task (completing it again changes nothing)")
      .returns<TaskReply>();
}

Task<Response> TaskManager::create(Request& req) {
  // Named first: GCC 12 may destroy a temporary argument of a coroutine twice when another
  // argument throws (a 422 from json<>()).
  auto input = req.json<NewTask>();
  auto task = co_await store_->create(std::move(input), req.context());
  created_->Add({{"priority", task.priority}}).Increment();
  req.log(svckit::log::Level::info, "task created", {{"task_id", task.id}});
  TaskCreated answer{task.id, std::move(task)};
  co_return svckit::http::json_response(201, answer);
}

Task<Response> TaskManager::list(Request& req) {
  TaskFilter filter;
  filter.status = svckit::http::query_one_of("status", req.query_param("status"), kStatuses);
  filter.priority =
      svckit::http::query_one_of("priority", req.query_param("priority"), kPriorities);
  filter.category = req.query_param("category");
  filter.page = svckit::http::query_int("page", req.query_param("page"), 1, 1, 1'000'000);
  filter.limit = svckit::http::query_int("limit", req.query_param("limit"), 20, 1, 100);
  auto page = co_await store_->list(filter);
  co_return svckit::http::json_response(200, page);
}

Task<Response> TaskManager::stats(Request&) {
  auto stats = co_await store_->stats();
  co_return svckit::http::json_response(200, stats);
}

Task<Response> TaskManager::get(Request& req) {
  auto id = req.param("id");
  auto task = co_await store_->find(id);
  if (!task) throw task_not_found(id);
  TaskReply answer{std::move(*task)};
  co_return svckit::http::json_response(200, answer);
}

Task<Response> TaskManager::update(Request& req) {
  auto id = req.param("id");
  auto changes = req.json<TaskChanges>();
  auto task = co_await store_->update(id, std::move(changes), req.context());
  if (!task) throw task_not_found(id);
  TaskReply answer{std::move(*task)};
  co_return svckit::http::json_response(200, answer);
}

Task<Response> TaskManager::remove(Request& req) {
  auto id = req.param("id");
  if (!co_await store_->remove(id, req.context())) throw task_not_found(id);
  co_return Response::json(200, {{"success", true}});
}

Task<Response> TaskManager::complete(Request& req) {
  auto id = req.param("id");
  auto task = co_await store_->complete(id, req.context());
  if (!task) throw task_not_found(id);
  TaskReply answer{std::move(*task)};
  co_return svckit::http::json_response(200, answer);
}

}  // namespace aether::task_manager
