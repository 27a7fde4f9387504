// The risk model file and the feature row it is fed. (That its answers equal python3-xgboost's
// is tested black-box, in tests/integration/test_apartment_ai.py.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>

#include "risk_features.hpp"
#include "risk_model.hpp"

namespace apartment::ai {
namespace {

TEST(RiskModel, LoadsTheShippedModel) {
  RiskModel model(APARTMENT_MODEL_DIR "/risk_model.json");
  EXPECT_EQ(model.version(), "risk-2026.12.1");
  EXPECT_EQ(model.rounds(), 80);
  FeatureRow calm{9, 0, 0.9f, 0, 12, 0, 0, 14, 0, 3};   // billing, low urgency, afternoon
  FeatureRow storm{0, 3, 0.9f, 3, 40, 4, 2, 2, 1, 20};  // plumbing emergency at night, 20th floor
  auto low = model.predict(calm);
  auto high = model.predict(storm);
  EXPECT_LT(low.probability, 0.2);
  EXPECT_GT(high.probability, 0.9);
  // The contributions and the bias add up to the margin the probability came from.
  auto shap = model.predict(storm, RiskModel::Attribution::shap);
  EXPECT_NEAR(shap.probability, high.probability, 1e-6);
  EXPECT_NE(shap.contributions, high.contributions);  // two ways to share out one margin
  for (const auto& p : {high, shap}) {
    float margin = 0;
    for (float c : p.contributions) margin += c;
    EXPECT_NEAR(1 / (1 + std::exp(-margin)), p.probability, 1e-6);
  }
}

TEST(RiskModel, RefusesAFileItCannotServe) {
  auto refused = [](const std::string& path) -> std::string {
    try {
      RiskModel model(path);
    } catch (const ModelError& e) {
      return e.what();
    }
    return "accepted";
  };
  EXPECT_NE(refused("/nonexistent/model.json").find("is not a file"), std::string::npos);
  std::string path = ::testing::TempDir() + "/not_a_model.json";
  std::ofstream(path) << "{\"hello\": 1}";
  EXPECT_NE(refused(path).find(path), std::string::npos);
  // A model trained on other features: its list is named.
  std::ifstream in(APARTMENT_MODEL_DIR "/risk_model.json");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  auto at = text.find("unit_floor");
  ASSERT_NE(at, std::string::npos);
  std::string other = text;
  for (std::size_t p; (p = other.find("unit_floor")) != std::string::npos;)
    other.replace(p, 10, "unit_level");
  std::string other_path = ::testing::TempDir() + "/other_features.json";
  std::ofstream(other_path) << other;
  EXPECT_NE(refused(other_path).find("unit_level"), std::string::npos);
  std::remove(path.c_str());
  std::remove(other_path.c_str());
}

TEST(RiskFeatures, DerivedAsTheTrainingDataWas) {
  RiskInput in{.category = "plumbing",
               .urgency = "high",
               .confidence = 0.5,
               .message = "a burst pipe is flooding the hall",
               .unit = "1204",
               .prior_requests_90d = 2,
               .open_requests_unit = 1,
               .submitted_at = "2026-12-05T23:30:00+01:00"};  // Saturday 22:30 UTC
  auto row = risk_features(in, 2, 0);
  FeatureRow expected{0, 2, 0.5f, 2, 7, 2, 1, 22, 1, 12};
  EXPECT_EQ(row, expected);
  in.submitted_at.reset();
  in.unit.reset();
  auto now = risk_features(in, 0, 1764547200);  // 2025-12-01T00:00:00Z, a Monday
  EXPECT_EQ(now[7], 0);
  EXPECT_EQ(now[8], 0);
  EXPECT_EQ(now[9], 1);
}

TEST(RiskFeatures, UnitFloors) {
  EXPECT_EQ(unit_floor("12B"), 12);
  EXPECT_EQ(unit_floor("1204"), 12);
  EXPECT_EQ(unit_floor("B-7"), 7);
  EXPECT_EQ(unit_floor("Penthouse 1"), 1);
  EXPECT_EQ(unit_floor("0"), 1);
  EXPECT_EQ(unit_floor("99999999999"), 9999);
  EXPECT_EQ(unit_floor(""), 1);
}

TEST(RiskFeatures, Bands) {
  EXPECT_STREQ(risk_band(0.0), "low");
  EXPECT_STREQ(risk_band(0.3), "medium");
  EXPECT_STREQ(risk_band(0.79), "high");
  EXPECT_STREQ(risk_band(0.8), "critical");
}

}  // namespace
}  // namespace apartment::ai
