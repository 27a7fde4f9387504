#include "policy.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace apartment::decision {
namespace {

template <std::size_t N>
bool listed(const std::array<std::string_view, N>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

std::optional<double> number(const std::string& text) {
  try {
    std::size_t used = 0;
    double v = std::stod(text, &used);
    if (used == text.size() && std::isfinite(v) && v >= 0) return v;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

// "response_hours.high" → {"response_hours", "high"}; {"approval_cost", ""}.
std::pair<std::string, std::string> split_key(const std::string& key) {
  auto dot = key.find('.');
  if (dot == std::string::npos) return {key, ""};
  return {key.substr(0, dot), key.substr(dot + 1)};
}

struct Weights {
  double time, risk, satisfaction, cost;
};
Weights weights_for(std::string_view urgency) {
  if (urgency == "emergency") return {0.45, 0.35, 0.15, 0.05};
  if (urgency == "high") return {0.35, 0.30, 0.20, 0.15};
  if (urgency == "medium") return {0.20, 0.20, 0.30, 0.30};
  return {0.10, 0.10, 0.35, 0.45};
}

std::string cite(const Document& d) {
  return "'" + d.title + "' (" + d.id + ")";
}

std::string figure(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

void check_rules(const Document& d) {
  for (const auto& [key, value] : d.rules) {
    auto fail = [&](const std::string& why) {
      return std::invalid_argument("the knowledge document '" + d.id + "': the rule '" + key + "=" +
                                   value + "' " + why);
    };
    auto [name, urgency] = split_key(key);
    if (name == "approval_cost") {
      if (!urgency.empty() || !number(value)) throw fail("is not approval_cost=<dollars>");
    } else if (name == "response_hours" || name == "forbidden" || name == "preferred") {
      if (!listed(kUrgencies, urgency)) throw fail("does not name an urgency after the '.'");
      if (name == "response_hours" && !number(value)) throw fail("is not a number of hours");
      if (name != "response_hours" && !listed(kOptions, value)) throw fail("names no option");
    } else {
      throw fail("is not one the decision knows");
    }
  }
}

Policies policies_for(const std::vector<Document>& documents, std::string_view category,
                      std::string_view urgency) {
  Policies p;
  for (const auto& d : documents) {
    if (!d.applies_to(category)) continue;
    for (const auto& [key, value] : d.rules) {
      auto [name, level] = split_key(key);
      if (name == "approval_cost") {
        double v = *number(value);
        if (!p.approval_cost || v < p.approval_cost->value) p.approval_cost = {v, &d};
        continue;
      }
      if (level != urgency) continue;
      if (name == "response_hours") {
        double v = *number(value);
        if (!p.response_hours || v < p.response_hours->value) p.response_hours = {v, &d};
      } else if (name == "forbidden") {
        p.forbidden.push_back({value, &d});
      } else if (name == "preferred") {
        p.preferred.push_back({value, &d});
      }
    }
  }
  return p;
}

Decision decide(const DecideRequest& request, const Policies& policies,
                const std::vector<RetrievedDocument>& related, const std::string& version) {
  auto weights = weights_for(request.urgency);
  double max_hours = 0, max_cost = 0, max_risk = 0;
  for (const auto& o : request.options) {
    max_hours = std::max(max_hours, o.hours_p90);
    max_cost = std::max(max_cost, o.cost);
    max_risk = std::max(max_risk, o.risk);
  }
  auto share = [](double v, double max) { return max > 0 ? v / max : 0.0; };
  Decision out;
  out.policy_version = version;
  // The documents whose rules applied, in the order first used, with what for.
  auto use = [&](const Document* d, const char* what) {
    for (auto& cited : out.documents)
      if (cited.id == d->id) {
        if (std::find(cited.used_for.begin(), cited.used_for.end(), what) == cited.used_for.end())
          cited.used_for.emplace_back(what);
        return;
      }
    out.documents.push_back({d->id, d->title, d->type, {what}});
  };
  for (const auto& o : request.options) {
    OptionScore s{.option_id = o.id};
    double score = weights.time * (1 - share(o.hours_p90, max_hours)) +
                   weights.risk * (1 - share(o.risk, max_risk)) +
                   weights.satisfaction * o.satisfaction +
                   weights.cost * (1 - share(o.cost, max_cost));
    for (const auto& rule : policies.forbidden)
      if (rule.option == o.id) {
        s.compliant = false;
        s.reasons.push_back("not allowed for " + request.urgency + " requests by " +
                            cite(*rule.source));
        use(rule.source, "forbidden option");
      }
    if (const auto& sla = policies.response_hours) {
      use(sla->source, "service level");
      if (o.respond_p90 <= sla->value) {
        s.reasons.push_back("attended within " + figure(o.respond_p90) +
                            " h in 9 of 10 runs: meets the " + figure(sla->value) +
                            " h response target of " + cite(*sla->source));
      } else {
        s.compliant = false;
        s.reasons.push_back("attended only after up to " + figure(o.respond_p90) +
                            " h in 9 of 10 runs: misses the " + figure(sla->value) +
                            " h response target of " + cite(*sla->source));
      }
    }
    if (const auto& limit = policies.approval_cost; limit && o.cost > limit->value) {
      s.requires_approval = true;
      score -= 0.1;
      s.reasons.push_back("costs " + figure(o.cost) + " dollars on average, over the " +
                          figure(limit->value) + " dollars that need approval under " +
                          cite(*limit->source));
      use(limit->source, "spending authority");
    }
    for (const auto& rule : policies.preferred)
      if (rule.option == o.id) {
        score += 0.1;
        s.reasons.push_back("preferred for " + request.urgency + " requests by " +
                            cite(*rule.source));
        use(rule.source, "preferred option");
      }
    s.score = std::round(score * 1e4) / 1e4;
    out.ranking.push_back(std::move(s));
  }
  std::stable_sort(out.ranking.begin(), out.ranking.end(),
                   [](const OptionScore& a, const OptionScore& b) {
                     if (a.compliant != b.compliant) return a.compliant;
                     return a.score > b.score;
                   });
  const auto& best = out.ranking.front();
  out.recommended_option = best.option_id;
  out.reasons = best.reasons;
  out.requires_approval = best.requires_approval || !best.compliant;
  if (!best.compliant)
    out.reasons.insert(out.reasons.begin(),
                       "every option breaks a rule: this one scores best, and needs approval");
  for (const auto& r : related) {
    bool cited = std::any_of(out.documents.begin(), out.documents.end(),
                             [&](const CitedDocument& c) { return c.id == r.id; });
    if (!cited) out.documents.push_back({r.id, r.title, r.type, {"related"}});
  }
  return out;
}

}  // namespace apartment::decision
