#pragma once
// What decides a run's next step: call a skill with an input, answer, or give up. Two planners:
// the local one follows explicit tool directives in the run's input ("/tool arithmetic
// {"expression": "6*7"}"), deterministically and offline — labelled as such, it is no language
// model; the model planner asks a language model through svckit::ai (OpenAI-compatible, Ollama,
// ...) for one JSON decision per step.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/ai/model.hpp>
#include <svckit/context.hpp>
#include <svckit/task.hpp>

#include "agent_store.hpp"

namespace raptorflow::agent {

struct Decision {
  enum class Kind { call, answer, fail } kind = Kind::fail;
  std::string skill;
  nlohmann::json input;
  std::string text;  // the answer, or why the planner gives up
  std::int64_t tokens = 0;
};

class Planner {
 public:
  virtual ~Planner() = default;
  virtual std::string label() const = 0;
  virtual svckit::Task<Decision> next(const Agent& agent, const Run& run,
                                      const std::vector<Step>& steps,
                                      const std::vector<Skill>& skills,
                                      const svckit::Context* context) = 0;
};

std::unique_ptr<Planner> directive_planner();
// `model` outlives the planner (the App keeps the models).
std::unique_ptr<Planner> model_planner(svckit::ai::Model& model);

}  // namespace raptorflow::agent
