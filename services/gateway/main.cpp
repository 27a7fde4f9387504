#include <svckit/app/run.hpp>

#include "gateway.hpp"

int main(int argc, char** argv) {
  return svckit::run<svckit::gateway::Gateway>("gateway", argc, argv);
}
