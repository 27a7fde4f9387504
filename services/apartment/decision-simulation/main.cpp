#include <svckit/app/run.hpp>

#include "decision_simulation.hpp"

int main(int argc, char** argv) {
  return svckit::run<apartment::decision::DecisionSimulation>("decision-simulation", argc, argv);
}
