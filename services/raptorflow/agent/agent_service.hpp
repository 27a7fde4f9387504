#pragma once
// Raptorflow's Agent service (seed 003) as a svckit module: agents (name, instructions, skills,
// a model, limits), skills (tools with JSON Schemas: HTTP endpoints or built-ins), and runs that
// plan with a model or the local directive planner, call skills, persist every step, resume
// after a restart, stream their progress as server-sent events, and stay within their limits.
#include <memory>

#include <svckit/app/module.hpp>

namespace raptorflow::agent {

class AgentService : public svckit::Module {
 public:
  AgentService();
  ~AgentService() override;
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;  // built-in skills; orphaned runs
  svckit::Task<void> stop(svckit::App& app) override;   // runs give their leases up

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace raptorflow::agent
