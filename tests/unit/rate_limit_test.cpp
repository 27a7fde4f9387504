#include <gtest/gtest.h>

#include <thread>

#include "run_sync.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/rate_limit.hpp"
#include "svckit/ids.hpp"
#include "svckit/kv/store.hpp"
#include "svckit/metrics/registry.hpp"
#include "test_databases.hpp"

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

// The bound is measured by what the limiter remembers: every one of 1000 clients spends its only
// token (no refill within the test), then all call again. A remembered client is refused; a
// forgotten one starts over. Unbounded, all 1000 would be refused.
TEST(RateLimit, StaysWithinItsClientBound) {
  auto h = limited({rate_limit({.limit = 1, .window = std::chrono::hours(1), .max_clients = 32})});
  auto client = [](int i) {
    return "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
  };
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(call(h, client(i)).status, 200);
  EXPECT_EQ(call(h, client(999)).status, 429);  // it limits: the latest client is remembered
  int remembered = 0;
  for (int i = 0; i < 1000; ++i) remembered += call(h, client(i)).status == 429;
  EXPECT_LE(remembered, 32);
}

// Shared limits: two limiters on one store are two replicas of a service behind one balancer.
namespace {

Answer call_on(LoopThread& loop, const Handler& h, std::string ip) {
  Request req(svckit::http::Method::get, "GET", "/x", {}, "");
  req.set_remote_address(std::move(ip));
  auto res = loop.run(h(req));
  Answer a{res.status, {}};
  for (auto& [k, v] : res.headers) a.headers[k] = v;
  for (auto& [k, v] : req.answer_headers()) a.headers.emplace(std::string(k.view()), v);
  return a;
}

}  // namespace

TEST(RateLimit, TwoReplicasOnOneStoreAllowTheLimitTogether) {
  LoopThread loop;
  auto store = svckit::kv::open_store(test_redis_url(), {.loops = {&loop.context()}});
  RateLimitOptions options{.limit = 10,
                           .window = std::chrono::seconds(60),
                           .store = store.get(),
                           .name = "test-" + svckit::uuid_v4()};
  auto replica_a = limited({rate_limit(options)});
  auto replica_b = limited({rate_limit(options)});
  int allowed = 0;
  std::vector<std::string> remaining;
  for (int i = 0; i < 20; ++i) {
    auto a = call_on(loop, i % 2 ? replica_b : replica_a, "10.0.0.9");
    if (a.status == 200) {
      ++allowed;
      remaining.push_back(a.headers["RateLimit-Remaining"]);
    } else {
      EXPECT_EQ(a.status, 429);
      EXPECT_EQ(a.headers["Retry-After"], "6");  // one token per 6 s
    }
  }
  EXPECT_EQ(allowed, 10) << "not 10 per replica";
  EXPECT_EQ(remaining.front(), "9");
  EXPECT_EQ(remaining.back(), "0");
  EXPECT_EQ(call_on(loop, replica_a, "10.0.0.10").status, 200) << "another client, its own bucket";
}

TEST(RateLimit, WhenTheStoreIsAwayGeneralLimitsLetThroughAndThrottlesLimitLocally) {
  LoopThread loop;
  svckit::metrics::Registry registry;
  auto away = svckit::kv::open_store("redis://127.0.0.1:1", {.loops = {&loop.context()}});
  auto general = limited({rate_limit({.limit = 1,
                                      .store = away.get(),
                                      .name = "general",
                                      .when_store_away = StoreAway::allow,
                                      .meter = &registry})});
  auto login = limited({rate_limit({.limit = 1,
                                    .store = away.get(),
                                    .name = "login",
                                    .when_store_away = StoreAway::limit_locally,
                                    .meter = &registry})});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(call_on(loop, general, "10.0.0.1").status, 200);
  EXPECT_EQ(call_on(loop, login, "10.0.0.1").status, 200);
  EXPECT_EQ(call_on(loop, login, "10.0.0.1").status, 429) << "never no limit at all";
  auto text = registry.render();
  EXPECT_NE(text.find("rate_limit_store_unavailable_total{limiter=\"general\",policy=\"allow\"} 3"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("rate_limit_store_unavailable_total{limiter=\"login\",policy=\"local\"} 2"),
            std::string::npos)
      << text;
}

TEST(RateLimit, AStoreNeedsANamePerLimiter) {
  auto store = svckit::kv::open_store(test_redis_url());
  EXPECT_THROW(rate_limit({.store = store.get()}), std::logic_error);
  auto memory = svckit::kv::open_store("memory://");
  EXPECT_NO_THROW(rate_limit({.store = memory.get()})) << "in-process: this process's buckets";
}

// Tokens leased a batch at a time: the store is asked once per batch, and two replicas together
// admit the limit less at most a batch each, never more.
TEST(RateLimit, LeasedBatchesNeverAdmitMoreThanTheLimit) {
  LoopThread loop;
  auto store = svckit::kv::open_store(test_redis_url(), {.loops = {&loop.context()}});
  RateLimitOptions options{.limit = 1000,
                           .window = std::chrono::seconds(3600),
                           .store = store.get(),
                           .name = "test-" + svckit::uuid_v4(),
                           .shared_lease = 0.01};
  auto replica_a = limited({rate_limit(options)});
  auto replica_b = limited({rate_limit(options)});
  int allowed = 0;
  for (int i = 0; i < 1300; ++i)
    allowed += call_on(loop, i % 3 ? replica_b : replica_a, "10.0.0.9").status == 200;
  EXPECT_LE(allowed, 1000 + 1) << "one token refills in 3.6 s";
  EXPECT_GE(allowed, 1000 - 2 * 10);
}

// A lease a slow client does not use up is given back: its bucket is not drained by leases.
TEST(RateLimit, UnusedLeasedTokensAreGivenBack) {
  LoopThread loop;
  auto store = svckit::kv::open_store(test_redis_url(), {.loops = {&loop.context()}});
  auto h = limited({rate_limit({.limit = 1000,
                                .window = std::chrono::seconds(3600),
                                .store = store.get(),
                                .name = "test-" + svckit::uuid_v4(),
                                .shared_lease = 0.01})});
  EXPECT_EQ(call_on(loop, h, "10.0.0.7").headers["RateLimit-Remaining"], "999");
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // the lease (1 s) expires
  // 9 leased tokens went back, 10 more were leased, 1 used: 998 left, not 989.
  EXPECT_EQ(call_on(loop, h, "10.0.0.7").headers["RateLimit-Remaining"], "998");
}
