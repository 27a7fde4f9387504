#include <gtest/gtest.h>

#include "../../src/auth/strict_json.hpp"
#include "svckit/auth/jose_object.hpp"

using svckit::auth::detail::parse_strict_json;

namespace {

std::string error_of(std::string_view text, int depth = 8) {
  std::string error;
  auto parsed = parse_strict_json(text, depth, error);
  return parsed ? "(parsed)" : error;
}

}  // namespace

TEST(StrictJson, ParsesWhatNlohmannParses) {
  const char* texts[] = {
      R"({"a":1,"b":-2.5e3,"c":"x\"y\\z\/\b\f\n\r\t\u00e9\ud83d\ude00","d":[true,false,null,{}],"e":[]})",
      R"( { "sub" : "u" , "n" : 18446744073709551615 , "m" : -9223372036854775808 } )",
      R"("caf)"
      "\xc3\xa9"
      R"(")",
      "0",
      "[1.0,0.5,1E2]",
  };
  for (const char* text : texts) {
    std::string error;
    auto parsed = parse_strict_json(text, 8, error);
    ASSERT_TRUE(parsed) << text << ": " << error;
    EXPECT_EQ(*parsed, nlohmann::json::parse(text)) << text;
  }
}

TEST(StrictJson, RefusesWhatIsNotStrictJson) {
  EXPECT_EQ(error_of(R"({"a":1,"a":2})"), "has a duplicate member");
  EXPECT_EQ(error_of(R"({"x":{"a":1,"a":1}})"), "has a duplicate member");
  EXPECT_EQ(error_of("[[[[1]]]]", 3), "is nested too deeply");
  EXPECT_EQ(error_of(std::string(100000, '[')), "is nested too deeply");
  EXPECT_EQ(error_of(R"({"a":1} x)"), "is not valid JSON (bytes after the value)");
  EXPECT_EQ(error_of("\"a\x01\""), "is not valid JSON (a control character in a string)");
  EXPECT_EQ(error_of("\"\xc3\""), "is not valid UTF-8");
  EXPECT_EQ(error_of("\"\xc0\xaf\""), "is not valid UTF-8");          // overlong '/'
  EXPECT_EQ(error_of("\"\xed\xa0\x80\""), "is not valid UTF-8");      // an encoded surrogate
  EXPECT_EQ(error_of("\"\xf4\x90\x80\x80\""), "is not valid UTF-8");  // beyond U+10FFFF
  EXPECT_EQ(error_of(R"("\ud800")"), "is not valid JSON (a lone surrogate)");
  EXPECT_EQ(error_of(R"("\udc00")"), "is not valid JSON (a lone surrogate)");
  EXPECT_EQ(error_of(R"("\x41")"), "is not valid JSON (a bad escape)");
  EXPECT_EQ(error_of(R"("\u12")"), "is not valid JSON (a bad \\u escape)");
  EXPECT_EQ(error_of("1e999"), "is not valid JSON (a number out of range)");
  for (const char* bad : {"", "{", "{\"a\"}", "{\"a\":}", "[1,]", "{,}", "01", "-", "1.", ".5",
                          "+1", "tru", "nul", "'a'", "{\"a\":1,}", "\"abc", "NaN", "Infinity"})
    EXPECT_NE(error_of(bad), "(parsed)") << bad;
}

// The verifier's flat reading of an object: the same rules, members typed on access, and json()
// equal to what the DOM parser builds.
TEST(JoseObject, ReadsMembersFlatByTheSameRules) {
  using svckit::auth::JoseObject;
  const char* text = R"({"sub":"u\u00e9","exp":1.7e9,"ok":true,"none":null,"roles":["a","b"],)"
                     R"("aud":["x",1],"nested":{"k":[1,{"z":2}]}})";
  std::string error;
  auto o = JoseObject::parse(text, error);
  ASSERT_TRUE(o) << error;
  EXPECT_EQ(o->size(), 7u);
  EXPECT_EQ(o->string("sub"), "u\xc3\xa9");
  EXPECT_EQ(o->number("exp"), 1.7e9);
  EXPECT_FALSE(o->string("exp"));  // wrong type: nullopt
  EXPECT_FALSE(o->number("missing"));
  EXPECT_EQ(o->find("ok")->kind, JoseObject::Kind::boolean);
  EXPECT_EQ(o->find("none")->kind, JoseObject::Kind::null);
  EXPECT_EQ(o->strings("roles"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(o->strings("aud"));  // holds a number
  EXPECT_FALSE(o->strings("sub"));  // not an array
  EXPECT_EQ(o->value("nested"), nlohmann::json::parse(R"({"k":[1,{"z":2}]})"));
  EXPECT_EQ(o->json(), nlohmann::json::parse(text));

  auto refused = [](std::string_view t, int = 0) {
    std::string why;
    return JoseObject::parse(t, why) ? std::string("(parsed)") : why;
  };
  EXPECT_EQ(refused(R"({"a":1,"a":"1"})"), "has a duplicate member");
  EXPECT_EQ(refused(R"({"a":{"b":1,"b":2}})"), "has a duplicate member");
  EXPECT_EQ(refused(R"(["a"])"), "is not a JSON object");
  EXPECT_EQ(refused(R"("a")"), "is not a JSON object");
  EXPECT_EQ(refused(R"({"a":1} {})"), "is not valid JSON (bytes after the value)");
  EXPECT_EQ(refused(R"({"a":[[[[[[[[1]]]]]]]]})"), "is nested too deeply");
  EXPECT_EQ(refused("{\"a\":\"\xff\"}"), "is not valid UTF-8");
  EXPECT_EQ(refused(R"({"a":1e999})"), "is not valid JSON (a number out of range)");
  EXPECT_EQ(refused(R"({"a":tru})"), "is not valid JSON");
  EXPECT_EQ(refused(""), "is not a JSON object");
}
