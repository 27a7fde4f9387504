#pragma once
// Steps 2-5 of seed 004's request flow, over HTTP with deadlines, retries and breakers: classify
// and predict-risk at AI Processing, simulate and decide at Decision & Simulation. Each answer is
// read into its described model; an answer that is not one is the service's failure, as is no
// answer at all.
#include <string>

#include <svckit/context.hpp>
#include <svckit/http/client.hpp>
#include <svckit/task.hpp>

#include "apartment/classification.hpp"
#include "apartment/decision.hpp"
#include "apartment/risk.hpp"
#include "apartment/simulation.hpp"
#include "service_token.hpp"

namespace apartment::requests {

// A step that could not run: which service and why, for the request's pending_reason.
// `permanent` when trying again cannot help: the service refused what it was sent (4xx other
// than 408 and 429).
struct StepFailed : std::runtime_error {
  explicit StepFailed(const std::string& what, bool permanent = false)
      : std::runtime_error(what), permanent(permanent) {}
  bool permanent;
};

class Steps {
 public:
  Steps(svckit::http::Client& ai, svckit::http::Client& decisions, ServiceToken& token)
      : ai_(ai), decisions_(decisions), token_(token) {}

  // Each throws StepFailed.
  svckit::Task<Classification> classify(std::string message, const svckit::Context& context);
  svckit::Task<RiskAssessment> predict_risk(RiskInput input, const svckit::Context& context);
  svckit::Task<Simulation> simulate(SimulateRequest input, const svckit::Context& context);
  svckit::Task<Decision> decide(DecideRequest input, const svckit::Context& context);

 private:
  // POSTs `body` to `path` of `client` (`service` names it in failures); the answer's JSON.
  svckit::Task<nlohmann::json> call(svckit::http::Client& client, const char* service,
                                    const char* path, nlohmann::json body,
                                    const svckit::Context& context);
  svckit::http::Client& ai_;
  svckit::http::Client& decisions_;
  ServiceToken& token_;
};

}  // namespace apartment::requests
