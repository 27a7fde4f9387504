#include <gtest/gtest.h>

#include <thread>

#include "run_sync.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/revocations.hpp"
#include "svckit/ids.hpp"
#include "svckit/kv/store.hpp"
#include "test_databases.hpp"

using namespace svckit::auth;
using svckit::Task;
using svckit::http::Handler;
using svckit::http::Middleware;
using svckit::http::Request;
using svckit::http::Response;

namespace {

const Key kKey = Key::hmac(Algorithm::HS256, std::string(32, 'k'));

std::string token(nlohmann::json claims) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  claims["exp"] = now + 60;
  if (!claims.contains("type")) claims["type"] = "access";
  return sign(claims, kKey);
}

BearerOptions options() {
  BearerOptions o;
  VerifyOptions v;
  v.token_type = "access";
  o.verifier = std::make_shared<Verifier>(KeySet{kKey}, v);
  o.api_keys = [](std::string key) -> Task<std::optional<Principal>> {
    if (key != "sk_test_good") co_return std::nullopt;
    co_return Principal{"svc-analytics", "", {"developer"}, {"tasks:read"}, "api_key"};
  };
  return o;
}

// Runs a request with these headers through bearer(), require(permission), and a handler that
// answers with the principal's id. Returns the status and the response (or the thrown Error).
struct Outcome {
  int status = 0;
  std::string body;
  std::string www_authenticate;
};

Outcome run(std::vector<Request::Header> headers, std::string permission = "tasks:read",
            BearerOptions o = options()) {
  std::vector<Middleware> mws = {svckit::http::problem_responses(), bearer(std::move(o)),
                                 require(permission)};
  Handler h = svckit::http::chain(mws, [](Request& req) -> Task<Response> {
    co_return Response::text(200, principal(req)->id + " " + req.user_id());
  });
  Request req(svckit::http::Method::get, "GET", "/x", std::move(headers), "");
  auto res = run_sync(h(req));
  Outcome out{res.status, res.body, ""};
  for (auto& [k, v] : res.headers)
    if (k == "WWW-Authenticate") out.www_authenticate = v;
  return out;
}

}  // namespace

TEST(AuthMiddleware, AcceptsATokenAndAttachesThePrincipal) {
  auto out = run({{"Authorization", "Bearer " + token({{"sub", "u-1"}, {"roles", {"guest"}}})}});
  EXPECT_EQ(out.status, 200);
  EXPECT_EQ(out.body, "u-1 u-1");  // the principal, and the id in the request's log context
}

TEST(AuthMiddleware, RolesAndCarriedPermissionsBothCount) {
  EXPECT_EQ(run({{"Authorization", "Bearer " + token({{"sub", "u"}, {"roles", {"user"}}})}},
                "tasks:write")
                .status,
            200);
  EXPECT_EQ(run({{"Authorization", "Bearer " + token({{"sub", "u"}, {"roles", {"guest"}}})}},
                "tasks:write")
                .status,
            403);
  EXPECT_EQ(
      run({{"Authorization", "Bearer " + token({{"sub", "u"}, {"permissions", {"tasks:write"}}})}},
          "tasks:write")
          .status,
      200);
  EXPECT_EQ(run({{"Authorization", "Bearer " + token({{"sub", "u"}, {"roles", {"admin"}}})}},
                "anything:at-all")
                .status,
            200);
}

TEST(AuthMiddleware, AnswersMissingAndBadCredentialsWith401) {
  auto none = run({});
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.www_authenticate, "Bearer");  // no credentials: no error attribute (RFC 6750)
  for (const std::string& authorization :
       {std::string("Basic dTpw"), std::string("Bearer"), std::string("Bearer not.a.token"),
        "Bearer " + token({{"sub", "u"}, {"type", "refresh"}}),
        "Bearer " + token({{"roles", {"admin"}}}),              // no subject
        "Bearer " + token({{"sub", "u"}, {"roles", "admin"}}),  // roles not a list
        "Bearer " + sign({{"sub", "u"}, {"exp", 1}, {"type", "access"}}, kKey)}) {
    auto out = run({{"Authorization", authorization}});
    EXPECT_EQ(out.status, 401) << authorization;
    EXPECT_EQ(out.www_authenticate, "Bearer error=\"invalid_token\"") << authorization;
  }
}

TEST(AuthMiddleware, InsufficientScopeIs403) {
  auto out = run({{"Authorization", "Bearer " + token({{"sub", "u"}, {"roles", {"guest"}}})}},
                 "tasks:write");
  EXPECT_EQ(out.status, 403);
  EXPECT_EQ(out.www_authenticate, "Bearer error=\"insufficient_scope\", scope=\"tasks:write\"");
}

