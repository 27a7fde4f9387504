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

// One row as numpy's array interface describes it, which the inplace predictor reads.
std::string array_interface(const FeatureRow& row) {
  return R"({"data": [)" + std::to_string(reinterpret_cast<std::uintptr_t>(row.data())) +
         R"(, true], "shape": [1, )" + std::to_string(row.size()) +
         R"(], "typestr": "<f4", "version": 3})";
}

constexpr const char* kValueConfig =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false, "missing": NaN, "cache_id": 0})";
constexpr const char* kContributionConfig =
    R"({"type": 2, "training": false, "iteration_begin": 0, "iteration_end": 0,)"
    R"( "strict_shape": false})";

}  // namespace

RiskModel::RiskModel(const std::string& path) {
  std::string where = "the risk model '" + path + "'";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw ModelError(where + " is not a file");
  BoosterHandle booster = nullptr;
  check(XGBoosterCreate(nullptr, 0, &booster), where);
  booster_ = booster;  // freed by the destructor, or below when the constructor throws
  try {
    check(XGBoosterLoadModel(booster, path.c_str()), where);
    check(XGBoosterSetParam(booster, "nthread", "1"), where);
    version_ = attribute(booster, "svckit_model_version");
    if (version_.empty()) throw ModelError(where + " has no svckit_model_version attribute");
    auto listed = attribute(booster, "svckit_features");
    auto features = nlohmann::json::parse(listed, nullptr, false);
    std::vector<std::string> expected(kRiskFeatures.begin(), kRiskFeatures.end());
    if (features.is_discarded() || features != nlohmann::json(expected))
      throw ModelError(where + " takes the features " +
                       (listed.empty() ? "(none listed)" : listed) + ", this service gives " +
                       nlohmann::json(expected).dump());
    bst_ulong count = 0;
    check(XGBoosterGetNumFeature(booster, &count), where);
    if (count != kRiskFeatures.size())
      throw ModelError(where + " takes " + std::to_string(count) + " features, not " +
                       std::to_string(kRiskFeatures.size()));
    check(XGBoosterBoostedRounds(booster, &rounds_), where);
  } catch (...) {
    XGBoosterFree(booster);
    booster_ = nullptr;
    throw;
  }
}

RiskModel::~RiskModel() {
  if (booster_) XGBoosterFree(booster_);
}

RiskModel::Prediction RiskModel::predict(const FeatureRow& row) const {
  Prediction out;
  auto values = array_interface(row);
  std::lock_guard lock(mutex_);
  const bst_ulong* shape = nullptr;
  bst_ulong dims = 0;
  const float* result = nullptr;
  check(XGBoosterPredictFromDense(booster_, values.c_str(), kValueConfig, nullptr, &shape, &dims,
                                  &result),
        "predicting");
  out.probability = result[0];
  DMatrixHandle matrix = nullptr;
  check(XGDMatrixCreateFromMat(row.data(), 1, row.size(), std::nanf(""), &matrix), "predicting");
  int rc =
      XGBoosterPredictFromDMatrix(booster_, matrix, kContributionConfig, &shape, &dims, &result);
  if (rc == 0) std::copy_n(result, out.contributions.size(), out.contributions.begin());
  XGDMatrixFree(matrix);
  check(rc, "explaining a prediction");
  return out;
}

}  // namespace apartment::ai
