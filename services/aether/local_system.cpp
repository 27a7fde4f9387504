// The AETHER-AI system on one machine: every service module in one process, one port, SQLite
// files under DATA_DIR, the in-process bus, gRPC on GRPC_PORT (50051). What the README's first
// command runs.
#include <svckit/app/run.hpp>

#include "ai_gateway.hpp"
#include "analytics.hpp"
#include "code_assistant.hpp"
#include "integration_hub.hpp"
#include "security_service.hpp"
#include "task_manager.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::security::SecurityService, aether::task_manager::TaskManager,
                     aether::analytics::Analytics, aether::integration_hub::IntegrationHub,
                     aether::ai_gateway::AiGateway, aether::code_assistant::CodeAssistant>(
      "aether", argc, argv);
}
