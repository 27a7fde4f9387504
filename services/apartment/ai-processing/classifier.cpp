#include "classifier.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace apartment::ai {
namespace {

bool word_char(unsigned char c) {
  return std::isalnum(c) || c == '\'' || c >= 0x80;
}

bool contains(const std::vector<std::string>& list, std::string_view word) {
  return std::find(list.begin(), list.end(), word) != list.end();
}

// A rule word matches itself and its plurals.
bool word_matches(std::string_view rule, std::string_view token) {
  if (token == rule) return true;
  if (token.size() == rule.size() + 1 && token.starts_with(rule) && token.back() == 's')
    return true;
  return token.size() == rule.size() + 2 && token.starts_with(rule) && token.ends_with("es");
}

std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

double round3(double x) {
  return std::round(x * 1000) / 1000;
}

const nlohmann::json& member(const nlohmann::json& object, const char* name, const char* where) {
  if (!object.is_object() || !object.contains(name))
    throw std::invalid_argument(std::string(where) + " has no '" + name + "'");
  return object.at(name);
}

std::vector<std::string> strings(const nlohmann::json& list, const char* name) {
  if (!list.is_array()) throw std::invalid_argument(std::string(name) + " is not a list");
  std::vector<std::string> out;
  for (const auto& s : list) {
    if (!s.is_string()) throw std::invalid_argument(std::string(name) + " holds a non-string");
    out.push_back(s.get<std::string>());
  }
  return out;
}

}  // namespace

Classifier::Classifier(const nlohmann::json& rules) {
  auto terms_of = [](const std::string& name, const nlohmann::json& weights) {
    if (!weights.is_object() || weights.empty())
      throw std::invalid_argument("the terms of '" + name + "' are not a non-empty object");
    TermList list{.name = name};
    for (const auto& [text, weight] : weights.items()) {
      if (!weight.is_number() || weight.get<double>() <= 0)
        throw std::invalid_argument("the weight of '" + text + "' in '" + name +
                                    "' is not a positive number");
      auto words = split_words(text);
      if (words.empty()) throw std::invalid_argument("an empty term in '" + name + "'");
      list.terms.push_back({std::move(words), text, weight.get<double>()});
    }
    std::stable_sort(list.terms.begin(), list.terms.end(),
                     [](const Term& a, const Term& b) { return a.words.size() > b.words.size(); });
    return list;
  };
  version_ = member(rules, "version", "the rules").get<std::string>();
  negations_ = strings(member(rules, "negations", "the rules"), "negations");
  clause_breaks_ = strings(member(rules, "clause_breaks", "the rules"), "clause_breaks");
  severity_terms_ = strings(member(rules, "severity_terms", "the rules"), "severity_terms");
  auto window = member(rules, "negation_window", "the rules");
  if (!window.is_number_integer() || window.get<int>() < 0 || window.get<int>() > 10)
    throw std::invalid_argument("negation_window is not an integer in 0-10");
  negation_window_ = window.get<std::size_t>();
  default_urgency_ = member(rules, "default_urgency", "the rules").get<std::string>();
  if (std::find(kUrgencies.begin(), kUrgencies.end(), default_urgency_) == kUrgencies.end())
    throw std::invalid_argument("default_urgency '" + default_urgency_ + "' is not an urgency");
  for (const auto& [name, weights] : member(rules, "categories", "the rules").items()) {
    if (name == "other" ||
        std::find(kCategories.begin(), kCategories.end(), name) == kCategories.end())
      throw std::invalid_argument("'" + name + "' is not a category the service knows");
    categories_.push_back(terms_of(name, weights));
  }
  const auto& urgency = member(rules, "urgency", "the rules");
  for (const char* level : {"emergency", "high", "low"}) {
    const auto& entry = member(urgency, level, "urgency");
    auto list = terms_of(std::string("urgency:") + level, member(entry, "terms", level));
    const auto& threshold = member(entry, "threshold", level);
    if (!threshold.is_number() || threshold.get<double>() <= 0)
      throw std::invalid_argument(std::string("the threshold of ") + level + " is not positive");
    list.threshold = threshold.get<double>();
    urgency_.push_back(std::move(list));
  }
}

Classifier Classifier::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read the rules file '" + path + "'");
  try {
    return Classifier(nlohmann::json::parse(in));
  } catch (const nlohmann::json::exception& e) {
    throw std::invalid_argument("the rules file '" + path + "': " + e.what());
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument("the rules file '" + path + "': " + e.what());
  }
}

