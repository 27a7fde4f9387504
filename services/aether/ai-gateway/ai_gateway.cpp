#include "ai_gateway.hpp"

#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/app/grpc.hpp>
#include <svckit/auth/grpc.hpp>
#include <svckit/bus/bus.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/model/json.hpp>

#include "ai_gateway.pb.h"
#include "chat_models.hpp"

namespace aether::ai_gateway {
namespace {

using svckit::Task;
using svckit::grpc::Call;
using svckit::grpc::Reply;
using svckit::http::Request;
using svckit::http::Response;
using Clock = std::chrono::steady_clock;

std::int64_t ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

// --- REST bodies -------------------------------------------------------------------------------

// Options as the providers take them: text. JSON gives numbers and booleans too.
std::map<std::string, std::string> options_of(const std::map<std::string, nlohmann::json>& given) {
  std::map<std::string, std::string> out;
  for (const auto& [name, value] : given) {
    if (value.is_string())
      out[name] = value.get<std::string>();
    else if (value.is_number_integer())
      out[name] = std::to_string(value.get<std::int64_t>());
    else if (value.is_number())
      out[name] = std::to_string(value.get<double>());
    else if (value.is_boolean())
      out[name] = value.get<bool>() ? "true" : "false";
    else
      throw svckit::ValidationError("options." + name.substr(0, 64),
                                    "must be a string, a number or a boolean");
  }
  return out;
}

ModelInfo info_of(const Model& m) {
  return {m.spec.id, m.spec.name, m.spec.provider, std::string(status_of(m.provider->breaker()))};
}

// --- gRPC messages -----------------------------------------------------------------------------

ChatInput input_of(const ChatRequest& req) {
  ChatInput input;
  input.message = req.message();
  if (static_cast<std::size_t>(req.context_size()) > ChatInput::kMaxTurns)
    throw svckit::ValidationError("context", "more than 50 turns");
  for (const auto& t : req.context()) input.context.push_back({t.role(), t.content()});
  if (req.options_size() > 16) throw svckit::ValidationError("options", "at most 16 options");
  for (const auto& [name, value] : req.options()) input.options[name] = value;
  return input;
}

ChatResponse response_of(const AiGateway::Answer& a) {
  ChatResponse r;
  r.set_response(a.completion.text);
  r.set_model(a.model);
  r.mutable_tokens()->set_input(a.completion.input_tokens);
  r.mutable_tokens()->set_output(a.completion.output_tokens);
  r.set_latency_ms(a.latency_ms);
  return r;
}

// The answer now or when it comes (no co_await inside ?:, docs/architecture.md: GCC 12).
Task<AiGateway::Answer> answer_of(Reply<AiGateway::Answer> reply) {
  if (reply.ready()) co_return std::move(reply.response());
  co_return co_await std::move(reply.later());
}

Task<ChatResponse> response_when(Task<AiGateway::Answer> later) {
  co_return response_of(co_await std::move(later));
}

// An answer in pieces of a few words, the last one with the token counts and latency.
std::vector<std::string> pieces_of(const std::string& text) {
  std::vector<std::string> pieces;
  std::size_t start = 0, words = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == ' ' && ++words % 8 == 0) {
      pieces.push_back(text.substr(start, i + 1 - start));
      start = i + 1;
    }
  }
  if (start < text.size() || pieces.empty()) pieces.push_back(text.substr(start));
  return pieces;
}

}  // namespace

// --- the gateway -------------------------------------------------------------------------------

const Model& AiGateway::model_named(const std::string& id) const {
  if (id.empty()) return current();
  for (const auto& m : models_)
    if (m->spec.id == id) return *m;
  std::string known;
  for (const auto& m : models_) known += (known.empty() ? "" : ", ") + m->spec.id;
  throw svckit::ValidationError("model",
                                "unknown model '" + id.substr(0, 64) + "'; known: " + known);
}

Reply<AiGateway::Answer> AiGateway::chat(const std::string& model_id, ChatInput input,
                                         const svckit::Context& context) {
  const Model& model = model_named(model_id);
  input.validate();
  counters_.at(&model).requests->Increment();
  if (bus_->wanted("ai.request.received"))  // in-process with nobody listening: not even built
    bus_->publish_soon("ai.request.received",
                       {{"request_id", context.request_id()},
                        {"model", model.spec.id},
                        {"user_id", context.user_id()},
                        {"timestamp", svckit::utc_now_iso8601()}},
                       &context);
  bool use_cache = !input.options.contains("cache") || input.options.at("cache") != "false";
  std::string key = ResponseCache::key(model.spec.id, input);
  if (use_cache)
    if (auto hit = cache_->find(key)) return answered(model, *hit, true, context);
  if (auto now = model.provider->complete_now(input)) {
    if (use_cache) cache_->store(key, *now);
    return answered(model, *now, false, context);
  }
  return ask(model, std::move(input), std::move(key), use_cache, context);
}

