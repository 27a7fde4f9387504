#include "providers.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>
#include <svckit/app/app.hpp>
#include <svckit/error.hpp>

namespace aether::ai_gateway {
namespace {

using svckit::Task;
using svckit::ValidationError;

bool number_in(const std::string& text, double min, double max) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() && v >= min && v <= max;
}

bool integer_in(const std::string& text, std::int64_t min, std::int64_t max) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() && v >= min && v <= max;
}

// The numeric options as the providers want them: numbers, not strings.
nlohmann::json option_value(const std::string& name, const std::string& value) {
  if (name == "stop") return value;
  if (name == "max_tokens" || name == "seed") return std::stoll(value);
  return std::stod(value);
}

nlohmann::json messages_of(const ChatInput& input) {
  auto messages = nlohmann::json::array();
  for (const auto& t : input.context)
    messages.push_back({{"role", t.role}, {"content", t.content}});
  messages.push_back({{"role", "user"}, {"content", input.message}});
  return messages;
}

[[noreturn]] void bad_answer(const ModelSpec& spec, const std::string& why) {
  throw svckit::Error(502, "about:blank", "Bad Gateway",
                      "the " + spec.provider + " provider of model " + spec.id + " " + why);
}

// The built-in model: answers at once and always the same way to the same input. A message with
// a fenced code block gets that code back (what the Code Assistant's refactoring relies on).
class LocalProvider : public Provider {
 public:
  std::string_view kind() const override { return "local"; }

  std::optional<Completion> complete_now(const ChatInput& input) override {
    Completion c;
    auto fence = input.message.find("```");
    if (fence != std::string::npos) {
      auto body = input.message.find('\n', fence);
      auto close = body == std::string::npos ? std::string::npos : input.message.find("```", body);
      if (close != std::string::npos) {
        c.text = "Here is the code, unchanged by the local model:\n" +
                 input.message.substr(fence, close + 3 - fence);
      }
    }
    if (c.text.empty()) {
      std::string said = input.message.substr(0, 500);
      c.text = "(local model) You said: " + said;
      if (!input.context.empty())
        c.text += " (after " + std::to_string(input.context.size()) + " earlier turns)";
    }
    std::int64_t in = count_tokens(input.message);
    for (const auto& t : input.context) in += count_tokens(t.content);
    c.input_tokens = in;
    c.output_tokens = count_tokens(c.text);
    return c;
  }

  Task<Completion> complete(const ChatInput& input, const svckit::Context*) override {
    co_return *complete_now(input);
  }
};

class HttpProvider : public Provider {
 public:
  HttpProvider(const ModelSpec& spec, svckit::App& app) : spec_(spec) {
    svckit::http::ClientOptions options;
    options.timeout = std::chrono::milliseconds(spec.timeout_ms);
    options.max_response_bytes = 4 << 20;
    try {
      client_ = &app.client("model-" + spec.id, spec.base_url, options);
    } catch (const svckit::ConfigError& e) {
      throw svckit::ConfigError("AI_MODELS", "model " + spec.id + ": " + e.reason());
    }
  }
  svckit::CircuitBreaker::State breaker() const override { return client_->breaker_state(); }

 protected:
  // POSTs `body` to `target`, answers the JSON of a 2xx answer.
  Task<nlohmann::json> post(std::string target, const nlohmann::json& body,
                            const svckit::Context* context) {
    auto call =
        svckit::http::ClientRequest::json(svckit::http::Method::post, std::move(target), body);
    if (!spec_.api_key.empty())
      call.headers.push_back({"Authorization", "Bearer " + spec_.api_key});
    call.context = context;
    call.idempotent = true;  // a completion changes nothing upstream: safe to ask again
    auto answer = co_await client_->send(std::move(call));
    if (answer.status / 100 != 2) bad_answer(spec_, "answered " + std::to_string(answer.status));
    auto json = nlohmann::json::parse(answer.body, nullptr, false);
    if (!json.is_object()) bad_answer(spec_, "answered something that is not a JSON object");
    co_return json;
  }

  ModelSpec spec_;
  svckit::http::Client* client_;
};

class OpenAiProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "openai"; }

  Task<Completion> complete(const ChatInput& input, const svckit::Context* context) override {
    nlohmann::json body = {
        {"model", spec_.remote}, {"messages", messages_of(input)}, {"stream", false}};
    for (const auto& [name, value] : input.options)
      if (name != "cache") body[name] = option_value(name, value);
    auto json = co_await post("/chat/completions", body, context);
    const auto* content = json.contains("choices") && json["choices"].is_array() &&
                                  !json["choices"].empty() && json["choices"][0].is_object() &&
                                  json["choices"][0].contains("message") &&
                                  json["choices"][0]["message"].is_object() &&
                                  json["choices"][0]["message"].contains("content")
                              ? &json["choices"][0]["message"]["content"]
                              : nullptr;
    if (!content || !content->is_string()) bad_answer(spec_, "gave no choices[0].message.content");
    Completion c;
    c.text = content->get<std::string>();
    const auto usage = json.value("usage", nlohmann::json::object());
    c.input_tokens = usage.is_object() ? usage.value("prompt_tokens", std::int64_t{-1}) : -1;
    c.output_tokens = usage.is_object() ? usage.value("completion_tokens", std::int64_t{-1}) : -1;
    if (c.input_tokens < 0) c.input_tokens = count_tokens(input.message);
    if (c.output_tokens < 0) c.output_tokens = count_tokens(c.text);
    co_return c;
  }
};

class OllamaProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "ollama"; }

  Task<Completion> complete(const ChatInput& input, const svckit::Context* context) override {
    nlohmann::json options = nlohmann::json::object();
    for (const auto& [name, value] : input.options) {
      if (name == "cache") continue;
      if (name == "max_tokens")
        options["num_predict"] = option_value(name, value);
      else if (name == "stop")
        options["stop"] = nlohmann::json::array({value});
      else
        options[name] = option_value(name, value);
    }
    nlohmann::json body = {{"model", spec_.remote},
                           {"messages", messages_of(input)},
                           {"stream", false},
                           {"options", options}};
    auto json = co_await post("/api/chat", body, context);
    if (!json.contains("message") || !json["message"].is_object() ||
        !json["message"].contains("content") || !json["message"]["content"].is_string())
      bad_answer(spec_, "gave no message.content");
    Completion c;
    c.text = json["message"]["content"].get<std::string>();
    c.input_tokens = json.value("prompt_eval_count", count_tokens(input.message));
    c.output_tokens = json.value("eval_count", count_tokens(c.text));
    co_return c;
  }
};

bool valid_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

std::string models_text(svckit::App& app, std::string& setting) {
  if (auto file = app.settings().text("AI_MODELS_FILE"); !file.empty()) {
    setting = "AI_MODELS_FILE";
    std::ifstream in(file);
    if (!in) throw svckit::ConfigError(setting, "cannot read " + file);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  setting = "AI_MODELS";
  return app.settings().text("AI_MODELS");
}

}  // namespace

void check_options(const std::map<std::string, std::string>& options) {
  if (options.size() > 16) throw ValidationError("options", "at most 16 options");
  for (const auto& [name, value] : options) {
    bool ok;
    if (name == "temperature")
      ok = number_in(value, 0, 2);
    else if (name == "top_p")
      ok = number_in(value, 0, 1);
    else if (name == "max_tokens")
      ok = integer_in(value, 1, 32768);
    else if (name == "seed")
      ok = integer_in(value, 0, INT32_MAX);
    else if (name == "presence_penalty" || name == "frequency_penalty")
      ok = number_in(value, -2, 2);
    else if (name == "stop")
      ok = !value.empty() && value.size() <= 64;
    else if (name == "cache")
      ok = value == "true" || value == "false";
    else
      throw ValidationError("options." + name.substr(0, 64),
                            "not an option: temperature, top_p, max_tokens, seed, stop, "
                            "presence_penalty, frequency_penalty, cache");
    if (!ok)
      throw ValidationError("options." + name, "out of range: '" + value.substr(0, 64) + "'");
  }
}

void ChatInput::validate() const {
  if (message.empty()) throw ValidationError("message", "is required and must not be empty");
  if (message.size() > kMaxMessage)
    throw ValidationError("message", "longer than " + std::to_string(kMaxMessage) + " bytes");
  if (context.size() > kMaxTurns)
    throw ValidationError("context", "more than " + std::to_string(kMaxTurns) + " turns");
  for (std::size_t i = 0; i < context.size(); ++i) {
    const auto& t = context[i];
    auto field = "context[" + std::to_string(i) + "]";
    if (t.role != "system" && t.role != "user" && t.role != "assistant")
      throw ValidationError(field + ".role", "must be system, user or assistant");
    if (t.content.size() > kMaxMessage)
      throw ValidationError(field + ".content",
                            "longer than " + std::to_string(kMaxMessage) + " bytes");
  }
  check_options(options);
}

std::string_view status_of(svckit::CircuitBreaker::State breaker) {
  switch (breaker) {
    case svckit::CircuitBreaker::State::closed:
      return "available";
    case svckit::CircuitBreaker::State::half_open:
      return "degraded";
    default:
      return "unavailable";
  }
}

std::int64_t count_tokens(std::string_view text) {
  std::int64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::vector<std::unique_ptr<Model>> models_from_settings(svckit::App& app) {
  std::vector<std::unique_ptr<Model>> models;
  auto local = std::make_unique<Model>();
  local->spec = {"local", "Local model (built in, offline)", "local", "", "local", "", 0};
  local->provider = std::make_unique<LocalProvider>();
  models.push_back(std::move(local));

  std::string setting;
  auto text = models_text(app, setting);
  if (text.empty()) return models;
  auto list = nlohmann::json::parse(text, nullptr, false);
  if (!list.is_array()) throw svckit::ConfigError(setting, "expected a JSON array of models");
  std::set<std::string> ids = {"local"};
  for (const auto& m : list) {
    auto refuse = [&](const std::string& why) {
      throw svckit::ConfigError(setting, why + " in " + m.dump().substr(0, 200));
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
    auto spec = ModelSpec{};
    spec.id = text_of("id", true);
    if (!valid_id(spec.id)) refuse("\"id\" must be 1-64 of a-z 0-9 . _ -");
    if (!ids.insert(spec.id).second) refuse("the id \"" + spec.id + "\" is used twice");
    spec.provider = text_of("provider", true);
    if (spec.provider != "openai" && spec.provider != "ollama")
      refuse("\"provider\" must be openai or ollama");
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
    auto model = std::make_unique<Model>();
    model->spec = spec;
    if (spec.provider == "openai")
      model->provider = std::make_unique<OpenAiProvider>(spec, app);
    else
      model->provider = std::make_unique<OllamaProvider>(spec, app);
    models.push_back(std::move(model));
  }
  return models;
}

}  // namespace aether::ai_gateway
