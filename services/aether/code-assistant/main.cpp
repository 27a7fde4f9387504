#include <svckit/app/run.hpp>

#include "code_assistant.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::code_assistant::CodeAssistant>("code-assistant", argc, argv);
}
