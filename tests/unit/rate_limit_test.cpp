#include <gtest/gtest.h>

#include "run_sync.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/rate_limit.hpp"

using namespace svckit::auth;
using svckit::Task;
using svckit::http::Handler;
using svckit::http::Request;
using svckit::http::Response;

namespace {

struct Answer {
  int status;
  std::map<std::string, std::string> headers;
};

Answer call(const Handler& h, std::string ip, std::vector<Request::Header> headers = {}) {
  Request req(svckit::http::Method::get, "GET", "/x", std::move(headers), "");
  req.set_remote_address(std::move(ip));
  auto res = run_sync(h(req));
  Answer a{res.status, {}};
  for (auto& [k, v] : res.headers) a.headers[k] = v;
  // What the server writes after the response's own headers (the limiter's are set there).
  for (auto& [k, v] : req.answer_headers()) a.headers.emplace(std::string(k.view()), v);
  return a;
}

Handler limited(std::vector<svckit::http::Middleware> mws) {
  mws.insert(mws.begin(), svckit::http::problem_responses());
  return svckit::http::chain(
      mws, [](Request&) -> Task<Response> { co_return Response::text(200, "ok"); });
}

}  // namespace

TEST(RateLimit, CountsDownThenAnswers429WithRetryAfter) {
  auto h = limited({rate_limit({.limit = 3, .window = std::chrono::seconds(60)})});
  for (int remaining : {2, 1, 0}) {
    auto a = call(h, "10.0.0.1");
    EXPECT_EQ(a.status, 200);
    EXPECT_EQ(a.headers["RateLimit-Limit"], "3");
    EXPECT_EQ(a.headers["RateLimit-Remaining"], std::to_string(remaining));
  }
  auto over = call(h, "10.0.0.1");
  EXPECT_EQ(over.status, 429);
  EXPECT_EQ(over.headers["Retry-After"], "20");  // one token per 20 s
  EXPECT_EQ(over.headers["RateLimit-Remaining"], "0");
  EXPECT_EQ(over.headers["RateLimit-Reset"], "60");
  EXPECT_EQ(call(h, "10.0.0.2").status, 200);  // another client has its own bucket
}

TEST(RateLimit, KongsHeadersNameTheWindowsPeriod) {
  auto h =
      limited({rate_limit({.limit = 2, .window = std::chrono::seconds(60), .kong_headers = true})});
  auto a = call(h, "10.0.0.1");
  EXPECT_EQ(a.headers["X-RateLimit-Limit-Minute"], "2");
  EXPECT_EQ(a.headers["X-RateLimit-Remaining-Minute"], "1");
  call(h, "10.0.0.1");
  auto over = call(h, "10.0.0.1");
  EXPECT_EQ(over.status, 429);
  EXPECT_EQ(over.headers["X-RateLimit-Remaining-Minute"], "0");
  auto hourly = limited(
      {rate_limit({.limit = 5, .window = std::chrono::seconds(3600), .kong_headers = true})});
  EXPECT_EQ(call(hourly, "10.0.0.1").headers["X-RateLimit-Limit-Hour"], "5");
  auto odd =
      limited({rate_limit({.limit = 5, .window = std::chrono::seconds(90), .kong_headers = true})});
  EXPECT_EQ(call(odd, "10.0.0.1").headers.count("X-RateLimit-Limit-Minute"), 0u);  // no Kong name
  auto plain = limited({rate_limit({.limit = 5})});
  EXPECT_EQ(call(plain, "10.0.0.1").headers.count("X-RateLimit-Limit-Minute"), 0u);
}

TEST(RateLimit, KeysByApiKeyOrPrincipal) {
  auto by_key = limited({rate_limit({.limit = 1, .key = RateKey::api_key})});
  EXPECT_EQ(call(by_key, "10.0.0.1", {{"X-API-Key", "sk_a"}}).status, 200);
  EXPECT_EQ(call(by_key, "10.0.0.2", {{"X-API-Key", "sk_a"}}).status, 429);  // same key, any IP
  EXPECT_EQ(call(by_key, "10.0.0.1", {{"X-API-Key", "sk_b"}}).status, 200);

  BearerOptions o;
  o.api_keys = [](std::string key) -> Task<std::optional<Principal>> {
    co_return Principal{key == "sk_x" || key == "sk_y" ? "same-user" : key, "", {}, {}, "api_key"};
  };
  auto by_user = limited({bearer(o), rate_limit({.limit = 1, .key = RateKey::principal})});
  EXPECT_EQ(call(by_user, "10.0.0.1", {{"X-API-Key", "sk_x"}}).status, 200);
  EXPECT_EQ(call(by_user, "10.0.0.9", {{"X-API-Key", "sk_y"}}).status, 429);  // same user
}

// Before bearer(), requests that fail authentication spend tokens too.
TEST(RateLimit, FailedAuthenticationsCount) {
  BearerOptions o;
  o.api_keys = [](std::string) -> Task<std::optional<Principal>> { co_return std::nullopt; };
  auto h = limited({rate_limit({.limit = 2}), bearer(o)});
  EXPECT_EQ(call(h, "10.0.0.1", {{"X-API-Key", "wrong"}}).status, 401);
  EXPECT_EQ(call(h, "10.0.0.1", {{"X-API-Key", "wrong"}}).status, 401);
  EXPECT_EQ(call(h, "10.0.0.1", {{"X-API-Key", "wrong"}}).status, 429);  // no lookup at all now
}

// Nested limiters (per client, then per route): the answer reports the one closest to refusing,
// and Kong's headers of different periods stand side by side.
TEST(RateLimit, NestedLimitersReportTheTighterOne) {
  auto h =
      limited({rate_limit({.limit = 100, .window = std::chrono::seconds(60), .kong_headers = true}),
               rate_limit({.limit = 3, .window = std::chrono::seconds(1), .kong_headers = true})});
  auto a = call(h, "10.0.0.1");
  EXPECT_EQ(a.headers["RateLimit-Limit"], "3");
  EXPECT_EQ(a.headers["RateLimit-Remaining"], "2");
  EXPECT_EQ(a.headers["X-RateLimit-Remaining-Minute"], "99");
  EXPECT_EQ(a.headers["X-RateLimit-Remaining-Second"], "2");
  auto outer_tighter = limited({rate_limit({.limit = 2}), rate_limit({.limit = 50})});
  auto b = call(outer_tighter, "10.0.0.1");
  EXPECT_EQ(b.headers["RateLimit-Limit"], "2");
  EXPECT_EQ(b.headers["RateLimit-Remaining"], "1");
}

// A handler that sets a rate-limit header of its own keeps it: the server leaves the request's
// copy out (see ServerAnswerHeaders in client_test.cpp for the wire).
TEST(RateLimit, AnErrorAfterTheLimiterStillCarriesItsHeaders) {
  std::vector<svckit::http::Middleware> mws{svckit::http::problem_responses(),
                                            rate_limit({.limit = 5})};
  auto h = svckit::http::chain(mws, [](Request&) -> Task<Response> {
    throw svckit::Conflict("taken");
    co_return Response::text(200, "never");
  });
  auto a = call(h, "10.0.0.1");
  EXPECT_EQ(a.status, 409);
  EXPECT_EQ(a.headers["RateLimit-Remaining"], "4");
}

TEST(RateLimit, StaysWithinItsClientBound) {
  auto h = limited({rate_limit({.limit = 1, .max_clients = 32})});
  for (int i = 0; i < 1000; ++i)
    EXPECT_EQ(call(h, "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250)).status,
              200);
}
