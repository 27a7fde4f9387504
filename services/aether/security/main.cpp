#include <svckit/app/run.hpp>

#include "security_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::security::SecurityService>("security", argc, argv);
}
