// svckit::grpc: the server hosted in a running App (a real port, real gRPC clients: svckit's own
// Channel and gRPC's generated stubs) and the resilient Channel against it and against nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "run_sync.hpp"
#include "svckit/app/app.hpp"
#include "svckit/app/grpc.hpp"
#include "svckit/auth/grpc.hpp"
#include "svckit/auth/jwt.hpp"
#include "svckit/grpc/channel.hpp"
#include "svckit/test/echo.grpc.pb.h"
#include "svckit/testing/test_app.hpp"

using namespace std::chrono_literals;
using svckit::Task;
using svckit::grpc::Call;
using svckit::grpc::Reply;
using svckit::grpc::RpcError;
using svckit::grpc::Writer;
using svckit::test::CountRequest;
using svckit::test::SayReply;
using svckit::test::SayRequest;

namespace {

const svckit::auth::Key kKey =
    svckit::auth::Key::hmac(svckit::auth::Algorithm::HS256, std::string(32, 'k'));

std::string token(nlohmann::json claims) {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  claims["exp"] = now + 60;
  claims["type"] = "access";
  return svckit::auth::sign(claims, kKey);
}

svckit::auth::BearerOptions bearer() {
  svckit::auth::BearerOptions o;
  svckit::auth::VerifyOptions v;
  v.token_type = "access";
  o.verifier = std::make_shared<svckit::auth::Verifier>(svckit::auth::KeySet{kKey}, v);
  o.api_keys = [](std::string key) -> Task<std::optional<svckit::auth::Principal>> {
    if (key != "sk_test_good") co_return std::nullopt;
    co_return svckit::auth::Principal{"svc-analytics", "", {}, {"echo:say"}, "api_key"};
  };
  return o;
}

Task<bool> sleep_for(std::chrono::milliseconds ms) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, ms);
  auto [ec] = co_await t.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return !ec;
}

SayReply echo(const Call& call, const SayRequest& req) {
  if (req.fail() == "validation") throw svckit::ValidationError("text", "must not say that");
  if (req.fail() == "internal") throw std::runtime_error("secret internals");
  if (req.fail().starts_with("status:"))
    throw svckit::grpc::StatusError(static_cast<grpc::StatusCode>(std::stoi(req.fail().substr(7))),
                                    "as asked");
  SayReply r;
  r.set_text(req.text());
  r.set_request_id(call.request_id());
  r.set_trace_id(call.trace().trace_id);
  r.set_parent_span_id(call.trace().parent_span_id);
  const auto* who = svckit::auth::principal(call.context());
  r.set_user(who ? who->id : "");
  r.set_deadline_ms(call.deadline().is_set() ? call.deadline().remaining().count() : -1);
  return r;
}

// What the handlers saw, for the test to look at.
struct Observed {
  std::atomic<int> later_cancelled{0};
  std::atomic<int> later_finished{0};
  std::mutex mutex;
  std::map<std::string, int> flaky_calls;
};

struct EchoModule : svckit::Module {
  Observed& seen;
  bool with_auth;
  explicit EchoModule(Observed& s, bool auth) : seen(s), with_auth(auth) {}

  void install(svckit::App& app) override {
    auto& rpc = svckit::grpc::server(app);
    auto echo_service = rpc.service(
        "svckit.test.Echo", with_auth ? svckit::auth::grpc_authentication(bearer()) : nullptr);
    svckit::grpc::MethodOptions say;
    if (with_auth) say.permission = "echo:say";
    echo_service
        .unary<SayRequest, SayReply>(
            "Say",
            [](Call& call, const SayRequest& req) -> Reply<SayReply> { return echo(call, req); },
            say)
        .unary<SayRequest, SayReply>(
            "SayLater",
            [this](Call& call, const SayRequest& req) -> Task<SayReply> {
              if (!co_await sleep_for(std::chrono::milliseconds(req.wait_ms()))) {
                ++seen.later_cancelled;
                throw std::runtime_error("cancelled while waiting");
              }
              ++seen.later_finished;
              co_return echo(call, req);
            })
        .unary<SayRequest, SayReply>("Flaky",
                                     [this](Call& call, const SayRequest& req) -> Reply<SayReply> {
                                       int attempt;
                                       {
                                         std::lock_guard lock(seen.mutex);
                                         attempt = ++seen.flaky_calls[req.key()];
                                       }
                                       if (attempt <= req.fail_first())
                                         throw svckit::grpc::StatusError(
                                             grpc::StatusCode::UNAVAILABLE, "not yet");
                                       auto r = echo(call, req);
                                       r.set_attempt(attempt);
                                       return r;
                                     })
        .server_streaming<CountRequest, SayReply>(
            "Count", [](Call&, const CountRequest& req, Writer<SayReply>& out) -> Task<void> {
              for (int i = 1; i <= req.n(); ++i) {
                SayReply r;
                r.set_text(std::to_string(i));
                if (req.size() > 0) r.mutable_text()->resize(req.size(), '.');
                if (!co_await out.write(r)) co_return;
                if (req.interval_ms() > 0)
                  co_await sleep_for(std::chrono::milliseconds(req.interval_ms()));
              }
            });
  }
};

