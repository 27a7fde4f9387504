// The smallest gRPC service: the seed's AIGateway.Chat answered in a few lines, with what every
// svckit gRPC service has: authentication (JWT_SECRET_KEY, the method's permission),
// grpc_server_* metrics, request id and trace, a log line per call, health and reflection, the
// HTTP probes and /metrics beside it. benchmarks/grpc_load.py measures svckit's own cost with it
// (it answers exactly as benchmarks/bench_grpc_bare.cpp does).
//
//   GRPC_PORT=50051 JWT_SECRET_KEY=... build/bin/grpc-chat
#include <svckit/app/auth_settings.hpp>
#include <svckit/app/grpc.hpp>
#include <svckit/app/run.hpp>
#include <svckit/auth/grpc.hpp>

#include "ai_gateway.pb.h"

namespace {

std::int64_t words(const std::string& s) {
  std::int64_t n = 0;
  bool in = false;
  for (char c : s) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in) ++n;
    in = !space;
  }
  return n;
}

struct ChatOnly : svckit::Module {
  void install(svckit::App& app) override {
    auto ai = svckit::grpc::server(app).service(
        "AIGateway", svckit::auth::grpc_authentication(
                         svckit::required_bearer_options_from_settings(app, "grpc-chat")));
    ai.unary<ChatRequest, ChatResponse>(
        "Chat",
        [](svckit::grpc::Call&, const ChatRequest& request) -> svckit::grpc::Reply<ChatResponse> {
          ChatResponse response;
          response.set_response("(local model) You said: " + request.message().substr(0, 500));
          response.set_model("local");
          response.mutable_tokens()->set_input(words(request.message()));
          response.mutable_tokens()->set_output(words(response.response()));
          response.set_latency_ms(0);
          return response;
        },
        {.permission = "ai:use"});
  }
};

}  // namespace

int main(int argc, char** argv) {
  return svckit::run<ChatOnly>("grpc-chat", argc, argv);
}
