#pragma once
// AI Processing (seed 004, port 8002) as a svckit module: classify (rules, an optional language
// model) and predict-risk (XGBoost). Stateless: everything it needs is read at start.
#include <chrono>
#include <memory>
#include <vector>

#include <svckit/app/module.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include <svckit/ai/model.hpp>

#include "classifier.hpp"
#include "risk_model.hpp"

namespace prometheus {
class Counter;
template <class T>
class Family;
}  // namespace prometheus

namespace apartment::ai {

class AiProcessing : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  svckit::Task<Response> classify(Request& req);
  svckit::Task<Response> predict_risk(Request& req);

  // The language model's answer, or the rules' with why it was not the model's.
  svckit::Task<Classification> ask_model(const std::string& message, const svckit::Context& context,
                                         Classification rules);

  std::unique_ptr<Classifier> classifier_;
  std::vector<std::unique_ptr<svckit::ai::Model>> models_;
  svckit::ai::Model* model_ = nullptr;  // CLASSIFIER_MODEL's; none: the rules only
  std::chrono::milliseconds model_timeout_{3000};
  std::unique_ptr<RiskModel> risk_model_;
  prometheus::Family<prometheus::Counter>* classified_ = nullptr;
  prometheus::Family<prometheus::Counter>* predicted_ = nullptr;
};

}  // namespace apartment::ai
