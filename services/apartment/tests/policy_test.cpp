// Documents, their rules, the FTS query, and the decision's scoring against the rules.
#include <gtest/gtest.h>

#include "knowledge_base.hpp"
#include "policy.hpp"

namespace apartment::decision {
namespace {

Document doc(std::string id, std::vector<std::string> categories,
             std::vector<std::pair<std::string, std::string>> rules) {
  return {id, "Title of " + id, "policy", std::move(categories), std::move(rules), "body"};
}

ResolutionOption opt(std::string id, double cost, double respond_p90, double hours_p90,
                     double satisfaction, double risk) {
  ResolutionOption o;
  o.id = std::move(id);
  o.action = "maintenance";
  o.cost = o.cost_p90 = cost;
  o.hours_to_respond = o.respond_p90 = respond_p90;
  o.hours_to_resolve = o.hours_p90 = hours_p90;
  o.satisfaction = satisfaction;
  o.risk = risk;
  return o;
}

TEST(Documents, ParseTheFrontMatter) {
  auto d = parse_document(
      "---\nid: sla-x\ntitle: Response times\ntype: sla\ncategories: plumbing, hvac\n"
      "rules: response_hours.high=24, approval_cost=500\n---\nThe body.\n",
      "sla-x.md");
  EXPECT_EQ(d.id, "sla-x");
  EXPECT_EQ(d.categories, (std::vector<std::string>{"plumbing", "hvac"}));
  ASSERT_EQ(d.rules.size(), 2u);
  EXPECT_EQ(d.rules[0], (std::pair<std::string, std::string>{"response_hours.high", "24"}));
  EXPECT_EQ(d.body, "The body.");
  EXPECT_TRUE(d.applies_to("hvac"));
  EXPECT_FALSE(d.applies_to("noise"));
}

TEST(Documents, RefuseWhatTheyCannotMean) {
  auto refused = [](const std::string& text) -> std::string {
    try {
      auto d = parse_document(text, "f.md");
      check_rules(d);
    } catch (const std::invalid_argument& e) {
      return e.what();
    }
    return "accepted";
  };
  const std::string head = "---\nid: a\ntitle: T\ntype: policy\ncategories: all\n";
  EXPECT_NE(refused("no front matter").find("---"), std::string::npos);
  EXPECT_NE(refused(head + "note: y\n").find("closing"), std::string::npos);
  EXPECT_NE(refused(head + "---\n").find("body is empty"), std::string::npos);
  EXPECT_NE(refused("---\nid: A B\ntitle: T\ntype: policy\ncategories: all\n---\nx").find("id"),
            std::string::npos);
  EXPECT_NE(refused("---\nid: a\ntitle: T\ntype: memo\ncategories: all\n---\nx").find("memo"),
            std::string::npos);
  EXPECT_NE(refused("---\nid: a\ntitle: T\ntype: faq\ncategories: garden\n---\nx").find("garden"),
            std::string::npos);
  EXPECT_NE(refused(head + "rules: response_hours.soon=2\n---\nx").find("urgency"),
            std::string::npos);
  EXPECT_NE(refused(head + "rules: response_hours.high=fast\n---\nx").find("hours"),
            std::string::npos);
  EXPECT_NE(refused(head + "rules: forbidden.high=teleport\n---\nx").find("option"),
            std::string::npos);
  EXPECT_NE(refused(head + "rules: colour=blue\n---\nx").find("colour"), std::string::npos);
  EXPECT_NE(refused(head + "rules: approval_cost=-5\n---\nx").find("approval_cost"),
            std::string::npos);
  EXPECT_EQ(refused(head + "rules: approval_cost=750\n---\nx"), "accepted");
}

TEST(FtsQuery, QuotesEveryWordAndDropsCommonOnes) {
  EXPECT_EQ(fts_query("What should I do if I smell GAS?"), "\"smell\" OR \"gas\"");
  EXPECT_EQ(fts_query("the a an"), "");
  // FTS5 syntax is only ever text inside quotes.
  EXPECT_EQ(fts_query("leak\" OR title:* NEAR(x y) -noise"),
            "\"leak\" OR \"title\" OR \"near\" OR \"noise\"");
  EXPECT_EQ(fts_query("leak leak LEAK"), "\"leak\"");
}

TEST(Policies, TheStrictestLimitAndEveryOptionRuleOfTheCategory) {
  std::vector<Document> docs = {
      doc("sla-a", {"plumbing"}, {{"response_hours.high", "24"}, {"response_hours.low", "100"}}),
      doc("sla-b", {"all"}, {{"response_hours.high", "12"}, {"approval_cost", "750"}}),
      doc("noise", {"noise"}, {{"response_hours.high", "1"}}),
      doc("safety", {"all"},
          {{"forbidden.high", "scheduled_visit"}, {"preferred.high", "vendor_emergency"}})};
  auto p = policies_for(docs, "plumbing", "high");
  ASSERT_TRUE(p.response_hours);
  EXPECT_EQ(p.response_hours->value, 12);
  EXPECT_EQ(p.response_hours->source->id, "sla-b");
  EXPECT_EQ(p.approval_cost->value, 750);
  ASSERT_EQ(p.forbidden.size(), 1u);
  EXPECT_EQ(p.forbidden[0].option, "scheduled_visit");
  EXPECT_EQ(p.preferred[0].option, "vendor_emergency");
  EXPECT_EQ(policies_for(docs, "plumbing", "low").response_hours->value, 100);
}

TEST(Decide, RanksCompliantOptionsFirstAndSaysWhy) {
  std::vector<Document> docs = {doc("sla", {"all"}, {{"response_hours.high", "4"}}),
                                doc("money", {"all"}, {{"approval_cost", "500"}}),
                                doc("safety", {"all"}, {{"forbidden.high", "scheduled_visit"}})};
  DecideRequest req{.category = "plumbing", .urgency = "high", .risk_score = 0.5};
  req.options = {opt("scheduled_visit", 100, 2, 60, 0.9, 0.1),    // cheapest, but forbidden
                 opt("in_house_standard", 200, 8, 20, 0.5, 0.3),  // misses the 4 h target
                 opt("vendor_emergency", 800, 1, 5, 0.8, 0.1),    // over the approval limit
                 opt("in_house_priority", 300, 1.5, 10, 0.7, 0.2)};
  auto d = decide(req, policies_for(docs, "plumbing", "high"), {}, "kb-test");
  EXPECT_EQ(d.recommended_option, "in_house_priority");
  EXPECT_FALSE(d.requires_approval);
  ASSERT_EQ(d.ranking.size(), 4u);
  EXPECT_TRUE(d.ranking[0].compliant);
  EXPECT_TRUE(d.ranking[1].compliant);
  EXPECT_EQ(d.ranking[1].option_id, "vendor_emergency");
  EXPECT_TRUE(d.ranking[1].requires_approval);
  EXPECT_FALSE(d.ranking[2].compliant);
  EXPECT_FALSE(d.ranking[3].compliant);
  auto said = [&](std::string_view option, std::string_view words) {
    for (const auto& s : d.ranking)
      if (s.option_id == option)
        for (const auto& r : s.reasons)
          if (r.find(words) != std::string::npos) return true;
    return false;
  };
  EXPECT_TRUE(said("scheduled_visit", "not allowed for high requests by 'Title of safety'"));
  EXPECT_TRUE(said("in_house_standard", "misses the 4 h response target"));
  EXPECT_TRUE(said("vendor_emergency", "over the 500 dollars"));
  EXPECT_TRUE(said("in_house_priority", "meets the 4 h response target"));
  ASSERT_EQ(d.documents.size(), 3u);  // in the order their rules were first applied
  EXPECT_EQ(d.documents[0].id, "safety");
  EXPECT_EQ(d.documents[0].used_for, std::vector<std::string>{"forbidden option"});
  EXPECT_EQ(d.documents[1].id, "sla");
  EXPECT_EQ(d.documents[1].used_for, std::vector<std::string>{"service level"});
  EXPECT_EQ(d.documents[2].used_for, std::vector<std::string>{"spending authority"});
  EXPECT_EQ(d.policy_version, "kb-test");
}

TEST(Decide, WhenEveryOptionBreaksARuleTheBestNeedsApproval) {
  std::vector<Document> docs = {doc("sla", {"all"}, {{"response_hours.emergency", "0.1"}})};
  DecideRequest req{.category = "hvac", .urgency = "emergency"};
  req.options = {opt("in_house_standard", 100, 5, 9, 0.5, 0.3),
                 opt("vendor_emergency", 700, 1, 3, 0.8, 0.1)};
  RetrievedDocument related{.id = "procedure-x", .title = "X", .type = "procedure"};
  auto d = decide(req, policies_for(docs, "hvac", "emergency"), {related}, "v");
  EXPECT_EQ(d.recommended_option, "vendor_emergency");
  EXPECT_TRUE(d.requires_approval);
  EXPECT_NE(d.reasons[0].find("every option breaks a rule"), std::string::npos);
  EXPECT_EQ(d.documents.back().id, "procedure-x");
  EXPECT_EQ(d.documents.back().used_for, std::vector<std::string>{"related"});
}

}  // namespace
}  // namespace apartment::decision
