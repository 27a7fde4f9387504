#pragma once
// The risk model of AI Processing: an XGBoost booster (model/risk_model.json, trained by
// model/train_risk_model.py) served through XGBoost's C API. Loading checks that the file is the
// model this code feeds: its feature list must equal kRiskFeatures, in order.
#include <array>
#include <memory>
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
  // version, another feature list. `copies`: boosters loaded, so that as many predictions run
  // at once (XGBoost keeps a prediction's output in its booster: one call at a time each).
  explicit RiskModel(const std::string& path, std::size_t copies = 1);
  ~RiskModel();
  RiskModel(const RiskModel&) = delete;
  RiskModel& operator=(const RiskModel&) = delete;

  struct Prediction {
    float probability = 0;
    // Each feature's SHAP contribution in log-odds, then the bias: they sum to the margin.
    std::array<float, kRiskFeatures.size() + 1> contributions{};
  };
  // How contributions are attributed: Saabas's approximation, or TreeSHAP (five times the cost).
  enum class Attribution { approximate, shap };
  // The probability of escalation and the contributions it comes from, in one pass (the
  // logistic of their sum is what inplace_predict gives, to float rounding).
  Prediction predict(const FeatureRow& row,
                     Attribution attribution = Attribution::approximate) const;

  const std::string& version() const { return version_; }
  int rounds() const { return rounds_; }

 private:
  struct Booster;
  std::vector<std::unique_ptr<Booster>> boosters_;
  std::string version_;
  int rounds_ = 0;
};

}  // namespace apartment::ai