std::vector<Classifier::Token> Classifier::tokenize(std::string_view message) const {
  std::vector<Token> tokens;
  bool clause = false;
  std::size_t i = 0;
  while (i < message.size()) {
    auto c = static_cast<unsigned char>(message[i]);
    if (!word_char(c)) {
      if (c == '.' || c == ',' || c == ';' || c == ':' || c == '!' || c == '?' || c == '\n')
        clause = true;
      ++i;
      continue;
    }
    Token t{.start = i, .clause_before = clause};
    while (i < message.size() && word_char(static_cast<unsigned char>(message[i]))) {
      auto ch = static_cast<unsigned char>(message[i]);
      t.text.push_back(static_cast<char>(std::tolower(ch)));
      ++i;
    }
    t.end = i;
    // "it's" and "it’s" alike: the typographic apostrophe (U+2019) becomes '.
    for (std::size_t at; (at = t.text.find("\xE2\x80\x99")) != std::string::npos;)
      t.text.replace(at, 3, "'");
    clause = contains(clause_breaks_, t.text);
    if (clause) t.clause_before = true;
    tokens.push_back(std::move(t));
  }
  return tokens;
}

bool Classifier::negated(const std::vector<Token>& tokens, std::size_t start) const {
  for (std::size_t back = 1; back <= negation_window_ && back <= start; ++back) {
    if (tokens[start - back + 1].clause_before) return false;
    if (contains(negations_, tokens[start - back].text)) return true;
  }
  return false;
}

double Classifier::match(const TermList& list, const std::vector<Token>& tokens,
                         std::vector<Evidence>& evidence) const {
  std::vector<bool> claimed(tokens.size(), false);
  double score = 0;
  for (const auto& term : list.terms) {
    std::size_t n = term.words.size();
    for (std::size_t i = 0; i + n <= tokens.size(); ++i) {
      bool hit = true;
      for (std::size_t k = 0; k < n && hit; ++k)
        // A phrase lies within one clause; its last word may be a plural.
        hit = !claimed[i + k] && !(k > 0 && tokens[i + k].clause_before) &&
              (k + 1 == n ? word_matches(term.words[k], tokens[i + k].text)
                          : term.words[k] == tokens[i + k].text);
      if (!hit) continue;
      for (std::size_t k = 0; k < n; ++k) claimed[i + k] = true;
      bool cancelled = negated(tokens, i);
      if (!cancelled) score += term.weight;
      evidence.push_back({.term = term.text,
                          .counts_for = list.name,
                          .weight = term.weight,
                          .negated = cancelled,
                          .start = static_cast<std::int64_t>(tokens[i].start),
                          .end = static_cast<std::int64_t>(tokens[i + n - 1].end)});
    }
  }
  return score;
}

Classification Classifier::classify(std::string_view message) const {
  auto tokens = tokenize(message);
  Classification out{.method = "rules", .rules_version = version_};
  double best = 0, second = 0;
  const TermList* winner = nullptr;
  for (const auto& list : categories_) {
    double score = match(list, tokens, out.evidence);
    if (score > best) {
      second = best;
      best = score;
      winner = &list;
    } else if (score > second) {
      second = score;
    }
  }
  if (winner) {
    out.category = winner->name;
    out.confidence = round3(best / (best + second) * (1 - std::exp(-best / 3)));
  } else {
    out.category = "other";
    out.confidence = 0.2;
  }
  std::vector<double> level(urgency_.size());
  for (std::size_t i = 0; i < urgency_.size(); ++i)
    level[i] = match(urgency_[i], tokens, out.evidence);
  auto reached = [&](std::size_t i) { return level[i] >= urgency_[i].threshold; };
  if (reached(0))
    out.urgency = "emergency";
  else if (reached(1) && level[1] >= level[2])
    out.urgency = "high";
  else if (reached(2))
    out.urgency = "low";
  else
    out.urgency = default_urgency_;
  std::stable_sort(out.evidence.begin(), out.evidence.end(),
                   [](const Evidence& a, const Evidence& b) { return a.start < b.start; });
  return out;
}

int Classifier::severity_terms(std::string_view message) const {
  int count = 0;
  auto tokens = tokenize(message);
  for (std::size_t i = 0; i < tokens.size(); ++i)
    for (const auto& word : severity_terms_)
      if (word_matches(word, tokens[i].text) && !negated(tokens, i)) {
        ++count;
        break;
      }
  return count;
}

}  // namespace apartment::ai
