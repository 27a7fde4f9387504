#pragma once
// POST /api/v1/predict-risk (seed 004, AI Processing): how likely a classified request is to
// escalate (damage spreading, a safety incident, a formal complaint), from the XGBoost model.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/classification.hpp"

namespace apartment {

struct RiskInput {
  std::string category;
  std::string urgency;
  double confidence = 0.7;                  // the classification's
  std::string message;                      // its severe words count
  std::optional<std::string> unit;          // "1204", "12B": the floor is its leading number
  std::int64_t prior_requests_90d = 0;      // the resident's
  std::int64_t open_requests_unit = 0;      // the unit's, not yet resolved
  std::optional<std::string> submitted_at;  // ISO 8601; now when absent
  // How the factors are attributed: "approximate" (Saabas: each split's change of the expected
  // value along the row's path, XGBoost's approx_contribs; a fifth of the cost) or "shap"
  // (TreeSHAP, XGBoost's pred_contribs). Both sum, with the bias, to the model's margin.
  std::string explain = "approximate";
  static void rules(svckit::model::Rules<RiskInput>& r) {
    r.field(&RiskInput::category).one_of(kCategories);
    r.field(&RiskInput::urgency).one_of(kUrgencies);
    r.field(&RiskInput::confidence).range(0, 1).defaulted();
    r.field(&RiskInput::message).length(0, kMaxMessage).defaulted();
    r.field(&RiskInput::unit).length(1, 32);
    r.field(&RiskInput::prior_requests_90d).range(0, 10000).defaulted();
    r.field(&RiskInput::open_requests_unit).range(0, 10000).defaulted();
    r.field(&RiskInput::submitted_at).format("date-time");
    r.field(&RiskInput::explain).one_of({"approximate", "shap"}).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(RiskInput, (),
                      (category, urgency, confidence, message, unit, prior_requests_90d,
                       open_requests_unit, submitted_at, explain))

// A feature that moved the score, by its SHAP contribution (log-odds).
struct RiskFactor {
  std::string feature;
  double value = 0;
  double contribution = 0;
};
BOOST_DESCRIBE_STRUCT(RiskFactor, (), (feature, value, contribution))

struct RiskAssessment {
  double risk_score = 0;                   // 0-1: the probability of escalation
  std::string band;                        // low < 0.3 <= medium < 0.6 <= high < 0.8 <= critical
  std::vector<RiskFactor> factors;         // the three that moved it most
  std::string attribution;                 // approximate | shap
  std::map<std::string, double> features;  // every input the model saw
  std::string model_version;
  static void rules(svckit::model::Rules<RiskAssessment>& r) {
    r.field(&RiskAssessment::risk_score).range(0, 1);
    r.field(&RiskAssessment::band).one_of({"low", "medium", "high", "critical"});
  }
};
BOOST_DESCRIBE_STRUCT(RiskAssessment, (),
                      (risk_score, band, factors, attribution, features, model_version))

}  // namespace apartment
