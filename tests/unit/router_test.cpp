#include <gtest/gtest.h>

#include "svckit/http/percent_encode.hpp"
#include "svckit/http/router.hpp"

using svckit::Task;
using svckit::http::Method;
using svckit::http::Request;
using svckit::http::Response;
using svckit::http::Router;

namespace {

svckit::http::Handler ok() {
  return [](Request&) -> Task<Response> { co_return Response::text(200, "ok"); };
}

Router task_routes() {
  Router r;
  r.add(Method::get, "/api/v1/tasks", ok());
  r.add(Method::post, "/api/v1/tasks/", ok());
  r.add(Method::get, "/api/v1/tasks/stats", ok());
  r.add(Method::get, "/api/v1/tasks/{id}", ok());
  r.add(Method::put, "/api/v1/tasks/{id}", ok());
  r.add(Method::del, "/api/v1/tasks/{id}", ok());
  r.add(Method::post, "/api/v1/tasks/{id}/complete", ok());
  r.add(Method::get, "/", ok());
  return r;
}

}  // namespace

TEST(Router, MatchesLiteralRoutes) {
  auto r = task_routes();
  auto m = r.match(Method::get, "/api/v1/tasks");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/api/v1/tasks");
  EXPECT_TRUE(m.params.empty());
  EXPECT_EQ(r.match(Method::get, "/").outcome, Router::Outcome::found);
}

TEST(Router, TrailingSlashIsIgnored) {
  auto r = task_routes();
  EXPECT_EQ(r.match(Method::get, "/api/v1/tasks/").outcome, Router::Outcome::found);
  auto m = r.match(Method::post, "/api/v1/tasks");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/api/v1/tasks");
}

TEST(Router, ExtractsParameters) {
  auto r = task_routes();
  auto m = r.match(Method::post, "/api/v1/tasks/abc-123/complete");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/api/v1/tasks/{id}/complete");
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0].first, "id");
  EXPECT_EQ(m.params[0].second, "abc-123");
}

TEST(Router, LiteralWinsOverParameter) {
  auto r = task_routes();
  auto m = r.match(Method::get, "/api/v1/tasks/stats");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/api/v1/tasks/stats");
}

TEST(Router, FallsBackToParameterWhenTheLiteralHasNoSuchMethod) {
  auto r = task_routes();
  auto m = r.match(Method::del, "/api/v1/tasks/stats");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/api/v1/tasks/{id}");
}

TEST(Router, BacktracksAcrossBranches) {
  Router r;
  r.add(Method::get, "/a/b/c", ok());
  r.add(Method::get, "/{x}/b/d", ok());
  auto m = r.match(Method::get, "/a/b/d");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/{x}/b/d");
  EXPECT_EQ(m.params.at(0).second, "a");
}

TEST(Router, UnknownPathIsNotFound) {
  auto r = task_routes();
  EXPECT_EQ(r.match(Method::get, "/api/v2/tasks").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r.match(Method::get, "/api/v1/tasks/1/2/3").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r.match(Method::get, "/api/v1/tasks//complete").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r.match(Method::get, "").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r.match(Method::get, "*").outcome, Router::Outcome::not_found);
  EXPECT_EQ(r.match(Method::get, "http://x/api").outcome, Router::Outcome::not_found);
}

TEST(Router, WrongMethodIsMethodNotAllowedWithAllow) {
  auto r = task_routes();
  auto m = r.match(Method::patch, "/api/v1/tasks/42");
  EXPECT_EQ(m.outcome, Router::Outcome::method_not_allowed);
  EXPECT_EQ(m.allow, "GET, HEAD, PUT, DELETE");
  EXPECT_TRUE(m.params.empty());
}

TEST(Router, HeadUsesTheGetRoute) {
  auto r = task_routes();
  auto m = r.match(Method::head, "/api/v1/tasks/7");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->method, Method::get);
}

TEST(Router, RejectsBadPatterns) {
  Router r;
  EXPECT_THROW(r.add(Method::get, "no-slash", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::get, "/a//b", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::get, "/{bad name}", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::get, "/{}", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::get, "/a{b}", ok()), std::invalid_argument);
  r.add(Method::get, "/t/{id}", ok());
  EXPECT_THROW(r.add(Method::get, "/t/{id}", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::put, "/t/{task_id}", ok()), std::invalid_argument);
}

