#include <gtest/gtest.h>

#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "../../src/flags/rule.hpp"
#include "svckit/flags/flag_client.hpp"
#include "svckit/flags/flag_set.hpp"

using nlohmann::json;
using svckit::flags::ErrorCode;
using svckit::flags::FlagClient;
using svckit::flags::FlagSet;
using svckit::flags::FlagSetError;
using svckit::flags::Reason;

namespace {

json one_flag(json targeting, json variants = {{"on", true}, {"off", false}},
              json fallback = "off") {
  json flag = {{"state", "ENABLED"}, {"variants", variants}, {"defaultVariant", fallback}};
  if (!targeting.is_null()) flag["targeting"] = targeting;
  return {{"flags", {{"f", flag}}}};
}

// The variant `targeting` picks for `context`; "" when it fell back to the default.
std::string pick(json targeting, json context, json variants = {{"on", true}, {"off", false}}) {
  auto set = FlagSet::parse(one_flag(targeting, variants, variants.begin().key()));
  auto e = set->evaluate("f", context);
  EXPECT_TRUE(e.ok()) << e.error_details;
  return e.reason == Reason::kTargetingMatch ? std::string(e.variant) : "";
}

std::vector<std::string> problems_of(const json& doc) {
  try {
    FlagSet::parse(doc);
  } catch (const FlagSetError& e) {
    return e.problems();
  }
  return {};
}

bool mentions(const std::vector<std::string>& problems, std::string_view text) {
  for (const auto& p : problems)
    if (p.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST(Murmur3, MatchesTheReferenceVectors) {
  using svckit::flags::detail::murmur3_32;
  EXPECT_EQ(murmur3_32(""), 0u);
  EXPECT_EQ(murmur3_32("", 1), 0x514E28B7u);
  EXPECT_EQ(murmur3_32("hello"), 0x248BFA47u);
  EXPECT_EQ(murmur3_32("The quick brown fox jumps over the lazy dog"), 0x2E4FF723u);
  EXPECT_EQ(murmur3_32("abc"), 0xB3DD93FAu);
}

TEST(SemVer, OrdersAsSemverOrgSays) {
  using svckit::flags::detail::compare_semver;
  EXPECT_EQ(compare_semver("1.0.0", "v1.0.0"), 0);
  EXPECT_EQ(compare_semver("1.0.0-alpha", "1.0.0"), -1);
  EXPECT_EQ(compare_semver("1.0.0-alpha.1", "1.0.0-alpha.beta"), -1);
  EXPECT_EQ(compare_semver("1.0.0-beta.11", "1.0.0-beta.2"), 1);
  EXPECT_EQ(compare_semver("1.10.0", "1.9.9"), 1);
  EXPECT_EQ(compare_semver("1.0.0+build", "1.0.0"), 0);
  EXPECT_EQ(compare_semver("1.2", "1.2.0"), 0);  // flagd takes partial versions
  EXPECT_FALSE(compare_semver("1.2.x", "1.2.0"));
  EXPECT_FALSE(compare_semver("01.0.0", "1.0.0"));
  EXPECT_FALSE(compare_semver("1.0.0-", "1.0.0"));
}

TEST(FlagSet, AnswersWithTheReasonsFlagdGives) {
  auto set = FlagSet::parse(
      {{"flags",
        {{"static",
          {{"state", "ENABLED"}, {"variants", {{"a", "x"}, {"b", "y"}}}, {"defaultVariant", "b"}}},
         {"targeted",
          {{"state", "ENABLED"},
           {"variants", {{"a", "x"}, {"b", "y"}}},
           {"defaultVariant", "b"},
           {"targeting", {{"if", {{{"==", {{{"var", "plan"}}, "gold"}}}, "a", nullptr}}}}}},
         {"off", {{"state", "DISABLED"}, {"variants", {{"a", 1}}}, {"defaultVariant", "a"}}},
         {"no-default",
          {{"state", "ENABLED"}, {"variants", {{"a", 1}}}, {"defaultVariant", nullptr}}}}}});
  auto e = set->evaluate("static", nullptr);
  EXPECT_EQ(e.reason, Reason::kStatic);
  EXPECT_EQ(*e.value, "y");
  EXPECT_EQ(e.variant, "b");
  e = set->evaluate("targeted", {{"plan", "gold"}});
  EXPECT_EQ(e.reason, Reason::kTargetingMatch);
  EXPECT_EQ(*e.value, "x");
  e = set->evaluate("targeted", {{"plan", "free"}});
  EXPECT_EQ(e.reason, Reason::kDefault);
  EXPECT_EQ(*e.value, "y");
  e = set->evaluate("off", nullptr);
  EXPECT_EQ(e.reason, Reason::kDisabled);
  EXPECT_EQ(e.value, nullptr);
  e = set->evaluate("no-default", nullptr);
  EXPECT_EQ(e.reason, Reason::kDefault);  // no default variant: the caller's
  EXPECT_EQ(e.value, nullptr);
  e = set->evaluate("missing", nullptr);
  EXPECT_EQ(e.error_code, ErrorCode::kFlagNotFound);
  e = set->evaluate("targeted", json::array({1}));
  EXPECT_EQ(e.error_code, ErrorCode::kInvalidContext);
}

TEST(FlagSet, TargetingOperatorsPickTheVariant) {
  auto gold = json{{"if", {{{"in", {"@acme.com", {{"var", "email"}}}}}, "on", "off"}}};
  EXPECT_EQ(pick(gold, {{"email", "ann@acme.com"}}), "on");
  EXPECT_EQ(pick(gold, {{"email", "ann@other.com"}}), "off");
  EXPECT_EQ(pick(gold, nullptr), "off");
  auto ends = json{{"if", {{{"ends_with", {{{"var", "email"}}, "@acme.com"}}}, "on", "off"}}};
  EXPECT_EQ(pick(ends, {{"email", "ann@acme.com"}}), "on");
  EXPECT_EQ(pick(ends, {{"email", 3}}), "");  // an operator error: the default, not the else
  auto starts = json{{"if", {{{"starts_with", {{{"var", "user.id"}}, "beta-"}}}, "on", "off"}}};
  EXPECT_EQ(pick(starts, {{"user", {{"id", "beta-7"}}}}), "on");
  auto version = json{{"if", {{{"sem_ver", {{{"var", "app"}}, ">=", "2.1.0"}}}, "on", "off"}}};
  EXPECT_EQ(pick(version, {{"app", "v2.1.0"}}), "on");
  EXPECT_EQ(pick(version, {{"app", "2.1.0-rc.1"}}), "off");
  EXPECT_EQ(pick(version, {{"app", "garbage"}}), "");
  auto caret = json{{"if", {{{"sem_ver", {{{"var", "app"}}, "^", "2.0.0"}}}, "on", "off"}}};
  EXPECT_EQ(pick(caret, {{"app", "2.9.1"}}), "on");
  EXPECT_EQ(pick(caret, {{"app", "3.0.0"}}), "off");
  auto between = json{{"if", {{{"<", {1, {{"var", "n"}}, 10}}}, "on", "off"}}};
  EXPECT_EQ(pick(between, {{"n", 5}}), "on");
  EXPECT_EQ(pick(between, {{"n", 10}}), "off");
  auto loose = json{{"if", {{{"==", {{{"var", "n"}}, "5"}}}, "on", "off"}}};
  EXPECT_EQ(pick(loose, {{"n", 5}}), "on");
  auto strict = json{{"if", {{{"===", {{{"var", "n"}}, "5"}}}, "on", "off"}}};
  EXPECT_EQ(pick(strict, {{"n", 5}}), "off");
  auto nested = json{
      {"if",
       {{{"and", {{{">=", {{{"var", "age"}}, 18}}}, {{"!", {{"var", "banned"}}}}}}}, "on", "off"}}};
  EXPECT_EQ(pick(nested, {{"age", 20}}), "on");
  EXPECT_EQ(pick(nested, {{"age", 20}, {"banned", true}}), "off");
  auto some = json{
      {"if", {{{"some", {{{"var", "roles"}}, {{"==", {{{"var", ""}}, "admin"}}}}}}, "on", "off"}}};
  EXPECT_EQ(pick(some, {{"roles", {"user", "admin"}}}), "on");
  EXPECT_EQ(pick(some, {{"roles", {"user"}}}), "off");
  auto key = json{{"if", {{{"==", {{{"var", "$flagd.flagKey"}}, "f"}}}, "on", "off"}}};
  EXPECT_EQ(pick(key, nullptr), "on");
  auto cat = json{{"if", {{{"==", {{{"cat", {{{"var", "a"}}, "-", 2}}}, "x-2"}}}, "on", "off"}}};
  EXPECT_EQ(pick(cat, {{"a", "x"}}), "on");
  auto boolean = json{{"==", {{{"var", "tier"}}, "gold"}}};  // true/false name a boolean's variants
  EXPECT_EQ(pick(boolean, {{"tier", "gold"}}, {{"true", true}, {"false", false}}), "true");
}

TEST(FlagSet, FractionalSplitsStablyByTheWeights) {
  auto split =
      json{{"fractional", json::array({json::array({"on", 25}), json::array({"off", 75})})}};
  std::map<std::string, int> counts;
  for (int i = 0; i < 20'000; ++i)
    counts[pick(split, {{"targetingKey", "user-" + std::to_string(i)}})]++;
  EXPECT_NEAR(counts["on"], 5'000, 400);
  EXPECT_NEAR(counts["off"], 15'000, 400);
  // flagd's own vectors (flagd-testbed custom-ops.json, targeting.feature): the bucket of flag
  // key + targeting key is (murmur3 * total weight) >> 32.
  json suits = json::array();
  for (auto suit : {"clubs", "diamonds", "hearts", "spades"})
    suits.push_back(json::array({suit, 25}));
  json doc = {{"flags",
               {{"fractional-flag",
                 {{"state", "ENABLED"},
                  {"defaultVariant", "clubs"},
                  {"variants",
                   {{"clubs", "clubs"},
                    {"diamonds", "diamonds"},
                    {"hearts", "hearts"},
                    {"spades", "spades"}}},
                  {"targeting", {{"fractional", suits}}}}}}}};
  auto set = FlagSet::parse(doc);
  for (auto [who, suit] : {std::pair{"jack", "hearts"},
                           {"queen", "spades"},
                           {"ten", "clubs"},
                           {"nine", "diamonds"},
                           {"3", "clubs"}}) {
    auto e = set->evaluate("fractional-flag", {{"targetingKey", who}});
    EXPECT_EQ(e.variant, suit) << who;
    EXPECT_EQ(e.reason, Reason::kTargetingMatch);
  }
  // No targeting key and no bucketBy: nothing to split by, the default variant.
  EXPECT_EQ(pick(split, nullptr), "");
  // An explicit bucketBy expression instead of the targeting key.
  auto by_email = json{{"fractional", json::array({json{{"var", "email"}}, json::array({"on", 50}),
                                                   json::array({"off", 50})})}};
  EXPECT_EQ(pick(by_email, {{"email", "a@b.c"}}),
            pick(by_email, {{"email", "a@b.c"}, {"targetingKey", "zzz"}}));
}

TEST(FlagSet, SharedEvaluatorsAreReferenced) {
  json doc = one_flag({{"if", {{{"$ref", "staff"}}, "on", "off"}}});
  doc["$evaluators"] = {{"staff", {{"ends_with", {{{"var", "email"}}, "@acme.com"}}}}};
  auto set = FlagSet::parse(doc);
  EXPECT_EQ(set->evaluate("f", {{"email", "x@acme.com"}}).variant, "on");
  EXPECT_EQ(set->evaluate("f", {{"email", "x@else.com"}}).variant, "off");
}

TEST(FlagSet, RefusesABadDocumentNamingEveryProblem) {
  EXPECT_TRUE(mentions(problems_of(json::array()), "must be a JSON object"));
  EXPECT_TRUE(mentions(problems_of({{"flag", json::object()}}), "flags: required"));
  EXPECT_TRUE(mentions(problems_of(one_flag(nullptr, {{"on", true}}, "blue")),
                       "\"blue\" is not one of its variants"));
  EXPECT_TRUE(mentions(problems_of(one_flag(nullptr, {{"on", true}, {"z", 3}})),
                       "flags.f.variants.z: is number"));
  EXPECT_TRUE(
      mentions(problems_of(one_flag({{"if", {true, "on", "purple"}}})), "can return \"purple\""));
  EXPECT_TRUE(mentions(
      problems_of(one_flag(
          {{"fractional", json::array({json::array({"on", 50}), json::array({"gone", 50})})}})),
      "can return \"gone\""));
  EXPECT_TRUE(mentions(problems_of(one_flag({{"regex", {1, 2}}})), "unknown operator \"regex\""));
  EXPECT_TRUE(mentions(problems_of(one_flag({{"==", {1}}})), "==: takes two arguments"));
  json loop = one_flag({{"$ref", "a"}});
  loop["$evaluators"] = {{"a", {{"$ref", "b"}}}, {"b", {{"$ref", "a"}}}};
  EXPECT_TRUE(mentions(problems_of(loop), "refers to itself"));
  json unknown_ref = one_flag({{"$ref", "nope"}});
  EXPECT_TRUE(mentions(problems_of(unknown_ref), "no evaluator \"nope\""));
  json bad_key = {
      {"flags",
       {{"has space", {{"state", "ENABLED"}, {"variants", {{"a", 1}}}, {"defaultVariant", "a"}}}}}};
  EXPECT_TRUE(mentions(problems_of(bad_key), "a flag key is"));
  json typo = one_flag(nullptr);
  typo["flags"]["f"]["defaultvariant"] = "on";
  EXPECT_TRUE(mentions(problems_of(typo), "flags.f.defaultvariant: unknown field"));
  json state = one_flag(nullptr);
  state["flags"]["f"]["state"] = "ON";
  EXPECT_TRUE(mentions(problems_of(state), "flags.f.state"));
  json deep = true;
  for (int i = 0; i < 100; ++i) deep = json{{"!", deep}};
  EXPECT_TRUE(mentions(problems_of(one_flag(deep)), "deeper"));
  // Several problems at once are all reported.
  json many = {{"flags", {{"a", {{"state", "X"}, {"variants", json::object()}}}, {"b", 3}}}};
  EXPECT_GE(problems_of(many).size(), 2u);
}

TEST(FlagClient, AnswersTheCodeDefaultWhenTheFlagCannot) {
  FlagClient client;
  EXPECT_FALSE(client.boolean("f", false));  // nothing loaded yet
  EXPECT_TRUE(client.boolean("f", true));
  client.replace(
      FlagSet::parse(one_flag({{"if", {{{"==", {{{"var", "plan"}}, "gold"}}}, "on", "off"}}})), 1);
  EXPECT_TRUE(client.boolean("f", false, {{"plan", "gold"}}));
  EXPECT_FALSE(client.boolean("f", true, {{"plan", "free"}}));
  EXPECT_EQ(client.text("f", "fallback"), "fallback");  // a boolean flag asked for text
  auto d = client.details("f", "fallback");
  EXPECT_EQ(d.error_code, ErrorCode::kTypeMismatch);
  EXPECT_TRUE(d.from_default);
  EXPECT_EQ(client.number("missing", 4.5), 4.5);
  // An older version arriving late does not roll the flags back.
  client.replace(FlagSet::empty(), 0);
  EXPECT_TRUE(client.boolean("f", false, {{"plan", "gold"}}));
  client.replace(FlagSet::empty(), 2);
  EXPECT_FALSE(client.boolean("f", false, {{"plan", "gold"}}));
  EXPECT_EQ(client.version(), 2);
}

TEST(FlagClient, EvaluatesWhileAnotherThreadSwapsSets) {
  FlagClient client;
  auto on = FlagSet::parse(one_flag(nullptr, {{"on", true}, {"off", false}}, "on"));
  std::atomic<bool> reading{false}, stop{false};
  std::thread writer([&] {
    while (!reading) std::this_thread::yield();  // else a busy machine runs it all before a read
    for (std::int64_t v = 1; v < 2'000; ++v) client.replace(v % 2 ? on : FlagSet::empty(), v);
    stop = true;
  });
  reading = true;
  do {
    client.boolean("f", false);  // either set's answer; what matters is no torn read (TSan/ASan)
  } while (!stop);
  writer.join();
  EXPECT_EQ(client.version(), 1'999);
  EXPECT_TRUE(client.boolean("f", false));
}

TEST(FlagSet, AHostileRuleCostsBoundedTimeAndMemory) {
  // map inside map inside map ... over a literal array of 100: 100^5 steps unbounded.
  json xs = json::array();
  for (int i = 0; i < 100; ++i) xs.push_back(i);
  json rule = {{"var", ""}};
  for (int i = 0; i < 5; ++i) rule = {{"map", json::array({xs, rule})}};
  auto wide = FlagSet::parse(one_flag({{"if", {rule, "on", "off"}}}));
  auto e = wide->evaluate("f", {{"xs", xs}});
  EXPECT_EQ(e.reason, Reason::kDefault);  // the budget ran out: the default, as for a bad operand
  // An accumulator that doubles: 2^40 bytes unbounded.
  json doubling = {
      {"reduce", json::array({json{{"var", "xs"}},
                              json{{"cat", json::array({json{{"var", "accumulator"}},
                                                        json{{"var", "accumulator"}}})}},
                              "ab"})}};
  auto big = FlagSet::parse(one_flag({{"if", {doubling, "on", "off"}}}));
  EXPECT_EQ(big->evaluate("f", {{"xs", xs}}).reason, Reason::kDefault);
  // Within the limits the same rules answer.
  EXPECT_EQ(big->evaluate("f", {{"xs", json::array({1, 2})}}).variant, "on");
}

TEST(FlagSet, NestedCopiesAreChargedToo) {
  // An accumulator that doubles as an array: [acc, acc] each step, 2^40 leaves unbounded.
  json xs = json::array();
  for (int i = 0; i < 40; ++i) xs.push_back(i);
  json doubling = {
      {"reduce",
       json::array(
           {xs, json::array({json{{"var", "accumulator"}}, json{{"var", "accumulator"}}}), 0})}};
  auto set = FlagSet::parse(one_flag({{"if", {doubling, "on", "off"}}}));
  EXPECT_EQ(set->evaluate("f", nullptr).reason, Reason::kDefault);
}

TEST(FlagSet, ReferencesThatFanOutAreRefusedAtParse) {
  // e0 refers ten times to e1, which refers ten times to e2 ...: 10^9 nodes once inlined.
  json evaluators = json::object();
  for (int level = 0; level < 9; ++level) {
    json refs = json::array();
    for (int i = 0; i < 10; ++i) refs.push_back({{"$ref", "e" + std::to_string(level + 1)}});
    evaluators["e" + std::to_string(level)] = {{"or", refs}};
  }
  evaluators["e9"] = {{"==", {1, 1}}};
  json doc = one_flag({{"if", {{{"$ref", "e0"}}, "on", "off"}}});
  doc["$evaluators"] = evaluators;
  EXPECT_TRUE(mentions(problems_of(doc), "larger than 10,000 operations"));
}

TEST(FlagSet, TextIsCutByCharactersAndBadBytesNeverThrow) {
  auto first = json{{"substr", json::array({json{{"var", "name"}}, 0, 1})}};
  EXPECT_EQ(pick(first, {{"name", "Émile"}}, {{"É", true}, {"x", false}}), "É");
  // A start past the end, however large, is the empty string (JavaScript's answer), not UB.
  auto huge = FlagSet::parse(
      one_flag({{"substr", json::array({"abc", 1e300})}}, {{"", true}, {"x", false}}, "x"));
  auto cut = huge->evaluate("f", nullptr);
  EXPECT_EQ(cut.reason, Reason::kTargetingMatch);
  EXPECT_EQ(cut.variant, "");
  // A context's bytes that are not UTF-8, chosen as a variant that is not one: an error, no throw.
  auto echo = FlagSet::parse(one_flag({{"var", "name"}}));
  auto e = echo->evaluate("f", {{"name", std::string("\xC3")}});
  EXPECT_EQ(e.error_code, ErrorCode::kGeneral);
}

TEST(FlagClient, TwoWritersRacingLeaveTheNewestSetWithItsVersion) {
  FlagClient client;
  auto set_for = [](std::int64_t v) {
    return FlagSet::parse(one_flag(nullptr, {{"v", static_cast<double>(v)}, {"w", -1.0}}, "v"));
  };
  std::vector<std::shared_ptr<const FlagSet>> sets;
  for (std::int64_t v = 0; v <= 2'000; ++v) sets.push_back(set_for(v));
  std::thread odd([&] {
    for (std::int64_t v = 1; v <= 1'999; v += 2) client.replace(sets[v], v);
  });
  std::thread even([&] {
    for (std::int64_t v = 2; v <= 2'000; v += 2) client.replace(sets[v], v);
  });
  odd.join();
  even.join();
  EXPECT_EQ(client.version(), 2'000);
  EXPECT_EQ(client.number("f", -2), 2'000);  // the set that came with that version
}

TEST(FlagSet, TextBecomesANumberAsJavaScriptSaysSo) {
  auto five = json{{"if", {{{"==", {{{"var", "n"}}, 5}}}, "on", "off"}}};
  for (const char* text : {"5", " 5 ", "+5", "0x5", "5.0", "5e0"})
    EXPECT_EQ(pick(five, {{"n", text}}), "on") << text;
  for (const char* text : {"inf", "nan", "5x", "-0x5", "0x", "five"})
    EXPECT_EQ(pick(five, {{"n", text}}), "off") << text;
  auto big = json{{"if", {{{">", {{{"var", "n"}}, 1e308}}}, "on", "off"}}};
  EXPECT_EQ(pick(big, {{"n", "Infinity"}}), "on");
  EXPECT_EQ(pick(big, {{"n", "inf"}}), "off");
}
