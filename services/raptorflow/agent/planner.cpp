#include "planner.hpp"

#include "toolbox.hpp"  // clip

#include <algorithm>
#include <sstream>

namespace raptorflow::agent {
namespace {

using nlohmann::json;
using svckit::Task;

// The results the run has so far, one line each, for an answer or a prompt.
std::string results_of(const std::vector<Step>& steps) {
  std::string out;
  for (const auto& s : steps) {
    if (s.kind != "tool_result") continue;
    out += "\n- " + s.content.value("skill", "?") + ": ";
    // Each result's start only: the answer of a long run stays readable and bounded.
    if (s.content.value("ok", false))
      out += clip(s.content["output"].dump(-1, ' ', false, json::error_handler_t::replace), 1000);
    else
      out += "error: " + s.content.value("error", "");
    if (out.size() > 16 * 1024) return clip(out, 16 * 1024) + "\n...";
  }
  return out;
}

std::size_t calls_in(const std::vector<Step>& steps) {
  return static_cast<std::size_t>(std::count_if(
      steps.begin(), steps.end(), [](const Step& s) { return s.kind == "tool_call"; }));
}

class DirectivePlanner : public Planner {
 public:
  std::string label() const override {
    return "local: follows /tool directives in the input (not a language model)";
  }

  Task<Decision> next(const Agent&, const Run& run, const std::vector<Step>& steps,
                      const std::vector<Skill>&, const svckit::Context*) override {
    std::vector<std::string> directives;
    std::istringstream lines(run.input);
    for (std::string line; std::getline(lines, line);)
      if (line.starts_with("/tool ")) directives.push_back(line.substr(6));
    Decision d;
    auto done = calls_in(steps);
    if (done < directives.size()) {
      const auto& directive = directives[done];
      auto space = directive.find(' ');
      d.skill = directive.substr(0, space);
      d.input = json::object();  // (no ?: of class type in a coroutine: GCC 12)
      if (space != std::string::npos)
        d.input = json::parse(directive.substr(space + 1), nullptr, false);
      if (d.input.is_discarded()) {
        d.kind = Decision::Kind::fail;
        d.text = "directive " + std::to_string(done + 1) + ": its input is not JSON";
        co_return d;
      }
      d.kind = Decision::Kind::call;
      co_return d;
    }
    d.kind = Decision::Kind::answer;
    if (directives.empty())
      d.text = "The local planner follows /tool <skill> <JSON input> lines; this input has none.";
    else
      d.text = "Done: " + std::to_string(done) + " tool call(s)." + results_of(steps);
    co_return d;
  }
};

class ModelPlanner : public Planner {
 public:
  explicit ModelPlanner(svckit::ai::Model& model) : model_(model) {}
  std::string label() const override { return "model: " + model_.spec.id; }

  Task<Decision> next(const Agent& agent, const Run& run, const std::vector<Step>& steps,
                      const std::vector<Skill>& skills, const svckit::Context* context) override {
    svckit::ai::ChatInput chat;
    std::string system = agent.instructions +
                         "\n\nAnswer with exactly one JSON object and nothing else: "
                         "{\"tool\": \"<name>\", \"input\": {...}} to call a tool, or "
                         "{\"answer\": \"<text>\"} when you are done.\nTools:";
    for (const auto& s : skills)
      system += "\n- " + s.name + ": " + s.description + " Input schema: " + s.input_schema.dump();
    chat.context.push_back({"system", system.substr(0, svckit::ai::ChatInput::kMaxMessage)});
    chat.context.push_back({"user", run.input});
    for (const auto& s : steps) {
      if (s.kind == "tool_call")
        chat.context.push_back(
            {"assistant",
             json{{"tool", s.content["skill"]}, {"input", s.content["input"]}}.dump()});
      else if (s.kind == "tool_result")
        chat.context.push_back({"user", "Result: " + s.content.dump().substr(0, 8000)});
    }
    // The conversation's last turn is the message; the ChatInput keeps at most 50 turns.
    chat.message = chat.context.back().content;
    chat.context.pop_back();
    // Over the turns a ChatInput holds: the oldest calls and results go, never the system turn
    // or the user's input.
    if (chat.context.size() > svckit::ai::ChatInput::kMaxTurns)
      chat.context.erase(chat.context.begin() + 2,
                         chat.context.end() - (svckit::ai::ChatInput::kMaxTurns - 2));
    auto completion = co_await model_.provider->complete(chat, context);
    Decision d;
    d.tokens = completion.input_tokens + completion.output_tokens;
    const auto& text = completion.text;
    auto open = text.find('{');
    auto close = text.rfind('}');
    json reply;
    if (open != std::string::npos && close != std::string::npos && close > open)
      reply = json::parse(text.substr(open, close - open + 1), nullptr, false);
    if (reply.is_object() && reply.contains("tool") && reply["tool"].is_string()) {
      d.kind = Decision::Kind::call;
      d.skill = reply["tool"];
      d.input = reply.value("input", json::object());
    } else if (reply.is_object() && reply.contains("answer") && reply["answer"].is_string()) {
      d.kind = Decision::Kind::answer;
      d.text = reply["answer"];
    } else {
      d.kind = Decision::Kind::answer;  // plain text: the model's answer
      d.text = text;
    }
    co_return d;
  }

 private:
  svckit::ai::Model& model_;
};

}  // namespace

std::unique_ptr<Planner> directive_planner() {
  return std::make_unique<DirectivePlanner>();
}
std::unique_ptr<Planner> model_planner(svckit::ai::Model& model) {
  return std::make_unique<ModelPlanner>(model);
}

}  // namespace raptorflow::agent