// The server builds a request and moves it into place; a short target lives in the string's
// own buffer, so views taken before the move would dangle.
TEST(Request, PercentEncodingKeepsUnreservedAndWhatItIsToldAndRoundTrips) {
  using svckit::http::percent_decode;
  using svckit::http::percent_encode;
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
  EXPECT_EQ(percent_encode("notes/plan v1.txt", "/"), "notes/plan%20v1.txt");
  EXPECT_EQ(percent_encode(std::string("\0\xff", 2)), "%00%FF");
  std::string every;
  for (int c = 0; c < 256; ++c) every += static_cast<char>(c);
  EXPECT_EQ(percent_decode(percent_encode(every), false), every);
}

TEST(Request, PathAndQuerySurviveAMove) {
  svckit::http::Request built(svckit::http::Method::get, "GET", "/a?b=1", {}, "");
  svckit::http::Request moved;
  moved = std::move(built);
  EXPECT_EQ(moved.path(), "/a");
  EXPECT_EQ(moved.query(), "b=1");
  EXPECT_EQ(moved.query_param("b"), "1");
  svckit::http::Request plain(svckit::http::Method::get, "GET", "/tasks", {}, "");
  EXPECT_EQ(plain.path(), "/tasks");
  EXPECT_EQ(plain.query(), "");
}

// Headers are views into the request's own block of them: a copy gets its own (and its route
// parameters point into its own target), a move keeps them, whatever the original does next.
TEST(Request, CopiesAndMovesKeepTheirHeadersAndParameters) {
  using svckit::http::Request;
  auto r = task_routes();
  std::string long_value = "Bearer " + std::string(200, 'x');
  auto original = std::make_unique<Request>(
      Method::get, "GET", "/api/v1/tasks/42",
      std::vector<Request::Header>{{"Host", "h"}, {"Authorization", long_value}, {"X-A", ""}}, "");
  auto m = r.match(Method::get, original->path());
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  original->set_route(m.route, m.params);
  Request copy = *original;
  original.reset();
  EXPECT_EQ(copy.header("authorization"), long_value);
  EXPECT_EQ(copy.header("Host"), "h");
  EXPECT_EQ(copy.header("X-A"), "");
  EXPECT_EQ(copy.param("id"), "42");
  Request moved;
  moved = std::move(copy);
  ASSERT_EQ(moved.headers().size(), 3u);
  EXPECT_EQ(moved.headers()[1].first, "Authorization");
  EXPECT_EQ(moved.headers()[1].second, long_value);
  EXPECT_EQ(moved.param("id"), "42");
  Request assigned;
  assigned = moved;
  moved = Request();
  EXPECT_EQ(assigned.header("Authorization"), long_value);
  EXPECT_EQ(assigned.param("id"), "42");
}

TEST(Router, ARestParameterTakesTheRestOfThePath) {
  Router r;
  r.add(Method::get, "/{bucket}", ok());
  r.add(Method::get, "/{bucket}/{key...}", ok());
  r.add(Method::get, "/health", ok());
  auto m = r.match(Method::get, "/photos/2026/12/cat.png");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.route->pattern, "/{bucket}/{key...}");
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0].second, "photos");
  EXPECT_EQ(m.params[1].first, "key");
  EXPECT_EQ(m.params[1].second, "2026/12/cat.png");
  m = r.match(Method::get, "/photos/cat.png");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.params[1].second, "cat.png");
  EXPECT_EQ(r.match(Method::get, "/photos").route->pattern, "/{bucket}");
  EXPECT_EQ(r.match(Method::get, "/health").route->pattern, "/health");  // a literal still wins
  EXPECT_EQ(r.match(Method::put, "/photos/a/b").outcome, Router::Outcome::method_not_allowed);
}

TEST(Router, ARestParameterMustBeLast) {
  Router r;
  EXPECT_THROW(r.add(Method::get, "/{key...}/x", ok()), std::invalid_argument);
  EXPECT_THROW(r.add(Method::get, "/{...}", ok()), std::invalid_argument);
  r.add(Method::get, "/a/{key...}", ok());
  EXPECT_THROW(r.add(Method::put, "/a/{other...}", ok()), std::invalid_argument);
}

TEST(Router, ARestParameterKeepsATrailingSlashAndALeadingOne) {
  Router r;
  r.add(Method::put, "/{bucket}/{key...}", ok());
  auto m = r.match(Method::put, "/b/photos/");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.params[1].second, "photos/");  // a folder marker is not the object "photos"
  m = r.match(Method::put, "/b//x");
  ASSERT_EQ(m.outcome, Router::Outcome::found);
  EXPECT_EQ(m.params[1].second, "/x");
}