// An App serving the Echo service on free ports, run on its own thread until destroyed.
class RunningApp {
 public:
  RunningApp(Observed& seen, bool with_auth, std::map<std::string, std::string> env = {}) {
    env.insert({{"THREADS", "2"}, {"DRAIN_TIMEOUT", "3s"}});
    app_ = std::make_unique<svckit::testing::TestApp>("grpc-test", env);
    app_->install<EchoModule>(seen, with_auth);
    app_->start();
  }
  int stop() { return app_->stop(); }
  std::string address() {
    return "127.0.0.1:" + std::to_string(svckit::grpc::server(app()).port());
  }
  svckit::App& app() { return app_->app(); }

 private:
  std::unique_ptr<svckit::testing::TestApp> app_;
};

SayRequest say(std::string text) {
  SayRequest r;
  r.set_text(std::move(text));
  return r;
}

// A generated stub on a plain channel, to see what any gRPC client sees.
std::unique_ptr<svckit::test::Echo::Stub> stub(const std::string& address) {
  return svckit::test::Echo::NewStub(
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
}

grpc::Status call_say(const std::string& address, const SayRequest& req, SayReply& reply,
                      std::vector<std::pair<std::string, std::string>> metadata = {}) {
  grpc::ClientContext ctx;
  for (auto& [k, v] : metadata) ctx.AddMetadata(k, v);
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  return stub(address)->Say(&ctx, req, &reply);
}

TEST(GrpcServer, AnswersOnItsOwnThreadAndThroughATaskWithTheCallersIdsAndDeadline) {
  Observed seen;
  RunningApp app(seen, false);
  LoopThread loop;
  svckit::grpc::Channel channel(app.address(), {.name = "echo"});
  svckit::Context incoming(
      "req-77", svckit::trace::TraceContext::continue_from(
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", std::nullopt));
  for (const char* method : {"/svckit.test.Echo/Say", "/svckit.test.Echo/SayLater"}) {
    auto reply = loop.run(channel.unary<SayRequest, SayReply>(
        method, say("hi"), {.context = &incoming, .deadline = svckit::Deadline::after(3s)}));
    EXPECT_EQ(reply.text(), "hi") << method;
    EXPECT_EQ(reply.request_id(), "req-77") << method;
    EXPECT_EQ(reply.trace_id(), "0af7651916cd43dd8448eb211c80319c") << method;
    EXPECT_EQ(reply.parent_span_id().size(), 16u) << "a new span of the caller's";
    EXPECT_NE(reply.parent_span_id(), "b7ad6b7169203331") << "the channel made a span of its own";
    EXPECT_GT(reply.deadline_ms(), 2000) << method;
    EXPECT_LE(reply.deadline_ms(), 3100) << method << ": grpc-timeout rounds up a little";
  }
  // Without a request id, the server makes one; a call that fails says which in its trailing
  // metadata (successful ones do not: a new value per call costs gRPC's HPACK encoder dearly).
  grpc::ClientContext ctx;
  SayReply reply;
  ASSERT_TRUE(stub(app.address())->Say(&ctx, say("x"), &reply).ok());
  EXPECT_EQ(reply.request_id().size(), 32u);
  EXPECT_EQ(reply.deadline_ms(), -1) << "no deadline sent, none seen";
  grpc::ClientContext failing;
  auto invalid = say("x");
  invalid.set_fail("validation");
  ASSERT_FALSE(stub(app.address())->Say(&failing, invalid, &reply).ok());
  auto rid = failing.GetServerTrailingMetadata().find("x-request-id");
  ASSERT_NE(rid, failing.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(rid->second.data(), rid->second.size()).size(), 32u);
  // A request id that is not sane is replaced (log injection, cardinality), as over HTTP.
  for (std::string hostile : {std::string("id with spaces; and=more"), std::string(200, 'a')}) {
    ASSERT_TRUE(call_say(app.address(), say("x"), reply, {{"x-request-id", hostile}}).ok());
    EXPECT_NE(reply.request_id(), hostile);
    EXPECT_EQ(reply.request_id().size(), 32u);
  }
}

TEST(GrpcServer, ErrorsBecomeStatusesAndInternalsStayInside) {
  Observed seen;
  RunningApp app(seen, false);
  SayReply reply;
  auto req = say("x");
  req.set_fail("validation");
  auto s = call_say(app.address(), req, reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("text"), std::string::npos) << s.error_message();
  req.set_fail("internal");
  s = call_say(app.address(), req, reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(s.error_message(), "internal error");
  req.set_fail("status:9");
  s = call_say(app.address(), req, reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  // A method nobody registered.
  grpc::ClientContext ctx;
  auto generic =
      grpc::GenericStub(grpc::CreateChannel(app.address(), grpc::InsecureChannelCredentials()));
  grpc::ByteBuffer in, out;
  grpc::CompletionQueue cq;
  auto unknown = generic.PrepareUnaryCall(&ctx, "/svckit.test.Echo/Nope", in, &cq);
  unknown->StartCall();
  grpc::Status status;
  unknown->Finish(&out, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  // Garbage instead of a SayRequest.
  grpc::ClientContext ctx2;
  grpc::Slice junk(std::string("\xff\xff\xff\xff\x0f garbage", 13));
  grpc::ByteBuffer bad(&junk, 1);
  auto garbage = generic.PrepareUnaryCall(&ctx2, "/svckit.test.Echo/Say", bad, &cq);
  garbage->StartCall();
  grpc::Status garbage_status;
  garbage->Finish(&out, &garbage_status, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok));
  EXPECT_EQ(tag, reinterpret_cast<void*>(2));
  EXPECT_EQ(garbage_status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(garbage_status.error_message(), "the request is not a valid svckit.test.SayRequest");
  // Still serving.
  EXPECT_TRUE(call_say(app.address(), say("still"), reply).ok());
}

TEST(GrpcServer, AuthenticatesLikeHttpAndChecksTheMethodsPermission) {
  Observed seen;
  RunningApp app(seen, true);
  SayReply reply;
  auto none = call_say(app.address(), say("x"), reply);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto forged = call_say(app.address(), say("x"), reply, {{"authorization", "Bearer not.a.jwt"}});
  EXPECT_EQ(forged.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto basic = call_say(app.address(), say("x"), reply, {{"authorization", "Basic dTpw"}});
  EXPECT_EQ(basic.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  auto other_key = svckit::auth::sign(
      {{"sub", "u1"}, {"type", "access"}, {"exp", 4102444800}},
      svckit::auth::Key::hmac(svckit::auth::Algorithm::HS256, std::string(32, 'x')));
  EXPECT_EQ(call_say(app.address(), say("x"), reply, {{"authorization", "Bearer " + other_key}})
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  auto no_permission = token({{"sub", "u1"}, {"roles", {"guest"}}});
  auto denied =
      call_say(app.address(), say("x"), reply, {{"authorization", "Bearer " + no_permission}});
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("echo:say"), std::string::npos);
  auto allowed = token({{"sub", "u2"}, {"permissions", {"echo:say"}}});
  ASSERT_TRUE(
      call_say(app.address(), say("x"), reply, {{"authorization", "Bearer " + allowed}}).ok());
  EXPECT_EQ(reply.user(), "u2");
  // An API key is looked up (on an I/O loop) and its principal's permissions count.
  ASSERT_TRUE(call_say(app.address(), say("x"), reply, {{"x-api-key", "sk_test_good"}}).ok());
  EXPECT_EQ(reply.user(), "svc-analytics");
  EXPECT_EQ(call_say(app.address(), say("x"), reply, {{"x-api-key", "sk_test_bad"}}).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // The health service needs no credentials: probes have none.
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(app.address(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hres;
  ASSERT_TRUE(health->Check(&ctx, hreq, &hres).ok());
  EXPECT_EQ(hres.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST(GrpcServer, StreamsAndStopsWhenTheClientGoesAway) {
  Observed seen;
  RunningApp app(seen, false);
  {
    grpc::ClientContext ctx;
    CountRequest req;
    req.set_n(5);
    auto reader = stub(app.address())->Count(&ctx, req);
    SayReply r;
    std::vector<std::string> got;
    while (reader->Read(&r)) got.push_back(r.text());
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
  }
  {  // large messages take gRPC's other serialisation path (small ones are inlined)
    grpc::ClientContext ctx;
    CountRequest req;
    req.set_n(20);
    req.set_size(64 * 1024);
    auto reader = stub(app.address())->Count(&ctx, req);
    SayReply r;
    int got = 0;
    while (reader->Read(&r)) {
      ++got;
      EXPECT_EQ(r.text().size(), 64u * 1024u);
      EXPECT_EQ(r.text().substr(0, std::to_string(got).size()), std::to_string(got));
    }
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(got, 20);
  }
  {  // a client that cancels after two messages of a long stream
    grpc::ClientContext ctx;
    CountRequest req;
    req.set_n(1000);
    req.set_interval_ms(20);
    auto reader = stub(app.address())->Count(&ctx, req);
    SayReply r;
    ASSERT_TRUE(reader->Read(&r));
    ASSERT_TRUE(reader->Read(&r));
    ctx.TryCancel();
    while (reader->Read(&r)) {
    }
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  SayReply reply;
  EXPECT_TRUE(call_say(app.address(), say("after"), reply).ok());
}

TEST(GrpcServer, APassedDeadlineCancelsTheHandler) {
  Observed seen;
  RunningApp app(seen, false);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 150ms);
  auto req = say("slow");
  req.set_wait_ms(5000);
  SayReply reply;
  auto started = std::chrono::steady_clock::now();
  auto s = stub(app.address())->SayLater(&ctx, req, &reply);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 2s);
  auto deadline = std::chrono::steady_clock::now() + 3s;
  while (seen.later_cancelled == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(seen.later_cancelled, 1) << "the handler was cancelled, not left waiting 5 s";
  EXPECT_EQ(seen.later_finished, 0);
}

TEST(GrpcServer, MetricsHaveTheNamesOperatorsKnow) {
  Observed seen;
  RunningApp app(seen, false);
  SayReply reply;
  ASSERT_TRUE(call_say(app.address(), say("a"), reply).ok());
  ASSERT_TRUE(call_say(app.address(), say("b"), reply).ok());
  auto bad = say("c");
  bad.set_fail("validation");
  call_say(app.address(), bad, reply);
  auto text = app.app().metrics().render();
  EXPECT_NE(
      text.find(
          R"(grpc_server_started_total{grpc_method="Say",grpc_service="svckit.test.Echo",grpc_type="unary"} 3)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(grpc_server_handled_total{grpc_code="OK",grpc_method="Say",grpc_service="svckit.test.Echo",grpc_type="unary"} 2)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="Say",grpc_service="svckit.test.Echo",grpc_type="unary"} 1)"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          R"(grpc_server_handling_seconds_count{grpc_method="Say",grpc_service="svckit.test.Echo",grpc_type="unary"} 3)"),
      std::string::npos);
}

TEST(GrpcServer, RegistrationIsCheckedAgainstTheProto) {
  svckit::App app(svckit::Config::load("x", {}, svckit::map_environment({{"GRPC_PORT", "0"}})));
  auto& rpc = svckit::grpc::server(app);
  EXPECT_THROW(rpc.service("svckit.test.Nope"), std::logic_error);
  auto echo_service = rpc.service("svckit.test.Echo");
  auto handler = [](Call&, const SayRequest&) -> Reply<SayReply> { return SayReply{}; };
  EXPECT_THROW((echo_service.unary<SayRequest, SayReply>("Shout", handler)), std::logic_error);
  EXPECT_THROW(
      (echo_service.unary<CountRequest, SayReply>(
          "Say", [](Call&, const CountRequest&) -> Reply<SayReply> { return SayReply{}; })),
      std::logic_error);
  EXPECT_THROW(
      (echo_service.unary<CountRequest, SayReply>(
          "Count", [](Call&, const CountRequest&) -> Reply<SayReply> { return SayReply{}; })),
      std::logic_error)
      << "Count streams";
  echo_service.unary<SayRequest, SayReply>("Say", handler);
  EXPECT_THROW((echo_service.unary<SayRequest, SayReply>("Say", handler)), std::logic_error);
}

TEST(GrpcServer, ADrainLetsCallsInFlightFinish) {
  Observed seen;
  RunningApp app(seen, false);
  std::thread slow([&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    auto req = say("slow");
    req.set_wait_ms(400);
    SayReply reply;
    auto s = stub(app.address())->SayLater(&ctx, req, &reply);
    EXPECT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(reply.text(), "slow");
  });
  while (seen.later_finished == 0 && seen.later_cancelled == 0 &&
         app.app().metrics().render().find("grpc_method=\"SayLater\"") == std::string::npos)
    std::this_thread::sleep_for(5ms);
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(app.stop(), 0);
  slow.join();
  EXPECT_EQ(seen.later_finished, 1);
}

TEST(GrpcChannel, TheAppHandsOutOneChannelPerUpstreamWiredIntoItsMetrics) {
  svckit::App app(svckit::Config::load("x", {}, svckit::map_environment({{"THREADS", "1"}})));
  auto& ai = svckit::grpc::channel(app, "ai-gateway", "127.0.0.1:1");
  EXPECT_EQ(&svckit::grpc::channel(app, "ai-gateway", "127.0.0.1:1"), &ai);
  EXPECT_THROW(svckit::grpc::channel(app, "ai-gateway", "127.0.0.1:2"), std::logic_error);
  auto text = app.metrics().render();
  EXPECT_NE(text.find(R"(grpc_client_retries_total{upstream="ai-gateway"} 0)"), std::string::npos)
      << text;
}

TEST(GrpcChannel, RetriesIdempotentCallsOnlyAndWithinTheBudget) {
  Observed seen;
  RunningApp app(seen, false);
  LoopThread loop;
  svckit::metrics::Registry registry;
  svckit::grpc::Channel channel(
      app.address(), {.name = "echo",
                      .retry = {.max_attempts = 4, .initial_backoff = 1ms, .max_backoff = 5ms},
                      .metrics = &registry});
  auto req = say("again");
  req.set_key("idempotent");
  req.set_fail_first(2);
  auto reply = loop.run(
      channel.unary<SayRequest, SayReply>("/svckit.test.Echo/Flaky", req, {.idempotent = true}));
  EXPECT_EQ(reply.attempt(), 3);
  req.set_key("not-idempotent");
  try {
    loop.run(channel.unary<SayRequest, SayReply>("/svckit.test.Echo/Flaky", req));
    FAIL() << "a call that is not idempotent is not retried";
  } catch (const RpcError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(e.status(), 503);
  }
  {
    std::lock_guard lock(seen.mutex);
    EXPECT_EQ(seen.flaky_calls["not-idempotent"], 1);
  }
  EXPECT_NE(registry.render().find(R"(grpc_client_retries_total{upstream="echo"} 2)"),
            std::string::npos)
      << registry.render();
  // Errors that are answers are not retried either.
  auto invalid = say("x");
  invalid.set_fail("validation");
  try {
    loop.run(channel.unary<SayRequest, SayReply>("/svckit.test.Echo/Say", invalid,
                                                 {.idempotent = true}));
    FAIL();
  } catch (const RpcError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(e.status(), 502) << "a downstream refusal is the caller's upstream failing";
  }
}

TEST(GrpcChannel, ADeadlineBoundsTheCallAndTheBreakerOpensOnADeadUpstream) {
  Observed seen;
  RunningApp app(seen, false);
  LoopThread loop;
  svckit::grpc::Channel channel(app.address(), {.name = "echo", .timeout = 200ms});
  auto slow = say("slow");
  slow.set_wait_ms(3000);
  auto started = std::chrono::steady_clock::now();
  try {
    loop.run(channel.unary<SayRequest, SayReply>("/svckit.test.Echo/SayLater", slow));
    FAIL();
  } catch (const RpcError& e) {
    EXPECT_EQ(e.code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_EQ(e.status(), 504);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1500ms);

  // Nothing listens here: connect failures, then the breaker refuses at once.
  svckit::grpc::Channel dead("127.0.0.1:1", {.name = "dead",
                                             .timeout = 300ms,
                                             .retry = svckit::RetryPolicy::none(),
                                             .breaker = svckit::CircuitBreakerOptions{
                                                 .consecutive_failures = 3, .open_duration = 10s}});
  for (int i = 0; i < 3; ++i)
    EXPECT_THROW(loop.run(dead.unary<SayRequest, SayReply>("/svckit.test.Echo/Say", say("x"))),
                 RpcError);
  EXPECT_EQ(dead.breaker_state(), svckit::CircuitBreaker::State::open);
  auto refused_at = std::chrono::steady_clock::now();
  try {
    loop.run(dead.unary<SayRequest, SayReply>("/svckit.test.Echo/Say", say("x")));
    FAIL();
  } catch (const RpcError& e) {
    EXPECT_NE(std::string(e.what()).find("circuit breaker is open"), std::string::npos);
    EXPECT_EQ(e.status(), 503);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - refused_at, 50ms);
}

}  // namespace
