#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "svckit/log/logger.hpp"

using svckit::log::Level;
using svckit::log::Logger;

TEST(Logger, WritesOneJsonObjectPerLine) {
  Logger logger("task-manager");
  auto line = logger.format(
      Level::info, "request",
      {{"request_id", "req-abc123"}, {"status", 201}, {"duration_ms", 4.5}, {"ok", true}});
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["level"], "INFO");
  EXPECT_EQ(j["service"], "task-manager");
  EXPECT_EQ(j["message"], "request");
  EXPECT_EQ(j["request_id"], "req-abc123");
  EXPECT_EQ(j["status"], 201);
  EXPECT_DOUBLE_EQ(j["duration_ms"].get<double>(), 4.5);
  EXPECT_EQ(j["ok"], true);
  std::string ts = j["timestamp"];
  EXPECT_EQ(ts.size(), 24u);
  EXPECT_EQ(ts.back(), 'Z');
}

TEST(Logger, EscapesHostileText) {
  Logger logger("svc");
  std::string hostile = "line\nbreak \"quoted\" \\ \x01\x7f tab\t";
  auto line = logger.format(Level::warning, hostile, {{"path", hostile}});
  EXPECT_EQ(line.find('\n'), line.size() - 1);  // still one line
  auto j = nlohmann::json::parse(line);
  EXPECT_EQ(j["message"], hostile);
  EXPECT_EQ(j["path"], hostile);
}

TEST(Logger, RespectsTheLevel) {
  Logger logger("svc", Level::warning);
  EXPECT_FALSE(logger.enabled(Level::info));
  EXPECT_TRUE(logger.enabled(Level::error));
}

TEST(Logger, LevelNames) {
  EXPECT_EQ(svckit::log::parse_level("WARN"), Level::warning);
  EXPECT_EQ(svckit::log::parse_level("Debug"), Level::debug);
  EXPECT_FALSE(svckit::log::parse_level("verbose"));
}
