#pragma once
// POST /api/v1/classify (seed 004, AI Processing): what a resident's message is about and how
// urgent it is, with the words that decided it. Described once: AI Processing answers with these
// and Request Management reads them back.
#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/describe/class.hpp>
#include <svckit/model/rules.hpp>

namespace apartment {

inline constexpr std::array<std::string_view, 14> kCategories = {
    "plumbing", "electrical", "hvac",    "appliance", "structural", "pest",    "cleaning",
    "noise",    "security",   "billing", "lease",     "amenity",    "package", "other"};
inline constexpr std::array<std::string_view, 4> kUrgencies = {"low", "medium", "high",
                                                               "emergency"};
inline constexpr std::size_t kMaxMessage = 4000;

struct ClassifyRequest {
  std::string message;
  // false: the rules only. By default the language model CLASSIFIER_MODEL names answers when it
  // is set (the rules when it fails).
  std::optional<bool> use_llm;
  static void rules(svckit::model::Rules<ClassifyRequest>& r) {
    r.field(&ClassifyRequest::message).length(1, kMaxMessage);
  }
};
BOOST_DESCRIBE_STRUCT(ClassifyRequest, (), (message, use_llm))

// One term of the rules found in the message.
struct Evidence {
  std::string term;
  std::string counts_for;  // a category, or "urgency:<level>"
  double weight = 0;
  bool negated = false;    // a negation before it in its clause: it did not count
  std::int64_t start = 0;  // byte offsets in the message
  std::int64_t end = 0;
};
BOOST_DESCRIBE_STRUCT(Evidence, (), (term, counts_for, weight, negated, start, end))

struct Classification {
  std::string category;
  std::string urgency;
  double confidence = 0;  // 0-1
  std::vector<Evidence> evidence;
  std::string method;                   // rules | llm
  std::string rules_version;            // the rules file's
  std::optional<std::string> model;     // the language model that answered, with method "llm"
  std::optional<std::string> fallback;  // why the rules answered though a model is set
  static void rules(svckit::model::Rules<Classification>& r) {
    r.field(&Classification::category).one_of(kCategories);
    r.field(&Classification::urgency).one_of(kUrgencies);
    r.field(&Classification::confidence).range(0, 1);
    r.field(&Classification::evidence).defaulted();
    r.field(&Classification::method).one_of({"rules", "llm"});
  }
};
BOOST_DESCRIBE_STRUCT(Classification, (),
                      (category, urgency, confidence, evidence, method, rules_version, model,
                       fallback))

}  // namespace apartment
