#pragma once
// POST /api/v1/simulate (seed 004, Decision & Simulation): the ways a classified request can be
// resolved, each with its simulated cost, time, resident satisfaction and remaining risk.
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/classification.hpp"

namespace apartment {

inline constexpr std::array<std::string_view, 8> kOptions = {
    "in_house_standard", "in_house_priority", "vendor_emergency", "scheduled_visit", "notice",
    "staff_standard",    "staff_priority",    "escalate_manager"};
// What Execution does for an option: which external system it calls.
inline constexpr std::array<std::string_view, 4> kActions = {"maintenance", "billing", "delivery",
                                                             "notify"};

struct SimulateRequest {
  std::string category;
  std::string urgency;
  double risk_score = 0;
  std::optional<std::string> submitted_at;  // when the simulated clock starts; now when absent
  std::int64_t replications = 100;
  std::int64_t seed = 1;
  static void rules(svckit::model::Rules<SimulateRequest>& r) {
    r.field(&SimulateRequest::category).one_of(kCategories);
    r.field(&SimulateRequest::urgency).one_of(kUrgencies);
    r.field(&SimulateRequest::risk_score).range(0, 1).defaulted();
    r.field(&SimulateRequest::submitted_at).format("date-time");
    r.field(&SimulateRequest::replications).range(1, 2000).defaulted();
    r.field(&SimulateRequest::seed).range(0, 9007199254740991).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(SimulateRequest, (),
                      (category, urgency, risk_score, submitted_at, replications, seed))

// One resolution option and its outcome over the replications.
struct ResolutionOption {
  std::string id;  // one of kOptions
  std::string title;
  std::string action;  // one of kActions
  double cost = 0;     // mean, dollars
  double cost_p90 = 0;
  double hours_to_respond = 0;  // mean, from submission to work starting on site (a notice: sent)
  double respond_p90 = 0;
  double hours_to_resolve = 0;  // mean, from submission to the visit that fixed it
  double hours_p90 = 0;
  double satisfaction = 0;     // 0-1, mean
  double risk = 0;             // 0-1: the chance it escalates before it is resolved
  double first_visit_fix = 0;  // 0-1: resolved at the first visit or notice
  static void rules(svckit::model::Rules<ResolutionOption>& r) {
    r.field(&ResolutionOption::id).one_of(kOptions);
    r.field(&ResolutionOption::title).length(0, 200);
    r.field(&ResolutionOption::action).one_of(kActions);
    r.field(&ResolutionOption::cost).range(0, 1e9);
    r.field(&ResolutionOption::cost_p90).range(0, 1e9);
    r.field(&ResolutionOption::hours_to_respond).range(0, 1e6);
    r.field(&ResolutionOption::respond_p90).range(0, 1e6);
    r.field(&ResolutionOption::hours_to_resolve).range(0, 1e6);
    r.field(&ResolutionOption::hours_p90).range(0, 1e6);
    r.field(&ResolutionOption::satisfaction).range(0, 1);
    r.field(&ResolutionOption::risk).range(0, 1);
    r.field(&ResolutionOption::first_visit_fix).range(0, 1);
  }
};
BOOST_DESCRIBE_STRUCT(ResolutionOption, (),
                      (id, title, action, cost, cost_p90, hours_to_respond, respond_p90,
                       hours_to_resolve, hours_p90, satisfaction, risk, first_visit_fix))

struct Simulation {
  std::vector<ResolutionOption> options;
  std::int64_t replications = 0;
  std::int64_t seed = 0;
  std::string model;  // the simulation's version
};
BOOST_DESCRIBE_STRUCT(Simulation, (), (options, replications, seed, model))

}  // namespace apartment