Task<AiGateway::Answer> AiGateway::ask_as(const svckit::Context& context, std::string model,
                                          ChatInput input) {
  svckit::auth::check_permission(svckit::auth::principal(context), "ai:use");
  auto reply = chat(model, std::move(input), context);
  co_return co_await answer_of(std::move(reply));
}

Task<AiGateway::Answer> AiGateway::ask(const Model& model, ChatInput input, std::string key,
                                       bool cache, const svckit::Context& context) {
  bool shared = cache && shared_cache_;
  if (shared)
    if (auto hit = co_await shared_cache_->find(key, context.deadline())) {
      cache_->store(key, *hit);
      co_return answered(model, *hit, true, context);
    }
  auto c = co_await model.provider->complete(input, &context);
  if (cache) cache_->store(key, c);
  if (shared) co_await shared_cache_->store(key, c, context.deadline());
  co_return answered(model, c, false, context);
}

AiGateway::Answer AiGateway::answered(const Model& model, const Completion& c, bool cached,
                                      const svckit::Context& context) {
  Answer a{c, model.spec.id, ms_since(context.started_at()), cached};
  const auto& counters = counters_.at(&model);
  counters.input_tokens->Increment(static_cast<double>(c.input_tokens));
  counters.output_tokens->Increment(static_cast<double>(c.output_tokens));
  if (bus_->wanted("ai.response.generated"))
    bus_->publish_soon("ai.response.generated",
                       {{"request_id", context.request_id()},
                        {"model", model.spec.id},
                        {"tokens", {{"input", c.input_tokens}, {"output", c.output_tokens}}},
                        {"latency_ms", a.latency_ms},
                        {"cached", cached},
                        {"timestamp", svckit::utc_now_iso8601()}},
                       &context);
  return a;
}

void AiGateway::declare(svckit::Settings& settings) {
  using svckit::SettingType;
  svckit::declare_ai_models(settings);
  settings.declare("ai-gateway", {.name = "AI_DEFAULT_MODEL",
                                  .default_value = "local",
                                  .help = "the model asked when a request names none"});
  settings.declare("ai-gateway", {.name = "AI_CACHE_ENTRIES",
                                  .type = SettingType::integer,
                                  .default_value = "1000",
                                  .min = 0,
                                  .max = 1'000'000,
                                  .help = "answers kept for questions asked again"});
  settings.declare("ai-gateway", {.name = "AI_CACHE_TTL_SECONDS",
                                  .type = SettingType::integer,
                                  .default_value = "300",
                                  .min = 1,
                                  .max = 86400,
                                  .help = "how long a cached answer is given"});
}

void AiGateway::install(svckit::App& app) {
  models_ = svckit::ai_models_from_settings(app);
  auto default_model = app.settings().text("AI_DEFAULT_MODEL");
  for (const auto& m : models_)
    if (m->spec.id == default_model) current_ = m.get();
  if (!current_) throw svckit::ConfigError("AI_DEFAULT_MODEL", "no model '" + default_model + "'");

  ResponseCacheOptions cache;
  cache.capacity = static_cast<std::size_t>(app.settings().integer("AI_CACHE_ENTRIES"));
  cache.ttl = std::chrono::seconds(app.settings().integer("AI_CACHE_TTL_SECONDS"));
  cache_ = std::make_unique<ResponseCache>(cache, &app.metrics());
  if (cache.capacity > 0 && app.kv().backend() != "memory")
    shared_cache_ = std::make_unique<SharedResponseCache>(app.kv(), cache.ttl, app.metrics());

  auto& requests = app.metrics().counter("ai_requests_total", "Questions asked, by model.");
  auto& tokens = app.metrics().counter("ai_tokens_total", "Tokens in questions and answers.");
  for (const auto& m : models_)
    counters_[m.get()] = {&requests.Add({{"model", m->spec.id}}),
                          &tokens.Add({{"model", m->spec.id}, {"kind", "input"}}),
                          &tokens.Add({{"model", m->spec.id}, {"kind", "output"}})};
  bus_ = &app.bus();

  auto auth = svckit::required_bearer_options_from_settings(app, "AI Gateway");
  install_rest(app, auth);
  install_grpc(app, auth);
}

void AiGateway::install_rest(svckit::App& app, const svckit::auth::BearerOptions& auth) {
  auto api = app.http().group("/api/v1/ai", {svckit::auth::bearer(auth)});
  auto use = svckit::auth::require("ai:use");

  using svckit::http::bind;
  api.post("/chat", use, bind(this, &AiGateway::ask_rest))
      .summary("Ask a model")
      .accepts<Question>()
      .returns<ChatAnswer>()
      .errors({502, 503, 504});
  api.get("/models", use, bind(this, &AiGateway::list_models))
      .summary("The models and which one is current")
      .returns<ModelList>();
  api.get("/models/{model}", use, bind(this, &AiGateway::model_status))
      .summary("A model's status and circuit breaker")
      .returns<ModelStatus>()
      .errors({404});
  api.post("/switch", svckit::auth::require("ai:admin"), bind(this, &AiGateway::switch_model))
      .summary("Make another model the current one")
      .accepts<ModelChoice>()
      .returns<ModelSwitched>();
}

