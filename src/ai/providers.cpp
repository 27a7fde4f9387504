// The providers of svckit/ai/model.hpp, one wire format each.
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "svckit/ai/model.hpp"
#include "svckit/error.hpp"

namespace svckit::ai {
namespace {

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

// The token counts an answer reports in `usage` (an object, or anything else when it reports
// none), under the provider's names; counted from the texts where it does not say.
void take_usage(Completion& c, const nlohmann::json& usage, const char* input_key,
                const char* output_key, const std::string& message) {
  c.input_tokens = usage.is_object() ? usage.value(input_key, std::int64_t{-1}) : -1;
  c.output_tokens = usage.is_object() ? usage.value(output_key, std::int64_t{-1}) : -1;
  if (c.input_tokens < 0) c.input_tokens = count_tokens(message);
  if (c.output_tokens < 0) c.output_tokens = count_tokens(c.text);
}

[[noreturn]] void bad_answer(const ModelSpec& spec, const std::string& why) {
  throw Error(502, "about:blank", "Bad Gateway",
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

  Task<Completion> complete(const ChatInput& input, const Context*, Deadline) override {
    co_return *complete_now(input);
  }
};

class HttpProvider : public Provider {
 public:
  HttpProvider(const ModelSpec& spec, http::Client& client) : spec_(spec), client_(client) {}
  CircuitBreaker::State breaker() const override { return client_.breaker_state(); }

 protected:
  // POSTs `body` to `target` with `headers`; the JSON of a 2xx answer.
  Task<nlohmann::json> post(std::string target, const nlohmann::json& body,
                            std::vector<http::ClientRequest::Header> headers,
                            const Context* context, Deadline deadline) {
    auto call = http::ClientRequest::json(http::Method::post, std::move(target), body);
    call.headers = std::move(headers);
    call.context = context;
    call.deadline = deadline;
    call.idempotent = true;  // a completion changes nothing upstream: safe to ask again
    auto answer = co_await client_.send(std::move(call));
    if (answer.status / 100 != 2) bad_answer(spec_, "answered " + std::to_string(answer.status));
    auto json = nlohmann::json::parse(answer.body, nullptr, false);
    if (json.is_discarded()) bad_answer(spec_, "answered something that is not JSON");
    co_return json;
  }
  std::vector<http::ClientRequest::Header> bearer() const {
    if (spec_.api_key.empty()) return {};
    return {{"Authorization", "Bearer " + spec_.api_key}};
  }

  ModelSpec spec_;
  http::Client& client_;
};

class OpenAiProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "openai"; }

  Task<Completion> complete(const ChatInput& input, const Context* context,
                            Deadline deadline) override {
    nlohmann::json body = {
        {"model", spec_.remote}, {"messages", messages_of(input)}, {"stream", false}};
    for (const auto& [name, value] : input.options)
      if (name != "cache") body[name] = option_value(name, value);
    // Named first: GCC 12 may destroy a temporary argument of a coroutine twice.
    std::string target = "/chat/completions";
    auto headers = bearer();
    auto json = co_await post(std::move(target), body, std::move(headers), context, deadline);
    const auto* content = json.is_object() && json.contains("choices") &&
                                  json["choices"].is_array() && !json["choices"].empty() &&
                                  json["choices"][0].is_object() &&
                                  json["choices"][0].contains("message") &&
                                  json["choices"][0]["message"].is_object() &&
                                  json["choices"][0]["message"].contains("content")
                              ? &json["choices"][0]["message"]["content"]
                              : nullptr;
    if (!content || !content->is_string()) bad_answer(spec_, "gave no choices[0].message.content");
    Completion c;
    c.text = content->get<std::string>();
    take_usage(c, json.value("usage", nlohmann::json::object()), "prompt_tokens",
               "completion_tokens", input.message);
    co_return c;
  }
};

class OllamaProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "ollama"; }

  Task<Completion> complete(const ChatInput& input, const Context* context,
                            Deadline deadline) override {
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
    std::string target = "/api/chat";
    auto headers = bearer();
    auto json = co_await post(std::move(target), body, std::move(headers), context, deadline);
    if (!json.is_object() || !json.contains("message") || !json["message"].is_object() ||
        !json["message"].contains("content") || !json["message"]["content"].is_string())
      bad_answer(spec_, "gave no message.content");
    Completion c;
    c.text = json["message"]["content"].get<std::string>();
    c.input_tokens = json.value("prompt_eval_count", count_tokens(input.message));
    c.output_tokens = json.value("eval_count", count_tokens(c.text));
    co_return c;
  }
};