TEST(AuthMiddleware, ApiKeys) {
  EXPECT_EQ(run({{"X-API-Key", "sk_test_good"}}).body, "svc-analytics svc-analytics");
  EXPECT_EQ(run({{"X-API-Key", "sk_test_bad"}}).status, 401);
  EXPECT_EQ(run({{"X-API-Key", std::string(1000, 'k')}}).status, 401);
  auto no_keys = options();
  no_keys.api_keys = nullptr;  // API keys not accepted: the header is not credentials
  EXPECT_EQ(run({{"X-API-Key", "sk_test_good"}}, "tasks:read", no_keys).status, 401);
}

TEST(Roles, ParseAndWildcards) {
  auto roles = RolePermissions::parse("ops=metrics:*,logs:read; viewer = tasks:read");
  auto p = roles.permissions_of({"ops", "viewer", "unknown"});
  EXPECT_EQ(p, (std::vector<std::string>{"metrics:*", "logs:read", "tasks:read"}));
  Principal who{"u", "", {}, p, "jwt"};
  EXPECT_TRUE(who.has("metrics:cpu"));
  EXPECT_TRUE(who.has("tasks:read"));
  EXPECT_FALSE(who.has("tasks:write"));
  EXPECT_FALSE(who.has("metrics"));
  EXPECT_THROW(RolePermissions::parse("nope"), std::invalid_argument);
  EXPECT_THROW(RolePermissions::parse("a=b c"), std::invalid_argument);
  EXPECT_TRUE(RolePermissions::defaults().knows("guest"));
}

TEST(Roles, CertificateRolesByIdentityWithAWildcard) {
  auto roles = CertificateRoles::parse("spiffe://aether/orders=user,developer; billing=guest");
  EXPECT_EQ(roles.roles_of("spiffe://aether/orders"),
            (std::vector<std::string>{"user", "developer"}));
  EXPECT_TRUE(roles.roles_of("someone-else").empty());
  EXPECT_EQ(CertificateRoles::parse("billing=guest;*=user").roles_of("x"),
            std::vector<std::string>{"user"});
  EXPECT_TRUE(CertificateRoles::parse("").roles_of("x").empty());
  for (const char* bad : {"no-equals", "=user", "a b=user", "x=bad role", "x=us;er"})
    EXPECT_THROW(CertificateRoles::parse(bad), std::invalid_argument) << bad;
}

// A verified client certificate authenticates a request without other credentials; a token or
// API key in the request wins over it.
TEST(AuthMiddleware, ClientCertificates) {
  auto o = options();
  o.certificate_roles = CertificateRoles::parse("spiffe://aether/orders=user");
  auto run_with = [&](std::vector<Request::Header> headers, std::string permission,
                      std::shared_ptr<svckit::http::ClientCertificate> cert) {
    std::vector<Middleware> mws = {svckit::http::problem_responses(), bearer(o),
                                   require(permission)};
    Handler h = svckit::http::chain(mws, [](Request& req) -> Task<Response> {
      co_return Response::text(200, principal(req)->id + " " + principal(req)->method);
    });
    Request req(svckit::http::Method::get, "GET", "/x", std::move(headers), "");
    req.set_client_certificate(std::move(cert));
    auto res = run_sync(h(req));
    return std::to_string(res.status) + " " + (res.status == 200 ? res.body : "");
  };
  auto orders = std::make_shared<svckit::http::ClientCertificate>();
  orders->subject = "CN=orders,O=aether";
  orders->common_name = "orders";
  orders->uris = {"spiffe://aether/orders"};
  EXPECT_EQ(run_with({}, "tasks:write", orders), "200 spiffe://aether/orders mtls");
  auto cn_only = std::make_shared<svckit::http::ClientCertificate>();
  cn_only->subject = "CN=billing";
  cn_only->common_name = "billing";
  EXPECT_EQ(run_with({}, "tasks:read", cn_only), "403 ");  // authenticated, but no roles
  EXPECT_EQ(run_with({}, "tasks:read", nullptr), "401 ");
  auto user = token({{"sub", "u-9"}, {"roles", {"guest"}}});
  EXPECT_EQ(run_with({{"Authorization", "Bearer " + user}}, "tasks:read", orders), "200 u-9 jwt");
  EXPECT_EQ(run_with({{"Authorization", "Bearer bad"}}, "tasks:read", orders), "401 ");
}

