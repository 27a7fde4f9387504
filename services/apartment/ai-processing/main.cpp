#include <svckit/app/run.hpp>

#include "ai_processing.hpp"

int main(int argc, char** argv) {
  return svckit::run<apartment::ai::AiProcessing>("ai-processing", argc, argv);
}
