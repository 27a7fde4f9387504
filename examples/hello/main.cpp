// The smallest svckit service: one route with a path parameter and a JSON body. Probes,
// /metrics, request ids, JSON logs, limits and graceful shutdown come with the App.
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

struct Hello : svckit::Module {
  void install(svckit::App& app) override {
    auto api = app.http().group("/api/v1");
    api.get("/hello/{name}", [](Request& req) -> svckit::Task<Response> {
      co_return Response::json(200, {{"message", "hello, " + req.param("name")}});
    });
    api.post("/echo", [](Request& req) -> svckit::Task<Response> {
      auto body = req.json_object();  // 415, 400 or 422 with a problem+json body on bad input
      co_return Response::json(200, {{"text", body.required_string("text")}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Hello>("hello", argc, argv);
}