// Verified tokens are remembered, but never past their "exp".
TEST(AuthMiddleware, RemembersVerifiedTokensOnlyUntilTheyExpire) {
  auto o = options();
  VerifyOptions strict;
  strict.token_type = "access";
  strict.leeway = std::chrono::seconds(0);
  o.verifier = std::make_shared<Verifier>(KeySet{kKey}, strict);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  auto short_lived =
      sign({{"sub", "u"}, {"roles", {"guest"}}, {"type", "access"}, {"exp", now + 2}}, kKey);
  std::vector<Request::Header> headers = {{"Authorization", "Bearer " + short_lived}};
  std::vector<Middleware> mws = {svckit::http::problem_responses(), bearer(o),
                                 require("tasks:read")};
  Handler h = svckit::http::chain(
      mws, [](Request& req) -> Task<Response> { co_return Response::text(200, req.user_id()); });
  auto call = [&] {
    Request req(svckit::http::Method::get, "GET", "/x", headers, "");
    return run_sync(h(req)).status;
  };
  EXPECT_EQ(call(), 200);
  EXPECT_EQ(call(), 200);  // from the cache
  EXPECT_EQ(call(), 200);  // from this thread's own copy
  std::this_thread::sleep_for(std::chrono::milliseconds(2100));
  EXPECT_EQ(call(), 401);  // expired: neither the cache nor the verifier takes it
}

// Each thread remembers its last tokens per Authenticator: one that trusts another key never
// takes a token another Authenticator verified on the same thread.
TEST(Authenticator, RemembersTokensPerAuthenticatorAndGivesEachThreadItsOwnPrincipal) {
  Authenticator trusting(options());
  auto other = options();
  other.verifier = std::make_shared<Verifier>(
      KeySet{Key::hmac(Algorithm::HS256, std::string(32, 'x'))}, VerifyOptions{});
  Authenticator strict(std::move(other));
  auto bearer_value = "Bearer " + token({{"sub", "u-7"}, {"roles", {"guest"}}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(trusting.from_authorization(bearer_value)->id, "u-7");
  for (int i = 0; i < 3; ++i)
    EXPECT_THROW(strict.from_authorization(bearer_value), svckit::Error);  // not its key
  SharedPrincipal here = trusting.from_authorization(bearer_value);
  SharedPrincipal there;
  std::thread([&] {
    for (int i = 0; i < 3; ++i) there = trusting.from_authorization(bearer_value);
  }).join();
  ASSERT_TRUE(there);
  EXPECT_NE(here.get(), there.get());  // no reference count both threads write
  EXPECT_EQ(there->id, "u-7");
  EXPECT_EQ(there->roles, here->roles);
  EXPECT_EQ(there->permissions, here->permissions);
}

// A revoked token is refused from the next request on, although its signature still holds and
// its principal is remembered; other tokens of the same user still work.
TEST(AuthMiddleware, RevokedTokensAreRefusedEvenWhenRemembered) {
  auto store = svckit::kv::open_store("memory://");
  svckit::auth::Revocations revoked(*store);
  auto o = options();
  o.revocations = &revoked;
  auto jti = svckit::uuid_v4();
  auto one = token({{"sub", "u-1"}, {"roles", {"guest"}}, {"jti", jti}});
  auto other = token({{"sub", "u-1"}, {"roles", {"guest"}}, {"jti", svckit::uuid_v4()}});
  EXPECT_EQ(run({{"Authorization", "Bearer " + one}}, "tasks:read", o).status, 200);
  EXPECT_EQ(run({{"Authorization", "Bearer " + one}}, "tasks:read", o).status, 200);  // cached
  run_sync(revoked.revoke(jti, std::chrono::system_clock::now() + std::chrono::minutes(1)));
  auto out = run({{"Authorization", "Bearer " + one}}, "tasks:read", o);
  EXPECT_EQ(out.status, 401);
  EXPECT_NE(out.body.find("revoked"), std::string::npos) << out.body;
  EXPECT_EQ(run({{"Authorization", "Bearer " + other}}, "tasks:read", o).status, 200);
  // An entry past its expiry is not kept: the token's own exp refuses it by then.
  run_sync(revoked.revoke("gone", std::chrono::system_clock::now() - std::chrono::seconds(1)));
  EXPECT_EQ(revoked.size(), 1u);
}

// Anyone who can publish on the revocation channel can send anything: malformed announcements
// revoke nothing and break nothing; a well-formed one still arrives.
TEST(Revocations, MalformedAnnouncementsRevokeNothing) {
  LoopThread loop;
  auto store = svckit::kv::open_store(test_redis_url(), {.loops = {&loop.context()}});
  svckit::auth::Revocations revoked(*store);
  auto future_ms = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::system_clock::now().time_since_epoch())
                                      .count() +
                                  60'000);
  auto good = svckit::uuid_v4();
  for (int i = 0; i < 200 && !revoked.revoked(good); ++i) {
    for (const char* hostile : {"no-space", "id not-a-number", "id -5", "", " ", "id 1e400"})
      loop.run(store->publish("svckit:revocations", hostile));
    loop.run(store->publish("svckit:revocations", std::string(64 << 10, 'x') + " 1"));
    loop.run(store->publish("svckit:revocations", good + " " + future_ms));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // until subscribed
  }
  EXPECT_TRUE(revoked.revoked(good));
  EXPECT_EQ(revoked.size(), 1u);
  for (const char* id : {"no-space", "id", "", "x"}) EXPECT_FALSE(revoked.revoked(id)) << id;
}
