#pragma once
// The rule classifier of AI Processing: weighted words and phrases per category and per urgency
// level, negation within a clause, read from a rules file (model/classification_rules.json) so
// that the rules change without a build. Pure computation: no I/O after construction.
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "apartment/classification.hpp"

namespace apartment::ai {

class Classifier {
 public:
  // The rules as the file holds them. Throws std::invalid_argument naming what is wrong.
  explicit Classifier(const nlohmann::json& rules);
  // Reads and checks the file. Throws std::invalid_argument naming the file and the fault.
  static Classifier from_file(const std::string& path);

  // method "rules"; "other" with confidence 0.2 when no term counted.
  Classification classify(std::string_view message) const;
  // How many severe words (the rules' severity_terms) the message holds: a risk feature.
  int severity_terms(std::string_view message) const;
  const std::string& version() const { return version_; }

 private:
  struct Term {
    std::vector<std::string> words;
    std::string text;
    double weight = 0;
  };
  // The terms of one category or urgency level, longest first (a phrase claims its words).
  struct TermList {
    std::string name;  // "plumbing", "urgency:high"
    std::vector<Term> terms;
    double threshold = 0;
  };
  struct Token {
    std::string text;
    std::size_t start = 0, end = 0;
    bool clause_before = false;  // punctuation or a clause word between it and the one before
  };

  std::vector<Token> tokenize(std::string_view message) const;
  // The list's matches in `tokens`, each with whether a negation cancels it; the score is the
  // sum of the weights that count.
  double match(const TermList& list, const std::vector<Token>& tokens,
               std::vector<Evidence>& evidence) const;
  bool negated(const std::vector<Token>& tokens, std::size_t start) const;

  std::string version_;
  std::vector<std::string> negations_;
  std::vector<std::string> clause_breaks_;
  std::size_t negation_window_ = 3;
  std::string default_urgency_;
  std::vector<TermList> categories_;
  std::vector<TermList> urgency_;  // emergency, high, low: the order they are decided in
  std::vector<std::string> severity_terms_;
};

}  // namespace apartment::ai
