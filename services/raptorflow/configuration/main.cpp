#include <svckit/app/run.hpp>

#include "configuration_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<raptorflow::configuration::ConfigurationService>("configuration", argc, argv);
}
