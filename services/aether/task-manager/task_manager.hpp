#pragma once
// The AETHER-AI Task Manager (seed 000 §4.2.3) as a svckit module.
#include <memory>

#include <svckit/app/module.hpp>

#include "task_store.hpp"

namespace aether::task_manager {

class TaskManager : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  std::unique_ptr<TaskStore> store_;
};

}  // namespace aether::task_manager
