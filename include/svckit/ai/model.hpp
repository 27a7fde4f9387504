#pragma once
// Language models behind one interface: what a service asks (a conversation and options), what
// it gets (text and token counts), and the providers that answer (moved here from the AETHER-AI
// AI Gateway so that every service that asks a model asks it the same way). Every model has one:
//   local        built in, no network: deterministic answers, so systems run offline and in tests
//   openai       an OpenAI-compatible API (POST {base_url}/chat/completions): OpenAI, Groq, vLLM,
//                llama.cpp's server, ...
//   ollama       Ollama's API (POST {base_url}/api/chat)
//   gemini       Google's Gemini API (POST {base_url}/v1beta/models/{model}:generateContent)
//   huggingface  Hugging Face Inference, text generation (POST {base_url}/models/{model})
// HTTP providers call through svckit::http::Client: a deadline, retries of 429/502/503/504 under
// a budget, and a circuit breaker per model, whose state is the model's status.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/http/client.hpp"
#include "svckit/model/rules.hpp"
#include "svckit/task.hpp"

namespace svckit::ai {

// One earlier turn of the conversation.
struct Turn {
  std::string role;  // system | user | assistant
  std::string content;
  static void rules(model::Rules<Turn>& r) {
    r.field(&Turn::role).one_of({"system", "user", "assistant"});
    r.field(&Turn::content).describe("at most 32 KiB");
  }
};
BOOST_DESCRIBE_STRUCT(Turn, (), (role, content))

// What is asked, validated.
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
// bypasses a response cache). Throws svckit::ValidationError("options.<name>", ...).
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
  // An answer. Throws http::UpstreamError, or svckit::Error (502) when the provider's answer is
  // not one. `deadline` bounds the call besides the context's.
  virtual Task<Completion> complete(const ChatInput& input, const Context* context,
                                    Deadline deadline = {}) = 0;
  // closed / open / half_open, "closed" for providers without one.
  virtual CircuitBreaker::State breaker() const { return CircuitBreaker::State::closed; }
};

struct ModelSpec {
  std::string id;        // what callers name: "chatgpt", "ollama", "local"
  std::string name;      // "ChatGPT (gpt-4o-mini)"
  std::string provider;  // local | openai | ollama | gemini | huggingface
  std::string base_url;  // HTTP providers
  std::string remote;    // the provider's own model name ("gpt-4o-mini", "llama3")
  std::string api_key;   // bearer token (openai, huggingface), x-goog-api-key (gemini)
  std::int64_t timeout_ms = 60000;
};

inline constexpr std::string_view kProviders[] = {"local", "openai", "ollama", "gemini",
                                                  "huggingface"};

// The provider `spec` names, calling through `client` (null for local). Throws
// std::invalid_argument for a provider not in kProviders, or an HTTP one without a client.
std::unique_ptr<Provider> make_provider(const ModelSpec& spec, http::Client* client);

// The model's status as callers see it: available (breaker closed), degraded (half-open),
// unavailable (open).
std::string_view status_of(CircuitBreaker::State breaker);

struct Model {
  ModelSpec spec;
  std::unique_ptr<Provider> provider;
};

// Words, roughly what a tokenizer counts: the token figures of providers that give none.
std::int64_t count_tokens(std::string_view text);

}  // namespace svckit::ai
