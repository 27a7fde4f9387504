#pragma once
// The AI Gateway's models and the providers behind them (seed 000 §4.2.1). Every model has one
// provider:
//   local   built in, no network: deterministic answers, so the system runs offline and in tests
//   openai  an OpenAI-compatible HTTP API (POST {base_url}/chat/completions): OpenAI, Groq, vLLM,
//           llama.cpp's server, ...
//   ollama  Ollama's HTTP API (POST {base_url}/api/chat)
// HTTP providers call through svckit::http::Client: a deadline, retries of 429/502/503/504 under
// a budget, and a circuit breaker per model, whose state is the model's status.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <svckit/http/client.hpp>
#include <svckit/model/rules.hpp>
#include <svckit/task.hpp>

namespace svckit {
class App;
}

namespace aether::ai_gateway {

// One earlier turn of the conversation.
struct Turn {
  std::string role;  // system | user | assistant
  std::string content;
  static void rules(svckit::model::Rules<Turn>& r) {
    r.field(&Turn::role).one_of({"system", "user", "assistant"});
    r.field(&Turn::content).describe("at most 32 KiB");
  }
};
BOOST_DESCRIBE_STRUCT(Turn, (), (role, content))

// What is asked, validated: the same limits over REST and gRPC.
struct ChatInput {
  std::string message;
  std::vector<Turn> context;
  std::map<std::string, std::string> options;  // known ones only (see check_options)

  static constexpr std::size_t kMaxMessage = 32 * 1024;
  static constexpr std::size_t kMaxTurns = 50;
  // Throws svckit::ValidationError naming the field.
  void validate() const;
};

// Options a caller may set: temperature (0-2), top_p (0-1), max_tokens (1-32768), seed
// (integer), stop (string), presence_penalty and frequency_penalty (-2..2), cache ("false"
// bypasses the response cache). Throws svckit::ValidationError("options.<name>", ...).
void check_options(const std::map<std::string, std::string>& options);

struct Completion {
  std::string text;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view kind() const = 0;
  // An answer without waiting, when this provider can give one (the local model).
  virtual std::optional<Completion> complete_now(const ChatInput&) { return std::nullopt; }
  // An answer. Throws svckit::http::UpstreamError or svckit::Error (502) when the provider fails.
  virtual svckit::Task<Completion> complete(const ChatInput& input,
                                            const svckit::Context* context) = 0;
  // closed / open / half_open, "closed" for providers without one.
  virtual svckit::CircuitBreaker::State breaker() const {
    return svckit::CircuitBreaker::State::closed;
  }
};

struct ModelSpec {
  std::string id;        // what callers name: "chatgpt", "ollama", "local"
  std::string name;      // "ChatGPT (gpt-4o-mini)"
  std::string provider;  // local | openai | ollama
  std::string base_url;  // HTTP providers
  std::string remote;    // the provider's own model name ("gpt-4o-mini", "llama3")
  std::string api_key;   // sent as a bearer token (openai)
  std::int64_t timeout_ms = 60000;
};

// The model's status as callers see it: available (breaker closed), degraded (half-open),
// unavailable (open).
std::string_view status_of(svckit::CircuitBreaker::State breaker);

struct Model {
  ModelSpec spec;
  std::unique_ptr<Provider> provider;
};

// The built-in "local" model, then those of AI_MODELS (a JSON array of
// {id, name, provider, base_url, model, api_key_env, timeout_ms}) or AI_MODELS_FILE (the same in a
// file). Throws svckit::ConfigError naming the setting.
std::vector<std::unique_ptr<Model>> models_from_settings(svckit::App& app);

// Words, roughly what a tokenizer counts: the token figures of providers that give none.
std::int64_t count_tokens(std::string_view text);

}  // namespace aether::ai_gateway
