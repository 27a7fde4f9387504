#include <svckit/app/run.hpp>

#include "analytics.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::analytics::Analytics>("analytics", argc, argv);
}
