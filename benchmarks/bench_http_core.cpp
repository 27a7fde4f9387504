// Hot paths of the HTTP layer: route matching and building a JSON response.
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>
#include <svckit/http/router.hpp>
#include <svckit/json_reader.hpp>

using svckit::Task;
using svckit::http::Method;
using svckit::http::Request;
using svckit::http::Response;
using svckit::http::Router;

namespace {

Router task_manager_routes() {
  Router r;
  auto ok = [](Request&) -> Task<Response> { co_return Response::empty(); };
  for (auto p :
       {"/health", "/health/live", "/health/ready", "/health/startup", "/ready", "/metrics"})
    r.add(Method::get, p, ok);
  r.add(Method::get, "/api/v1/tasks", ok);
  r.add(Method::post, "/api/v1/tasks", ok);
  r.add(Method::get, "/api/v1/tasks/stats", ok);
  r.add(Method::get, "/api/v1/tasks/{id}", ok);
  r.add(Method::put, "/api/v1/tasks/{id}", ok);
  r.add(Method::del, "/api/v1/tasks/{id}", ok);
  r.add(Method::post, "/api/v1/tasks/{id}/complete", ok);
  return r;
}

void BM_RouteLiteral(benchmark::State& state) {
  auto r = task_manager_routes();
  for (auto _ : state) benchmark::DoNotOptimize(r.match(Method::get, "/health"));
}
BENCHMARK(BM_RouteLiteral);

void BM_RouteWithParameter(benchmark::State& state) {
  auto r = task_manager_routes();
  for (auto _ : state)
    benchmark::DoNotOptimize(
        r.match(Method::post, "/api/v1/tasks/3f2b8c1e-9d4a-4c7b-8e1f-2a3b4c5d6e7f/complete"));
}
BENCHMARK(BM_RouteWithParameter);

void BM_RouteNotFound(benchmark::State& state) {
  auto r = task_manager_routes();
  for (auto _ : state) benchmark::DoNotOptimize(r.match(Method::get, "/api/v2/unknown/path"));
}
BENCHMARK(BM_RouteNotFound);

void BM_JsonHealthResponse(benchmark::State& state) {
  for (auto _ : state) {
    auto r = Response::json(
        200, {{"status", "UP"}, {"service", "task-manager"}, {"checks", nlohmann::json::object()}});
    benchmark::DoNotOptimize(r.body.data());
  }
}
BENCHMARK(BM_JsonHealthResponse);

void BM_JsonTaskResponse(benchmark::State& state) {
  for (auto _ : state) {
    nlohmann::json task = {{"id", "3f2b8c1e-9d4a-4c7b-8e1f-2a3b4c5d6e7f"},
                           {"title", "Write the quarterly report"},
                           {"description", "Numbers from finance, charts from analytics"},
                           {"priority", "high"},
                           {"status", "pending"},
                           {"category", "work"},
                           {"due_date", "2025-12-01T09:00:00Z"},
                           {"created_by", nullptr},
                           {"created_at", "2025-11-24T03:26:05.096Z"},
                           {"updated_at", "2025-11-24T03:26:05.096Z"},
                           {"completed_at", nullptr}};
    auto r = Response::json(200, {{"task", std::move(task)}});
    benchmark::DoNotOptimize(r.body.data());
  }
}
BENCHMARK(BM_JsonTaskResponse);

}  // namespace

// A request body as APIs get them (an OFREP context, a task), read by nlohmann's parser and by
// svckit::read_json (what Request::json uses).
const std::string kBody =
    R"({"context":{"targetingKey":"user-4711","plan":"free","email":"ann@example.com","app":"2.3.1",)"
    R"("roles":["user","beta"],"age":42,"score":0.75}})";

void BM_ParseBodyNlohmann(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(kBody));
}
BENCHMARK(BM_ParseBodyNlohmann);

void BM_ParseBodyReadJson(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(svckit::read_json(kBody));
}
BENCHMARK(BM_ParseBodyReadJson);

BENCHMARK_MAIN();
