#include <gtest/gtest.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "run_sync.hpp"
#include "svckit/error.hpp"
#include "svckit/http/handler.hpp"
#include "svckit/metrics/http_metrics.hpp"
#include "svckit/metrics/registry.hpp"

using svckit::Task;
using svckit::http::Handler;
using svckit::http::Middleware;
using svckit::http::Request;
using svckit::http::Response;

namespace {

Middleware recording(std::vector<std::string>& log, std::string name) {
  return [&log, name](Request& req, const Handler& next) -> Task<Response> {
    log.push_back(name + " in");
    auto r = co_await next(req);
    log.push_back(name + " out");
    co_return r;
  };
}

Request make_request(std::string target = "/x") {
  return Request(svckit::http::Method::get, "GET", std::move(target), {}, "");
}

// A route that throws `error`, behind `mws`.
template <class E>
Handler throwing_behind(std::vector<Middleware> mws, E error) {
  return svckit::http::chain(mws, [error](Request&) -> Task<Response> {
    throw error;
    co_return Response::text(200, "unreachable");
  });
}

}  // namespace

TEST(Middleware, RunsOutermostFirstAndUnwindsInReverse) {
  std::vector<std::string> log;
  std::vector<Middleware> mws = {recording(log, "a"), recording(log, "b")};
  Handler h = svckit::http::chain(mws, [&log](Request&) -> Task<Response> {
    log.push_back("handler");
    co_return Response::text(200, "ok");
  });
  auto req = make_request();
  auto res = run_sync(h(req));
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(log, (std::vector<std::string>{"a in", "b in", "handler", "b out", "a out"}));
}

TEST(Middleware, CanShortCircuit) {
  std::vector<Middleware> mws = {
      [](Request&, const Handler&) -> Task<Response> { co_return Response::text(403, "no"); }};
  bool called = false;
  Handler h = svckit::http::chain(mws, [&](Request&) -> Task<Response> {
    called = true;
    co_return Response::text(200, "ok");
  });
  auto req = make_request();
  EXPECT_EQ(run_sync(h(req)).status, 403);
  EXPECT_FALSE(called);
}

TEST(Middleware, ProblemResponsesTurnErrorsIntoProblemJson) {
  Handler h = throwing_behind({svckit::http::problem_responses()},
                              svckit::ValidationError("title", "must not be empty"));
  auto req = make_request("/api/v1/tasks?x=1");
  req.context().set_request("rid-1", svckit::trace::TraceContext::start(), nullptr);
  auto res = run_sync(h(req));
  EXPECT_EQ(res.status, 422);
  EXPECT_EQ(res.content_type, "application/problem+json");
  auto body = nlohmann::json::parse(res.body);
  EXPECT_EQ(body["status"], 422);
  EXPECT_EQ(body["request_id"], "rid-1");
  EXPECT_EQ(body["instance"], "/api/v1/tasks");
  EXPECT_EQ(body["errors"][0]["field"], "title");
  EXPECT_EQ(body["errors"][0]["message"], "must not be empty");
}

TEST(Middleware, UnknownExceptionsBecome500WithoutDetail) {
  Handler h = throwing_behind({svckit::http::problem_responses()},
                              std::runtime_error("secret connection string"));
  auto req = make_request();
  auto res = run_sync(h(req));
  EXPECT_EQ(res.status, 500);
  EXPECT_EQ(res.body.find("secret"), std::string::npos);
}

// App installs only the metrics middleware outermost: it must answer a thrown error itself, and
// count the status the client gets, not a 500.
TEST(Middleware, HttpMetricsAnswerAThrownErrorAndCountItsStatus) {
  svckit::metrics::Registry registry;
  svckit::metrics::HttpMetrics metrics(registry);
  Handler h = throwing_behind({metrics.middleware()}, svckit::NotFound("no task 7"));
  auto req = make_request("/api/v1/tasks/7");
  req.context().set_request("rid-2", svckit::trace::TraceContext::start(), nullptr);
  auto res = run_sync(h(req));
  EXPECT_EQ(res.status, 404);
  EXPECT_EQ(res.content_type, "application/problem+json");
  EXPECT_EQ(nlohmann::json::parse(res.body)["request_id"], "rid-2");
  auto text = registry.render();
  EXPECT_NE(text.find(R"(http_requests_total{handler="none",method="GET",status="4xx"} 1)"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find(R"(status="5xx")"), std::string::npos) << text;
}

// Each I/O thread counts into cells of its own; a scrape sums them into one series per label set.
TEST(Middleware, HttpMetricsSumWhatEveryThreadCounted) {
  svckit::metrics::Registry registry;
  svckit::metrics::HttpMetrics metrics(registry);
  std::vector<Middleware> mws = {metrics.middleware()};
  Handler h = svckit::http::chain(
      mws, [](Request&) -> Task<Response> { co_return Response::text(201, "made"); });
  auto serve = [&h] {
    for (int i = 0; i < 100; ++i) {
      auto req = make_request("/things");
      run_sync(h(req));
    }
  };
  std::thread a(serve), b(serve);
  a.join();
  b.join();
  metrics.started("/things", "GET");  // the Python bindings' way, into the same series
  metrics.finished("/things", "GET", 201, 0.001, 0, 4);
  auto text = registry.render();
  EXPECT_NE(text.find(R"(http_requests_total{handler="none",method="GET",status="2xx"} 200)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(http_requests_total{handler="/things",method="GET",status="2xx"} 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(http_requests_inprogress{handler="none",method="GET"} 0)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(http_request_duration_seconds_count{handler="none",method="GET"} 200)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find(R"(http_response_size_bytes_sum{handler="none"} 800)"), std::string::npos)
      << text;
  EXPECT_EQ(text.find("# TYPE http_requests_total counter"),
            text.rfind("# TYPE http_requests_total counter"));  // one family, not one per thread
}

TEST(Problem, CarriesStatusHeaders) {
  auto r = Response::problem(svckit::MethodNotAllowed("no", "GET, PUT"), "id", "/p");
  ASSERT_NE(r.header("allow"), nullptr);
  EXPECT_EQ(*r.header("Allow"), "GET, PUT");
  auto t = Response::problem(svckit::TooManyRequests("slow down", 7), "id", "/p");
  ASSERT_NE(t.header("Retry-After"), nullptr);
  EXPECT_EQ(*t.header("Retry-After"), "7");
  auto body = nlohmann::json::parse(t.body);
  EXPECT_EQ(body["title"], "Too Many Requests");
  EXPECT_EQ(body["type"], "about:blank");
  EXPECT_EQ(body["detail"], "slow down");
}