Task<Response> AiGateway::ask_rest(Request& req) {
  auto question = req.json<Question>();
  ChatInput input{.message = std::move(question.message),
                  .context = std::move(question.context).value_or(std::vector<Turn>{}),
                  .options = options_of(question.options)};
  auto reply = chat(question.model.value_or(""), std::move(input), req.context());
  Answer a = co_await answer_of(std::move(reply));
  ChatAnswer answer{.response = std::move(a.completion.text),
                    .model = a.model,
                    .tokens = {a.completion.input_tokens, a.completion.output_tokens},
                    .latency_ms = a.latency_ms,
                    .cached = a.cached};
  co_return svckit::http::json_response(200, answer);
}

Task<Response> AiGateway::list_models(Request&) {
  ModelList answer{.current_model = current().spec.id};
  for (const auto& m : models_) answer.models.push_back(info_of(*m));
  co_return svckit::http::json_response(200, answer);
}

Task<Response> AiGateway::model_status(Request& req) {
  const auto& id = req.param("model");
  for (const auto& m : models_)
    if (m->spec.id == id) {
      auto info = info_of(*m);
      ModelStatus answer{info.id,
                         info.name,
                         info.provider,
                         info.status,
                         std::string(svckit::to_string(m->provider->breaker())),
                         m.get() == &current()};
      co_return svckit::http::json_response(200, answer);
    }
  throw svckit::NotFound("no model '" + id.substr(0, 64) + "'");
}

Task<Response> AiGateway::switch_model(Request& req) {
  auto choice = req.json<ModelChoice>();
  const Model& m = model_named(choice.model);
  current_ = &m;
  req.log(svckit::log::Level::info, "current model switched", {{"model", m.spec.id}});
  co_return svckit::http::json_response(200, ModelSwitched{m.spec.id, "switched"});
}

void AiGateway::install_grpc(svckit::App& app, const svckit::auth::BearerOptions& auth) {
  auto ai = svckit::grpc::server(app).service("AIGateway", svckit::auth::grpc_authentication(auth));
  svckit::grpc::MethodOptions use{.permission = "ai:use"};

  ai.unary<ChatRequest, ChatResponse>(
      "Chat",
      [this](Call& call, const ChatRequest& req) -> Reply<ChatResponse> {
        auto reply = chat(req.model(), input_of(req), call.context());
        if (reply.ready()) return response_of(reply.response());
        return response_when(std::move(reply.later()));
      },
      use);

  ai.server_streaming<ChatRequest, ChatResponse>(
      "StreamChat",
      [this](Call& call, const ChatRequest& req,
             svckit::grpc::Writer<ChatResponse>& out) -> Task<void> {
        Answer a = co_await answer_of(chat(req.model(), input_of(req), call.context()));
        auto pieces = pieces_of(a.completion.text);
        for (std::size_t i = 0; i < pieces.size(); ++i) {
          ChatResponse r;
          r.set_response(pieces[i]);
          r.set_model(a.model);
          if (i + 1 == pieces.size()) {
            r.mutable_tokens()->set_input(a.completion.input_tokens);
            r.mutable_tokens()->set_output(a.completion.output_tokens);
            r.set_latency_ms(a.latency_ms);
          }
          if (!co_await out.write(std::move(r))) co_return;  // the client went away
        }
      },
      use);

  ai.unary<ListModelsRequest, ListModelsResponse>(
      "ListModels",
      [this](Call&, const ListModelsRequest&) -> Reply<ListModelsResponse> {
        ListModelsResponse r;
        for (const auto& m : models_) {
          auto* info = r.add_models();
          info->set_id(m->spec.id);
          info->set_name(m->spec.name);
          info->set_provider(m->spec.provider);
          info->set_status(std::string(status_of(m->provider->breaker())));
        }
        r.set_current_model(current().spec.id);
        return r;
      },
      use);

  ai.unary<ModelStatusRequest, ModelStatusResponse>(
      "GetModelStatus",
      [this](Call&, const ModelStatusRequest& req) -> Reply<ModelStatusResponse> {
        for (const auto& m : models_)
          if (m->spec.id == req.model()) {
            ModelStatusResponse r;
            r.set_model(m->spec.id);
            r.set_provider(m->spec.provider);
            r.set_status(std::string(status_of(m->provider->breaker())));
            r.set_circuit_state(std::string(svckit::to_string(m->provider->breaker())));
            r.set_current(m.get() == &current());
            return r;
          }
        throw svckit::grpc::StatusError(::grpc::StatusCode::NOT_FOUND,
                                        "no model '" + req.model().substr(0, 64) + "'");
      },
      use);
}

}  // namespace aether::ai_gateway
