// Feature flags in a service: answers that change with the Configuration service's flags, asked
// in-process (no call per request), falling back to the code's defaults while it is away.
//
//   FLAGS_URL=http://127.0.0.1:8104 FLAGS_TOKEN=... ./build/bin/flags
//   curl 'localhost:8080/api/v1/checkout?user=ann&plan=gold'
//
// Or with a flagd file and no service at all: FLAGS_FILE=examples/flags/flags.json.
#include <svckit/svckit.hpp>

using svckit::http::Request;
using svckit::http::Response;

struct Checkout : svckit::Module {
  svckit::flags::FlagClient* flags = nullptr;

  void install(svckit::App& app) override {
    flags = &app.require<svckit::FeatureFlags>().client();
    auto api = app.http().group("/api/v1");
    api.get("/checkout", [this](Request& req) -> svckit::Task<Response> {
      // The evaluation context: targetingKey keeps a user in the same bucket of a rollout.
      nlohmann::json context = {{"targetingKey", req.query_param("user").value_or("anonymous")},
                                {"plan", req.query_param("plan").value_or("free")}};
      auto flow = flags->details("checkout-flow", "classic", context);
      nlohmann::json body = {{"flow", flow.value},
                             {"reason", svckit::flags::to_string(flow.reason)},
                             {"banner", flags->boolean("holiday-banner", false, context)},
                             {"flags_version", flags->version()}};
      co_return Response::json(200, body);
    });
  }
};

int main(int argc, char** argv) {
  return svckit::run<Checkout>("flags", argc, argv);
}