// Gemini's generateContent: turns are `contents` with roles user and model, system turns the
// `systemInstruction`, options the `generationConfig`; the key goes in x-goog-api-key.
class GeminiProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "gemini"; }

  Task<Completion> complete(const ChatInput& input, const Context* context,
                            Deadline deadline) override {
    auto contents = nlohmann::json::array();
    std::string system;
    auto turn = [](const std::string& role, const std::string& text) {
      return nlohmann::json{{"role", role}, {"parts", {{{"text", text}}}}};
    };
    for (const auto& t : input.context) {
      if (t.role == "system")
        system += (system.empty() ? "" : "\n") + t.content;
      else
        contents.push_back(turn(t.role == "assistant" ? "model" : "user", t.content));
    }
    contents.push_back(turn("user", input.message));
    nlohmann::json config = nlohmann::json::object();
    for (const auto& [name, value] : input.options) {
      if (name == "temperature") config["temperature"] = option_value(name, value);
      if (name == "top_p") config["topP"] = option_value(name, value);
      if (name == "max_tokens") config["maxOutputTokens"] = option_value(name, value);
      if (name == "stop") config["stopSequences"] = nlohmann::json::array({value});
      if (name == "seed") config["seed"] = option_value(name, value);
      if (name == "presence_penalty") config["presencePenalty"] = option_value(name, value);
      if (name == "frequency_penalty") config["frequencyPenalty"] = option_value(name, value);
    }
    nlohmann::json body = {{"contents", contents}, {"generationConfig", config}};
    if (!system.empty()) body["systemInstruction"] = {{"parts", {{{"text", system}}}}};
    std::vector<http::ClientRequest::Header> headers;
    if (!spec_.api_key.empty()) headers.emplace_back("x-goog-api-key", spec_.api_key);
    auto target = "/v1beta/models/" + spec_.remote + ":generateContent";
    auto json = co_await post(std::move(target), body, std::move(headers), context, deadline);
    Completion c;
    bool found = false;
    if (json.is_object() && json.contains("candidates") && json["candidates"].is_array() &&
        !json["candidates"].empty() && json["candidates"][0].is_object()) {
      const auto& content = json["candidates"][0].value("content", nlohmann::json::object());
      if (content.is_object() && content.contains("parts") && content["parts"].is_array())
        for (const auto& part : content["parts"])
          if (part.is_object() && part.contains("text") && part["text"].is_string()) {
            c.text += part["text"].get<std::string>();
            found = true;
          }
    }
    if (!found) {
      std::string why = "gave no candidates[0].content.parts[].text";
      if (json.is_object() && json.contains("promptFeedback"))
        why += " (promptFeedback: " + json["promptFeedback"].dump().substr(0, 200) + ")";
      bad_answer(spec_, why);
    }
    take_usage(c, json.value("usageMetadata", nlohmann::json::object()), "promptTokenCount",
               "candidatesTokenCount", input.message);
    co_return c;
  }
};

// Hugging Face Inference's text-generation task: the conversation as one prompt, options as
// `parameters` (a temperature of 0 means greedy: do_sample false), the answer
// [{"generated_text": ...}] without the prompt (return_full_text false).
class HuggingFaceProvider : public HttpProvider {
 public:
  using HttpProvider::HttpProvider;
  std::string_view kind() const override { return "huggingface"; }

  Task<Completion> complete(const ChatInput& input, const Context* context,
                            Deadline deadline) override {
    std::string prompt;
    for (const auto& t : input.context) prompt += label(t.role) + ": " + t.content + "\n";
    prompt += "User: " + input.message + "\nAssistant:";
    nlohmann::json parameters = {{"return_full_text", false}};
    for (const auto& [name, value] : input.options) {
      if (name == "max_tokens") parameters["max_new_tokens"] = option_value(name, value);
      if (name == "top_p") parameters["top_p"] = option_value(name, value);
      if (name == "seed") parameters["seed"] = option_value(name, value);
      if (name == "stop") parameters["stop"] = nlohmann::json::array({value});
      if (name == "temperature") {
        auto t = option_value(name, value).get<double>();
        if (t > 0)
          parameters["temperature"] = t;
        else
          parameters["do_sample"] = false;
      }
    }
    nlohmann::json body = {
        {"inputs", prompt}, {"parameters", parameters}, {"options", {{"wait_for_model", true}}}};
    auto target = "/models/" + spec_.remote;
    auto headers = bearer();
    auto json = co_await post(std::move(target), body, std::move(headers), context, deadline);
    const nlohmann::json* first = nullptr;
    if (json.is_array() && !json.empty()) first = &json[0];
    if (json.is_object()) first = &json;
    if (!first || !first->is_object() || !first->contains("generated_text") ||
        !(*first)["generated_text"].is_string())
      bad_answer(spec_, "gave no [0].generated_text");
    Completion c;
    c.text = (*first)["generated_text"].get<std::string>();
    c.input_tokens = count_tokens(prompt);
    c.output_tokens = count_tokens(c.text);
    co_return c;
  }

 private:
  static std::string label(const std::string& role) {
    if (role == "system") return "System";
    if (role == "assistant") return "Assistant";
    return "User";
  }
};

}  // namespace

std::unique_ptr<Provider> make_provider(const ModelSpec& spec, http::Client* client) {
  if (spec.provider == "local") return std::make_unique<LocalProvider>();
  if (!client) throw std::invalid_argument("the " + spec.provider + " provider needs a client");
  if (spec.provider == "openai") return std::make_unique<OpenAiProvider>(spec, *client);
  if (spec.provider == "ollama") return std::make_unique<OllamaProvider>(spec, *client);
  if (spec.provider == "gemini") return std::make_unique<GeminiProvider>(spec, *client);
  if (spec.provider == "huggingface") return std::make_unique<HuggingFaceProvider>(spec, *client);
  throw std::invalid_argument("no provider '" + spec.provider +
                              "' (local, openai, ollama, gemini, huggingface)");
}

}  // namespace svckit::ai
