#pragma once
// POST /api/v1/decide (seed 004, Decision & Simulation): the simulated options scored against the
// building's policies, the one to take, why, and the documents that say so.
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

#include "apartment/simulation.hpp"

namespace apartment {

struct DecideRequest {
  std::string category;
  std::string urgency;
  double risk_score = 0;
  std::vector<ResolutionOption> options;
  std::string message;  // finds the related documents
  static void rules(svckit::model::Rules<DecideRequest>& r) {
    r.field(&DecideRequest::category).one_of(kCategories);
    r.field(&DecideRequest::urgency).one_of(kUrgencies);
    r.field(&DecideRequest::risk_score).range(0, 1).defaulted();
    r.field(&DecideRequest::options).items(1, kOptions.size());
    r.field(&DecideRequest::message).length(0, kMaxMessage).defaulted();
  }
};
BOOST_DESCRIBE_STRUCT(DecideRequest, (), (category, urgency, risk_score, options, message))

struct OptionScore {
  std::string option_id;
  double score = 0;  // higher is better; options that break a rule rank below all that do not
  bool compliant = true;
  bool requires_approval = false;
  std::vector<std::string> reasons;
};
BOOST_DESCRIBE_STRUCT(OptionScore, (), (option_id, score, compliant, requires_approval, reasons))

struct CitedDocument {
  std::string id;
  std::string title;
  std::string type;
  // service level, spending authority, forbidden option, preferred option, related
  std::vector<std::string> used_for;
};
BOOST_DESCRIBE_STRUCT(CitedDocument, (), (id, title, type, used_for))

struct Decision {
  std::string recommended_option;
  bool requires_approval = false;
  std::vector<std::string> reasons;  // the recommended option's
  std::vector<OptionScore> ranking;  // best first
  std::vector<CitedDocument> documents;
  std::string policy_version;  // the knowledge base's digest
};
BOOST_DESCRIBE_STRUCT(Decision, (),
                      (recommended_option, requires_approval, reasons, ranking, documents,
                       policy_version))

}  // namespace apartment
