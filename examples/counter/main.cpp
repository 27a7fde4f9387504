// State every replica sees: counters in app.kv(), which is this process's memory by default and
// Redis with REDIS_URL=redis://... Start two replicas on one Redis and they count together; a
// client that retries its POST with the same Idempotency-Key counts once; and the shared rate
// limit holds for both replicas together (docs/kv.md).
#include <svckit/auth/rate_limit.hpp>
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

struct Counter : svckit::Module {
  void install(svckit::App& app) override {
    auto& kv = app.kv();
    auto limit = svckit::auth::rate_limit({.limit = 600,  // a minute, per client address
                                           .store = &kv,
                                           .name = "counter",
                                           .meter = &app.metrics()});
    auto api = app.http().group("/api/v1/counters", {limit, svckit::idempotency(app)});
    api.post("/{name}", [&kv](Request& req) -> svckit::Task<Response> {
      auto value = co_await kv.increment("counter:" + req.param("name"), 1, {}, req.deadline());
      co_return Response::json(200, {{"name", req.param("name")}, {"value", value}});
    });
    api.get("/{name}", [&kv](Request& req) -> svckit::Task<Response> {
      auto value = co_await kv.get("counter:" + req.param("name"), req.deadline());
      if (!value) throw svckit::NotFound("no counter '" + req.param("name") + "'");
      co_return Response::json(200, {{"name", req.param("name")}, {"value", std::stoll(*value)}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Counter>("counter", argc, argv);
}
