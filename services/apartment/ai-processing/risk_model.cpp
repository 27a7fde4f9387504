#include "risk_model.hpp"

#include <cmath>
#include <filesystem>

#include <xgboost/c_api.h>
#include <nlohmann/json.hpp>

namespace apartment::ai {
namespace {

void check(int rc, const std::string& what) {
  if (rc != 0) throw ModelError(what + ": " + XGBGetLastError());
}

std::string attribute(BoosterHandle booster, const char* key) {
  const char* value = nullptr;
  int found = 0;
  check(XGBoosterGetAttr(booster, key, &value, &found),
        "reading the attribute " + std::string(key));
  return found ? std::string(value) : std::string();
}

// XGBoost's PredictionType: 2 contributions (TreeSHAP), 3 approximate contributions (Saabas).
constexpr const char* kShapConfig =
    R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false})";
constexpr const char* kApproximateConfig =
    R"({"type": 3, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false})";

}  // namespace

// One loaded copy of the model, used by one prediction at a time.
struct RiskModel::Booster {
  BoosterHandle handle = nullptr;
  std::mutex busy;
  ~Booster() {
    if (handle) XGBoosterFree(handle);
  }
};

RiskModel::RiskModel(const std::string& path, std::size_t copies) {
  std::string where = "the risk model '" + path + "'";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw ModelError(where + " is not a file");
  for (std::size_t i = 0; i < std::max<std::size_t>(copies, 1); ++i) {
    auto b = std::make_unique<Booster>();
    check(XGBoosterCreate(nullptr, 0, &b->handle), where);
    check(XGBoosterLoadModel(b->handle, path.c_str()), where);
    check(XGBoosterSetParam(b->handle, "nthread", "1"), where);
    boosters_.push_back(std::move(b));
  }
  BoosterHandle booster = boosters_.front()->handle;
  version_ = attribute(booster, "svckit_model_version");
  if (version_.empty()) throw ModelError(where + " has no svckit_model_version attribute");
  auto listed = attribute(booster, "svckit_features");
  auto features = nlohmann::json::parse(listed, nullptr, false);
  std::vector<std::string> expected(kRiskFeatures.begin(), kRiskFeatures.end());
  if (features.is_discarded() || features != nlohmann::json(expected))
    throw ModelError(where + " takes the features " + (listed.empty() ? "(none listed)" : listed) +
                     ", this service gives " + nlohmann::json(expected).dump());
  bst_ulong count = 0;
  check(XGBoosterGetNumFeature(booster, &count), where);
  if (count != kRiskFeatures.size())
    throw ModelError(where + " takes " + std::to_string(count) + " features, not " +
                     std::to_string(kRiskFeatures.size()));
  check(XGBoosterBoostedRounds(booster, &rounds_), where);
}

RiskModel::~RiskModel() = default;

RiskModel::Prediction RiskModel::predict(const FeatureRow& row, Attribution attribution) const {
  // A free copy if there is one; otherwise wait for the first.
  Booster* booster = nullptr;
  std::unique_lock<std::mutex> lock;
  for (const auto& b : boosters_) {
    std::unique_lock<std::mutex> attempt(b->busy, std::try_to_lock);
    if (attempt.owns_lock()) {
      booster = b.get();
      lock = std::move(attempt);
      break;
    }
  }
  if (!booster) {
    booster = boosters_.front().get();
    lock = std::unique_lock<std::mutex>(booster->busy);
  }
  DMatrixHandle matrix = nullptr;
  check(XGDMatrixCreateFromMat(row.data(), 1, row.size(), std::nanf(""), &matrix), "predicting");
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  const char* config = attribution == Attribution::shap ? kShapConfig : kApproximateConfig;
  int rc = XGBoosterPredictFromDMatrix(booster->handle, matrix, config, &shape, &dims, &result);
  Prediction out;
  if (rc == 0) std::copy_n(result, out.contributions.size(), out.contributions.begin());
  XGDMatrixFree(matrix);
  check(rc, "predicting");
  float margin = 0;
  for (float c : out.contributions) margin += c;
  out.probability = 1.0f / (1.0f + std::exp(-margin));
  return out;
}

}  // namespace apartment::ai
