#include <svckit/app/run.hpp>

#include "task_manager.hpp"

int main(int argc, char** argv) {
  return svckit::run<aether::task_manager::TaskManager>("task-manager", argc, argv);
}
