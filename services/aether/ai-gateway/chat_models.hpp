#pragma once
// The AI Gateway's REST bodies (seed 000 §4.2.1), each described once (Boost.Describe): that
// gives their JSON, their checks and their schema in /openapi.json. The gRPC contract says the
// same in proto/ai_gateway.proto; both become a ChatInput, which ChatInput::validate() checks the
// same way.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/model/rules.hpp>

#include "providers.hpp"

namespace aether::ai_gateway {

// POST /api/v1/ai/chat.
struct Question {
  std::string message;
  std::optional<std::string> model;  // the current model when absent
  std::optional<std::vector<Turn>> context;
  std::map<std::string, nlohmann::json> options;
  static void rules(svckit::model::Rules<Question>& r) {
    r.field(&Question::message).length(1, ChatInput::kMaxMessage).describe("at most 32 KiB");
    r.field(&Question::context).items(0, ChatInput::kMaxTurns);
    r.field(&Question::options)
        .defaulted()
        .describe(
            "temperature (0-2), top_p (0-1), max_tokens (1-32768), seed, stop, "
            "presence_penalty and frequency_penalty (-2..2); cache: false skips the cache");
  }
};
BOOST_DESCRIBE_STRUCT(Question, (), (message, model, context, options))

struct TokenCounts {
  std::int64_t input = 0;
  std::int64_t output = 0;
};
BOOST_DESCRIBE_STRUCT(TokenCounts, (), (input, output))

struct ChatAnswer {
  std::string response;
  std::string model;
  TokenCounts tokens;
  std::int64_t latency_ms = 0;
  bool cached = false;
};
BOOST_DESCRIBE_STRUCT(ChatAnswer, (), (response, model, tokens, latency_ms, cached))

struct ModelInfo {
  std::string id;
  std::string name;
  std::string provider;  // local | openai | ollama
  std::string status;    // available | degraded | unavailable
};
BOOST_DESCRIBE_STRUCT(ModelInfo, (), (id, name, provider, status))

struct ModelList {
  std::vector<ModelInfo> models;
  std::string current_model;
};
BOOST_DESCRIBE_STRUCT(ModelList, (), (models, current_model))

// A model's info, with its breaker's state and whether it is the current one.
struct ModelStatus {
  std::string id;
  std::string name;
  std::string provider;
  std::string status;
  std::string circuit_state;  // closed | open | half_open
  bool current = false;
};
BOOST_DESCRIBE_STRUCT(ModelStatus, (), (id, name, provider, status, circuit_state, current))

// POST /api/v1/ai/switch (ai:admin).
struct ModelChoice {
  std::string model;
  static void rules(svckit::model::Rules<ModelChoice>& r) {
    r.field(&ModelChoice::model).length(1, 128);
  }
};
BOOST_DESCRIBE_STRUCT(ModelChoice, (), (model))

struct ModelSwitched {
  std::string current_model;
  std::string status;
};
BOOST_DESCRIBE_STRUCT(ModelSwitched, (), (current_model, status))

}  // namespace aether::ai_gateway
