#include "svckit/app/ai_models.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace svckit {
namespace {

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string models_text(App& app, std::string& setting) {
  if (auto file = app.settings().text("AI_MODELS_FILE"); !file.empty()) {
    setting = "AI_MODELS_FILE";
    std::ifstream in(file);
    if (!in) throw ConfigError(setting, "cannot read " + file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  setting = "AI_MODELS";
  return app.settings().text("AI_MODELS");
}

}  // namespace

void declare_ai_models(Settings& settings) {
  settings.declare("ai", {.name = "AI_MODELS",
                          .help = "the language models besides local, a JSON array of {id, name, "
                                  "provider, base_url, model, api_key_env, timeout_ms}"});
  settings.declare("ai", {.name = "AI_MODELS_FILE",
                          .type = SettingType::file,
                          .help = "the models, from a JSON file (instead of AI_MODELS)"});
}

std::vector<std::unique_ptr<ai::Model>> ai_models_from_settings(App& app) {
  std::vector<std::unique_ptr<ai::Model>> models;
  auto local = std::make_unique<ai::Model>();
  local->spec = {"local", "Local model (built in, offline)", "local", "", "local", "", 0};
  local->provider = ai::make_provider(local->spec, nullptr);
  models.push_back(std::move(local));

  std::string setting;
  auto text = models_text(app, setting);
  if (text.empty()) return models;
  auto list = nlohmann::json::parse(text, nullptr, false);
  if (!list.is_array()) throw ConfigError(setting, "expected a JSON array of models");
  std::set<std::string> ids = {"local"};
  for (const auto& m : list) {
    auto refuse = [&](const std::string& why) {
      throw ConfigError(setting, why + " in " + m.dump().substr(0, 200));
    };
    if (!m.is_object()) refuse("a model must be an object");
    auto text_of = [&](const char* key, bool required) -> std::string {
      if (!m.contains(key)) {
        if (required) refuse(std::string("\"") + key + "\" is required");
        return "";
      }
      if (!m[key].is_string()) refuse(std::string("\"") + key + "\" must be a string");
      return m[key].get<std::string>();
    };
    ai::ModelSpec spec;
    spec.id = text_of("id", true);
    if (!valid_id(spec.id)) refuse("\"id\" must be 1-64 of a-z 0-9 . _ -");
    if (!ids.insert(spec.id).second) refuse("the id \"" + spec.id + "\" is used twice");
    spec.provider = text_of("provider", true);
    if (spec.provider == "local" || std::find(std::begin(ai::kProviders), std::end(ai::kProviders),
                                              spec.provider) == std::end(ai::kProviders))
      refuse("\"provider\" must be openai, ollama, gemini or huggingface");
    spec.base_url = text_of("base_url", true);
    spec.remote = text_of("model", true);
    spec.name = text_of("name", false);
    if (spec.name.empty()) spec.name = spec.id + " (" + spec.remote + ")";
    if (auto env = text_of("api_key_env", false); !env.empty())
      spec.api_key = app.settings().environment(env).value_or("");
    if (m.contains("timeout_ms")) {
      if (!m["timeout_ms"].is_number_integer() || m["timeout_ms"].get<std::int64_t>() < 100 ||
          m["timeout_ms"].get<std::int64_t>() > 600000)
        refuse("\"timeout_ms\" must be an integer from 100 to 600000");
      spec.timeout_ms = m["timeout_ms"].get<std::int64_t>();
    }
    http::ClientOptions options;
    options.timeout = std::chrono::milliseconds(spec.timeout_ms);
    options.max_response_bytes = 4 << 20;
    http::Client* client = nullptr;
    try {
      client = &app.client("model-" + spec.id, spec.base_url, options);
    } catch (const ConfigError& e) {
      throw ConfigError(setting, "model " + spec.id + ": " + e.reason());
    }
    auto model = std::make_unique<ai::Model>();
    model->spec = spec;
    model->provider = ai::make_provider(spec, client);
    models.push_back(std::move(model));
  }
  return models;
}

}  // namespace svckit
