#include <svckit/app/run.hpp>

#include "execution_service.hpp"

int main(int argc, char** argv) {
  return svckit::run<apartment::execution::ExecutionService>("execution", argc, argv);
}
