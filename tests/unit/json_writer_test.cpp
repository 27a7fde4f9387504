#include <gtest/gtest.h>

#include <cmath>

#include <nlohmann/json.hpp>

#include "svckit/json_writer.hpp"

TEST(JsonWriter, WritesNestedContainersThatParseBack) {
  svckit::JsonWriter w;
  w.begin_object()
      .field("id", "t-1")
      .field("count", 3)
      .field("ratio", 0.25)
      .field("done", false)
      .field("missing", std::optional<std::string>())
      .field("present", std::optional<std::string>("yes"))
      .key("tags")
      .begin_array()
      .value("a")
      .begin_object()
      .field("k", -7)
      .end_object()
      .begin_array()
      .end_array()
      .end_array()
      .key("empty")
      .begin_object()
      .end_object()
      .end_object();
  auto j = nlohmann::json::parse(w.text());
  EXPECT_EQ(j["id"], "t-1");
  EXPECT_EQ(j["count"], 3);
  EXPECT_EQ(j["ratio"], 0.25);
  EXPECT_EQ(j["done"], false);
  EXPECT_TRUE(j["missing"].is_null());
  EXPECT_EQ(j["present"], "yes");
  EXPECT_EQ(j["tags"], nlohmann::json::parse(R"(["a", {"k": -7}, []])"));
  EXPECT_TRUE(j["empty"].is_object() && j["empty"].empty());
}

TEST(JsonWriter, EscapesStringsAndKeys) {
  std::string hostile = "quote\" backslash\\ newline\n nul\x01 unicode ✓";
  svckit::JsonWriter w;
  w.begin_object().field(hostile, hostile).end_object();
  auto j = nlohmann::json::parse(w.text());
  EXPECT_EQ(j[hostile], hostile);
}

// A described struct's member names go out unescaped: the same text key() writes for them.
TEST(JsonWriter, IdentifierKeysAreWrittenAsKeysAre) {
  svckit::JsonWriter by_key, by_identifier;
  by_key.begin_object().key("task_id").value(1).key("_x9").begin_array().end_array().end_object();
  by_identifier.begin_object()
      .identifier_key("task_id")
      .value(1)
      .identifier_key("_x9")
      .begin_array()
      .end_array()
      .end_object();
  EXPECT_EQ(by_identifier.text(), by_key.text());
  EXPECT_EQ(by_identifier.text(), R"({"task_id":1,"_x9":[]})");
}

TEST(JsonWriter, NonFiniteNumbersBecomeNull) {
  svckit::JsonWriter w;
  w.begin_array().value(std::nan("")).value(INFINITY).value(1e300).end_array();
  auto j = nlohmann::json::parse(w.text());
  EXPECT_TRUE(j[0].is_null() && j[1].is_null());
  EXPECT_EQ(j[2], 1e300);
}

// The escaper skips clean eight-byte blocks a word at a time: put each byte that needs escaping
// (and neighbours that must not be escaped) at every offset of a block, in strings of every
// length around the block size, and check that the text survives the round trip.
TEST(JsonWriter, EscapesEverySpecialByteAtEveryOffset) {
  const std::string specials = std::string("\"\\\x7f\x1f\x00\n\t", 7) + " ~\x80\xff";
  for (char special : specials) {
    for (std::size_t length = 1; length <= 19; ++length) {
      for (std::size_t at = 0; at < length; ++at) {
        std::string text(length, 'a');
        text[at] = special;
        svckit::JsonWriter w;
        w.begin_array().value(text).end_array();
        auto j = nlohmann::json::parse(w.text());
        if (static_cast<unsigned char>(special) >= 0x80)  // a lone byte is not UTF-8: U+FFFD
          text.replace(at, 1, "\xEF\xBF\xBD");
        ASSERT_EQ(j[0].get<std::string>(), text) << "byte " << int(special) << " at " << at;
      }
    }
  }
}

TEST(JsonWriter, InvalidUtf8BecomesReplacementCharacters) {
  // Well-formed multi-byte text passes as it is; stray, truncated, overlong and surrogate
  // sequences become U+FFFD, so the output always parses as JSON.
  std::string good = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80";
  std::string bad = std::string("a\xFF") + "b\xC3" + "\xE0\x80\x80" + "\xED\xA0\x80" + "\xC3";
  svckit::JsonWriter w;
  w.begin_array().value(good).value(bad).end_array();
  auto text = w.take();
  auto parsed = nlohmann::json::parse(text);  // throws on invalid UTF-8
  EXPECT_EQ(parsed[0], good);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(parsed[1], "a" + r + "b" + r + r + r + r + r + r + r + r);
}
