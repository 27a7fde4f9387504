#include "steps.hpp"

#include <nlohmann/json.hpp>
#include <svckit/model/json.hpp>

namespace apartment::requests {
namespace {

// The answer read as T; an answer that is not one is the answering service's failure.
template <class T>
T read_answer(const nlohmann::json& body, const char* service) {
  try {
    return svckit::model::from_json<T>(body);
  } catch (const svckit::Error& e) {
    throw StepFailed(std::string(service) + " answered something unreadable: " + e.detail());
  }
}

}  // namespace

svckit::Task<nlohmann::json> Steps::call(svckit::http::Client& client, const char* service,
                                         const char* path, nlohmann::json body,
                                         const svckit::Context& context) {
  auto request = svckit::http::ClientRequest::json(svckit::http::Method::post, path, body);
  request.headers.emplace_back("Authorization", token_.authorization());
  request.context = &context;
  request.idempotent = true;  // pure computations: a repeat changes nothing
  svckit::http::ClientResponse answer;
  try {
    answer = co_await client.send(std::move(request));
  } catch (const svckit::http::UpstreamError& e) {
    throw StepFailed(std::string(service) + " is unavailable: " + e.detail());
  }
  if (answer.status != 200) {
    bool refused =
        answer.status >= 400 && answer.status < 500 && answer.status != 408 && answer.status != 429;
    throw StepFailed(
        std::string(service) + " answered " + std::to_string(answer.status) + " to " + path,
        refused);
  }
  auto json = nlohmann::json::parse(answer.body, nullptr, false);
  if (json.is_discarded())
    throw StepFailed(std::string(service) + " answered " + path + " with no JSON");
  co_return json;
}

svckit::Task<Classification> Steps::classify(std::string message, const svckit::Context& context) {
  nlohmann::json body = {{"message", std::move(message)}};
  auto answer = co_await call(ai_, "AI Processing", "/api/v1/classify", std::move(body), context);
  co_return read_answer<Classification>(answer, "AI Processing");
}

svckit::Task<RiskAssessment> Steps::predict_risk(RiskInput input, const svckit::Context& context) {
  auto body = svckit::model::to_json(input);
  auto answer =
      co_await call(ai_, "AI Processing", "/api/v1/predict-risk", std::move(body), context);
  co_return read_answer<RiskAssessment>(answer, "AI Processing");
}

svckit::Task<Simulation> Steps::simulate(SimulateRequest input, const svckit::Context& context) {
  auto body = svckit::model::to_json(input);
  auto answer = co_await call(decisions_, "Decision & Simulation", "/api/v1/simulate",
                              std::move(body), context);
  co_return read_answer<Simulation>(answer, "Decision & Simulation");
}

svckit::Task<Decision> Steps::decide(DecideRequest input, const svckit::Context& context) {
  auto body = svckit::model::to_json(input);
  auto answer = co_await call(decisions_, "Decision & Simulation", "/api/v1/decide",
                              std::move(body), context);
  co_return read_answer<Decision>(answer, "Decision & Simulation");
}

}  // namespace apartment::requests
