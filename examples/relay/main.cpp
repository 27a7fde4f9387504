// A service that calls another one: GET /api/v1/relay/hello/{name} asks the `hello` example
// (RELAY_UPSTREAM, default http://127.0.0.1:8001) through svckit::http::Client. The call carries
// the request id, the trace (a new span) and what is left of the caller's deadline; it is retried
// on 502/503/504 and connect errors, and a circuit breaker with a fallback answers when the
// upstream keeps failing.
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

struct Relay : svckit::Module {
  svckit::http::Client* hello = nullptr;

  static void declare(svckit::Settings& settings) {
    settings.declare("relay", {.name = "RELAY_UPSTREAM",
                               .type = svckit::SettingType::url,
                               .default_value = "http://127.0.0.1:8001",
                               .choices = {"http://", "https://"},
                               .help = "the hello service it relays to"});
  }

  void install(svckit::App& app) override {
    svckit::http::ClientOptions options;
    options.timeout = std::chrono::seconds(2);  // unless the caller's deadline is sooner
    // With the breaker open, answer from here instead of failing.
    options.fallback =
        [](const svckit::http::ClientRequest&,
           const svckit::http::UpstreamError& e) -> std::optional<svckit::http::ClientResponse> {
      if (e.kind() != svckit::http::UpstreamError::Kind::circuit_open) return std::nullopt;
      svckit::http::ClientResponse answer;
      answer.status = 200;
      answer.body = R"json({"message":"hello (from the fallback)"})json";
      return answer;
    };
    hello = &app.client("hello", app.settings().text("RELAY_UPSTREAM"), std::move(options));

    auto api = app.http().group("/api/v1/relay");
    api.get("/hello/{name}", [this](Request& req) -> svckit::Task<Response> {
      // An upstream failure with no answer becomes 502/504 problem+json naming the upstream.
      auto res = co_await hello->get("/api/v1/hello/" + req.param("name"), &req.context());
      co_return Response::json(res.status, {{"upstream", res.json()}, {"attempts", res.attempts}});
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Relay>("relay", argc, argv);
}
