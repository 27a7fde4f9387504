#pragma once
// The decision step: options scored by the urgency's weights of time, risk, satisfaction and
// cost, against the rules the knowledge base's documents state for the request's category
// (`rules:` in their front matter): the service level each option must meet
// (response_hours.<urgency>), the cost above which the property manager approves
// (approval_cost), options forbidden or preferred at an urgency.
#include <optional>
#include <string>
#include <vector>

#include "apartment/decision.hpp"
#include "apartment/retrieval.hpp"
#include "knowledge_base.hpp"

namespace apartment::decision {

// Throws std::invalid_argument naming the document when one of its rules is not one the
// decision knows (key, urgency, option or number).
void check_rules(const Document& document);

// What the documents that apply to `category` say for `urgency`: the strictest service level
// and spending limit, every forbidden and preferred option, each with the document saying it.
struct Policies {
  struct Limit {
    double value = 0;
    const Document* source = nullptr;
  };
  struct OptionRule {
    std::string option;
    const Document* source = nullptr;
  };
  std::optional<Limit> response_hours;
  std::optional<Limit> approval_cost;
  std::vector<OptionRule> forbidden;
  std::vector<OptionRule> preferred;
};
Policies policies_for(const std::vector<Document>& documents, std::string_view category,
                      std::string_view urgency);

// The ranking, the recommended option (the best that breaks no rule; the best of all, needing
// approval, when every one breaks one) and the documents cited: those whose rules were applied,
// then `related` (the retrieval's, for the message).
Decision decide(const DecideRequest& request, const Policies& policies,
                const std::vector<RetrievedDocument>& related, const std::string& version);

}  // namespace apartment::decision
