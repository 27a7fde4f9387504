#include <svckit/app/run.hpp>

#include "agent_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::agent::AgentService>("agent", argc, argv);
}
