#include <svckit/app/run.hpp>

#include "integration_hub.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::integration_hub::IntegrationHub>("integration-hub", argc, argv);
}
