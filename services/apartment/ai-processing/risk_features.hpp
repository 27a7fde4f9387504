#pragma once
// A predict-risk request as the model's feature row (kRiskFeatures' order): the same derivation
// as model/risk_data.py's columns, so the model sees what it was trained on.
#include <cstdint>

#include "apartment/risk.hpp"
#include "risk_model.hpp"

namespace apartment::ai {

// `severity_terms`: the classifier's count for the message; `now`: Unix seconds, used when the
// input has no submitted_at.
FeatureRow risk_features(const RiskInput& input, int severity_terms, std::int64_t now);

// The floor a unit is on: its leading number ("12B" → 12), hundreds dropped from three digits
// or more ("1204" → 12); 1 when the unit has no leading number.
int unit_floor(const std::string& unit);

// low < 0.3 <= medium < 0.6 <= high < 0.8 <= critical.
const char* risk_band(double probability);

}  // namespace apartment::ai
