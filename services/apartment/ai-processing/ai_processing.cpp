#include "ai_processing.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <prometheus/counter.h>
#include <svckit/app/ai_models.hpp>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>

#include "apartment/risk.hpp"
#include "apartment/roles.hpp"
#include "llm_classifier.hpp"
#include "risk_features.hpp"

namespace apartment::ai {
namespace {

using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

double round6(double x) {
  return std::round(x * 1e6) / 1e6;
}

std::int64_t unix_now() {
  using namespace std::chrono;
  return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

void AiProcessing::declare(svckit::Settings& settings) {
  settings.set_default("AUTH_ROLES", kRoles);
  svckit::declare_ai_models(settings);
  settings.declare("ai-processing",
                   {.name = "CLASSIFIER_MODEL",
                    .help = "the language model (an AI_MODELS id) that classifies beside the "
                            "rules; unset: the rules only"});
  settings.declare("ai-processing",
                   {.name = "CLASSIFIER_MODEL_TIMEOUT",
                    .type = svckit::SettingType::duration,
                    .default_value = "3s",
                    .min = 10,
                    .max = 120'000,
                    .help = "how long the model may take before the rules answer instead"});
  settings.declare("ai-processing",
                   {.name = "CLASSIFIER_RULES_FILE",
                    .type = svckit::SettingType::file,
                    .default_value = APARTMENT_MODEL_DIR "/classification_rules.json",
                    .help = "the rule classifier's terms, weights and negations"});
  settings.declare("ai-processing",
                   {.name = "RISK_MODEL_FILE",
                    .type = svckit::SettingType::file,
                    .default_value = APARTMENT_MODEL_DIR "/risk_model.json",
                    .help = "the XGBoost risk model (model/train_risk_model.py writes it)"});
}

void AiProcessing::install(svckit::App& app) {
  // A rules file or a model this code cannot serve stops start-up (exit 2), naming the setting.
  try {
    classifier_ = std::make_unique<Classifier>(
        Classifier::from_file(app.settings().text("CLASSIFIER_RULES_FILE")));
  } catch (const std::invalid_argument& e) {
    throw svckit::ConfigError("CLASSIFIER_RULES_FILE", e.what());
  }
  try {
    // A copy of the model per I/O loop: predictions on different loops never wait for each other.
    risk_model_ =
        std::make_unique<RiskModel>(app.settings().text("RISK_MODEL_FILE"), app.loops().size());
  } catch (const ModelError& e) {
    throw svckit::ConfigError("RISK_MODEL_FILE", e.what());
  }
  if (auto id = app.settings().text("CLASSIFIER_MODEL"); !id.empty()) {
    models_ = svckit::ai_models_from_settings(app);
    for (const auto& m : models_)
      if (m->spec.id == id) model_ = m.get();
    if (!model_)
      throw svckit::ConfigError("CLASSIFIER_MODEL", "no model '" + id + "' in AI_MODELS");
    model_timeout_ = app.settings().duration("CLASSIFIER_MODEL_TIMEOUT");
  }
  app.logger().info("models loaded", {{"rules_version", classifier_->version()},
                                      {"risk_model_version", risk_model_->version()},
                                      {"risk_model_rounds", risk_model_->rounds()}});
  classified_ = &app.metrics().counter("apartment_classifications_total",
                                       "Messages classified, by category and urgency.");
  predicted_ =
      &app.metrics().counter("apartment_risk_predictions_total", "Risk predictions, by band.");

  auto auth = svckit::required_bearer_options_from_settings(app, "AI Processing");
  auto api = app.http().group("/api/v1", {svckit::auth::bearer(std::move(auth))});
  using svckit::http::bind;
  api.post("/classify", bind(this, &AiProcessing::classify))
      .summary("Classify a resident's message: category, urgency, confidence, evidence")
      .accepts<ClassifyRequest>()
      .returns<Classification>();
  api.post("/predict-risk", bind(this, &AiProcessing::predict_risk))
      .summary("The probability that a classified request escalates, and why")
      .accepts<RiskInput>()
      .returns<RiskAssessment>();
  auto root = app.http().group("");
  app.health().serve_readiness_at(root, "/api/v1/health");
}

Task<Response> AiProcessing::classify(Request& req) {
  auto input = req.json<ClassifyRequest>();
  auto answer = classifier_->classify(input.message);
  if (model_ && input.use_llm.value_or(true))
    answer = co_await ask_model(input.message, req.context(), std::move(answer));
  classified_
      ->Add({{"category", answer.category}, {"urgency", answer.urgency}, {"method", answer.method}})
      .Increment();
  co_return svckit::http::json_response(200, answer);
}

Task<Classification> AiProcessing::ask_model(const std::string& message,
                                             const svckit::Context& context, Classification rules) {
  auto question = classification_question(message);
  std::string why;
  try {
    auto deadline = svckit::Deadline::after(model_timeout_);
    auto completion = co_await model_->provider->complete(question, &context, deadline);
    if (auto answer = read_model_answer(completion.text, why)) {
      answer->evidence = std::move(rules.evidence);  // what the rules found, for the record
      answer->rules_version = rules.rules_version;
      answer->model = model_->spec.id;
      co_return std::move(*answer);
    }
  } catch (const svckit::Error& e) {  // no answer in time, a refusal, an unreadable answer
    why = "the model failed: " + e.detail();
  }
  context.log(svckit::log::Level::warning, "classified by the rules instead of the model",
              {{"model", model_->spec.id}, {"reason", why}});
  rules.fallback = why;
  co_return rules;
}

Task<Response> AiProcessing::predict_risk(Request& req) {
  auto input = req.json<RiskInput>();
  if (input.submitted_at && !svckit::iso8601_seconds(*input.submitted_at))
    throw svckit::ValidationError("submitted_at", "is not an ISO 8601 date-time");
  auto row = risk_features(input, classifier_->severity_terms(input.message), unix_now());
  auto attribution =
      input.explain == "shap" ? RiskModel::Attribution::shap : RiskModel::Attribution::approximate;
  auto prediction = risk_model_->predict(row, attribution);
  RiskAssessment answer;
  answer.risk_score = round6(prediction.probability);
  answer.band = risk_band(prediction.probability);
  answer.model_version = risk_model_->version();
  answer.attribution = input.explain;
  std::vector<std::size_t> order(kRiskFeatures.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    answer.features.emplace(kRiskFeatures[i], row[i]);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::fabs(prediction.contributions[a]) > std::fabs(prediction.contributions[b]);
  });
  for (std::size_t i = 0; i < 3; ++i)
    answer.factors.push_back({std::string(kRiskFeatures[order[i]]), row[order[i]],
                              round6(prediction.contributions[order[i]])});
  predicted_->Add({{"band", answer.band}}).Increment();
  co_return svckit::http::json_response(200, answer);
}

}  // namespace apartment::ai
