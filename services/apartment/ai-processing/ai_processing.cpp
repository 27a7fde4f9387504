#include "ai_processing.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>

#include <prometheus/counter.h>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/config.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>

#include "apartment/risk.hpp"
#include "apartment/roles.hpp"
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
  classified_->Add({{"category", answer.category}, {"urgency", answer.urgency}}).Increment();
  co_return svckit::http::json_response(200, answer);
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
