// svckit::JsonSchema against the JSON Schema Test Suite (Debian's json-schema-test-suite, draft 7):
// every group whose schema compiles must give the suite's answer on every one of its tests; the
// groups refused at compile are only those using what the class says it does not support.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "svckit/json_schema.hpp"

using nlohmann::json;
using svckit::JsonSchema;

namespace {

const std::filesystem::path kSuite = "/usr/share/json-schema-test-suite/tests/draft7";

json read(const std::filesystem::path& p) {
  std::ifstream in(p);
  return json::parse(in);
}

}  // namespace

TEST(JsonSchema, AnswersAsTheOfficialSuiteDoes) {
  ASSERT_TRUE(std::filesystem::exists(kSuite)) << "./dev.sh installs json-schema-test-suite";
  std::size_t passed = 0, refused = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kSuite)) {
    if (entry.path().extension() != ".json") continue;
    const auto file = entry.path().filename().string();
    if (file == "refRemote.json") continue;  // remote references: refused by design
    for (const auto& group : read(entry.path())) {
      std::optional<JsonSchema> schema;
      try {
        schema = JsonSchema::compile(group["schema"]);
      } catch (const std::invalid_argument& e) {
        // Only what is unsupported by design: a reference by $id or to another document.
        EXPECT_TRUE(std::string(e.what()).find("unsupported") != std::string::npos)
            << file << ": " << group["description"] << ": " << e.what();
        ++refused;
        continue;
      }
      for (const auto& test : group["tests"]) {
        const bool valid = schema->validate(test["data"]).empty();
        EXPECT_EQ(valid, test["valid"].get<bool>())
            << file << ": " << group["description"].get<std::string>() << ": "
            << test["description"].get<std::string>();
        ++passed;
      }
    }
  }
  EXPECT_GT(passed, 400u);
  EXPECT_LT(refused, 12u);
}

TEST(JsonSchema, SaysWhereAndWhat) {
  auto schema = JsonSchema::compile(
      {{"type", "object"},
       {"required", {"port"}},
       {"additionalProperties", false},
       {"properties",
        {{"port", {{"type", "integer"}, {"minimum", 1}, {"maximum", 65535}}},
         {"mode", {{"enum", {"fast", "safe"}}}},
         {"tags",
          {{"type", "array"}, {"items", {{"type", "string"}, {"pattern", "^[a-z]+$"}}}}}}}});
  EXPECT_TRUE(schema.validate({{"port", 8080}, {"mode", "fast"}, {"tags", {"a"}}}).empty());
  auto problems = schema.validate({{"mode", "slow"}, {"tags", {"ok", "No"}}, {"extra", 1}});
  std::vector<std::string> said;
  for (const auto& p : problems) said.push_back(p.path + " " + p.message);
  EXPECT_EQ(said,
            (std::vector<std::string>{
                "/port is required", "/extra is not allowed (additionalProperties)",
                "/mode must be one of [\"fast\",\"safe\"]", "/tags/1 must match \"^[a-z]+$\""}));
}

TEST(JsonSchema, RefusesWhatItWouldGetWrongAndStaysBounded) {
  for (const json& bad :
       {json{{"type", "text"}}, json{{"minimum", "1"}}, json{{"pattern", "("}},
        json{{"$ref", "#/definitions/none"}}, json{{"$ref", "http://example.com/s.json"}},
        json{{"unevaluatedProperties", false}}, json(3), json{{"required", {1}}}})
    EXPECT_THROW(JsonSchema::compile(bad), std::invalid_argument) << bad.dump();
  // A reference to itself without end: a problem, not a crash.
  auto loop = JsonSchema::compile({{"$ref", "#"}});
  EXPECT_FALSE(loop.validate(1).empty());
  // Patterns run in linear time (RE2): what makes a backtracking engine take exponential time
  // ((a+)+$ against aaaa...b) answers at once; a lookaround, which RE2 cannot run, is refused when
  // the schema is stored rather than ignored.
  auto groups = JsonSchema::compile({{"pattern", "^(a+)+$"}});
  EXPECT_EQ(groups.validate(std::string(100'000, 'a') + "b").size(), 1u);
  EXPECT_TRUE(groups.validate(std::string(100'000, 'a')).empty());
  // The fuzzer's find, A??????++++... (std::regex took exponential time on it), is no regular
  // expression in ECMAScript either: refused when the schema is stored.
  EXPECT_THROW(JsonSchema::compile({{"pattern", "A??????????????????????++++++++++++++++++++th"}}),
               std::invalid_argument);
  EXPECT_THROW(JsonSchema::compile({{"pattern", "^(?=a)"}}), std::invalid_argument);
  // anyOf inside anyOf ... over a large array: the step budget ends it.
  json nested = {{"type", "integer"}};
  for (int i = 0; i < 12; ++i) nested = {{"anyOf", {nested, nested}}};
  auto costly = JsonSchema::compile({{"items", nested}});
  EXPECT_FALSE(costly.validate(json::array({"x", "y", "z"})).empty());
}

TEST(JsonSchema, WhatAReferencePointsAtIsCheckedToo) {
  // A part of the document no keyword leads to, reached only by a reference.
  for (const json& bad :
       {json{{"$ref", "#/x"}, {"x", {{"$ref", "#/nope"}}}},
        json{{"$ref", "#/x"}, {"x", {{"pattern", "("}}}},
        json{{"$ref", "#/x"}, {"x", {{"maxLength", "s"}}}}, json{{"$ref", "#/%zz"}},
        json{{"prefixItems", {true}}, {"items", {true}}}})
    EXPECT_THROW(JsonSchema::compile(bad), std::invalid_argument) << bad.dump();
  auto fine = JsonSchema::compile({{"$ref", "#/x"}, {"x", {{"pattern", "^a"}}}});
  EXPECT_TRUE(fine.validate("abc").empty());
  EXPECT_EQ(fine.validate("cba").size(), 1u);
  EXPECT_TRUE(JsonSchema::compile({{"items", json::array()}})
                  .validate(json::array({1}))
                  .empty());  // draft 7 allows it
}

TEST(JsonSchema, ABudgetSpentIsNeverAPass) {
  // not(contains mallory) over more items than the budget: running out must not read as "does
  // not contain", which `not` would turn into a pass.
  auto schema = JsonSchema::compile({{"not", {{"contains", {{"const", "mallory"}}}}}});
  json admins = json::array();
  for (int i = 0; i < 60'000; ++i) admins.push_back(0);
  admins.push_back("mallory");
  auto problems = schema.validate(admins);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].message, "too costly to validate (over 50,000 steps)");
}

TEST(JsonSchema, MultiplesAreExactForIntegersAndTightForFractions) {
  auto even = JsonSchema::compile({{"multipleOf", 2}});
  EXPECT_FALSE(even.validate(9223372036854775807LL).empty());  // past 2^53: a double says "whole"
  EXPECT_TRUE(even.validate(9223372036854775806LL).empty());
  auto tenth = JsonSchema::compile({{"multipleOf", 0.1}});
  EXPECT_TRUE(tenth.validate(0.3).empty());
  EXPECT_FALSE(tenth.validate(0.30000000001).empty());
}
