// A bare gRPC++ server answering the seed's AIGateway.Chat the way the AI Gateway's local model
// does, with nothing else: no auth, no metrics, no logs, no cache, no events. The baseline
// benchmarks/grpc_load.py measures the AI Gateway against.
//
//   build/bin/bench_grpc_bare PORT
#include <cstdio>
#include <string>

#include <grpcpp/grpcpp.h>

#include "ai_gateway.grpc.pb.h"

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

class Bare final : public AIGateway::CallbackService {
  grpc::ServerUnaryReactor* Chat(grpc::CallbackServerContext* context, const ChatRequest* request,
                                 ChatResponse* response) override {
    response->set_response("(local model) You said: " + request->message().substr(0, 500));
    response->set_model("local");
    response->mutable_tokens()->set_input(words(request->message()));
    response->mutable_tokens()->set_output(words(response->response()));
    response->set_latency_ms(0);
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_grpc_bare PORT\n");
    return 2;
  }
  Bare service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(std::string("127.0.0.1:") + argv[1], grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) return 1;
  std::printf("listening %d\n", port);
  std::fflush(stdout);
  server->Wait();
}
