#include <gtest/gtest.h>

#include "svckit/config.hpp"

using svckit::Config;
using svckit::ConfigError;
using svckit::map_environment;

TEST(Config, DefaultsWithoutEnvironment) {
  auto c = Config::load("task-manager", {}, map_environment({}));
  EXPECT_EQ(c.service_name, "task-manager");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.bus_url, "inproc://");
  EXPECT_EQ(c.max_body, 1u << 20);
}
