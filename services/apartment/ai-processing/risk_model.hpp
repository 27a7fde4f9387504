#pragma once
// The risk model of AI Processing: an XGBoost booster (model/risk_model.json, trained by
// model/train_risk_model.py) served through XGBoost's C API. Loading checks that the file is the
// model this code feeds: its feature list must equal kRiskFeatures, in order.
#include <array>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace apartment::ai {

// The model's inputs, in the order the model takes them (model/risk_data.py's FEATURES).
inline constexpr std::array<std::string_view, 10> kRiskFeatures = {
    "category_code",      "urgency_level",      "confidence",  "severity_terms", "message_words",
    "prior_requests_90d", "open_requests_unit", "hour_of_day", "is_weekend",     "unit_floor"};
using FeatureRow = std::array<float, kRiskFeatures.size()>;

// A model file that cannot be served: start-up stops with exit code 2.
struct ModelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class RiskModel {
 public:
  // Throws ModelError naming the file and what is wrong: unreadable, not an XGBoost model, no
  // version, another feature list.
  explicit RiskModel(const std::string& path);
  ~RiskModel();
  RiskModel(const RiskModel&) = delete;
  RiskModel& operator=(const RiskModel&) = delete;

  struct Prediction {
    float probability = 0;
    // Each feature's SHAP contribution in log-odds, then the bias: they sum to the margin.
    std::array<float, kRiskFeatures.size() + 1> contributions{};
  };
  // The probability of escalation, as XGBoost's inplace_predict gives it, and the contributions.
  Prediction predict(const FeatureRow& row) const;

  const std::string& version() const { return version_; }
  int rounds() const { return rounds_; }

 private:
  void* booster_ = nullptr;  // BoosterHandle
  std::string version_;
  int rounds_ = 0;
  // XGBoost keeps a prediction's output in the booster: one call at a time.
  mutable std::mutex mutex_;
};

}  // namespace apartment::ai
