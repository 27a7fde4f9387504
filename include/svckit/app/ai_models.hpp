#pragma once
// The language models a service may ask (svckit/ai/model.hpp), from the settings every module
// that asks one shares:
//   AI_MODELS       a JSON array of {id, name, provider, base_url, model, api_key_env,
//                   timeout_ms}; provider: openai, ollama, gemini or huggingface
//   AI_MODELS_FILE  the same array in a file (instead of AI_MODELS)
// The built-in "local" model is always first. Each HTTP model calls through app.client()
// under the name "model-<id>" (its metrics, breaker and retries).
#include <memory>
#include <vector>

#include "svckit/ai/model.hpp"
#include "svckit/app/app.hpp"

namespace svckit {

// Declares AI_MODELS and AI_MODELS_FILE (from a module's declare()).
void declare_ai_models(Settings& settings);
// Throws ConfigError naming the setting: not an array, a model without an id, provider,
// base_url or model, an id used twice, an unknown provider, a bad timeout.
std::vector<std::unique_ptr<ai::Model>> ai_models_from_settings(App& app);

}  // namespace svckit
