#include <svckit/app/run.hpp>

#include "ai_gateway.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::ai_gateway::AiGateway>("ai-gateway", argc, argv);
}
