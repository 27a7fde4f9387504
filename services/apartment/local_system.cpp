// The Agentic Apartment Manager on one machine: the four services and the sign-in module in one
// process, one port, SQLite files under DATA_DIR, the in-process bus. What `./dev.sh run
// apartment` runs (it points the services' URLs at this process's own port).
#include <svckit/app/run.hpp>

#include "ai_processing.hpp"
#include "decision_simulation.hpp"
#include "execution_service.hpp"
#include "request_management.hpp"
#include "security_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::security::SecurityService, apartment::ai::AiProcessing,
                     apartment::decision::DecisionSimulation,
                     apartment::execution::ExecutionService,
                     apartment::requests::RequestManagement>("apartment", argc, argv);
}
