#include <gtest/gtest.h>

#include "svckit/config.hpp"

using namespace std::chrono_literals;
using svckit::Config;
using svckit::ConfigError;
using svckit::map_environment;

namespace {

std::string error_variable(const std::map<std::string, std::string>& env,
                           std::vector<std::string> args = {}) {
  try {
    Config::load("svc", args, map_environment(env));
  } catch (const ConfigError& e) {
    return e.variable();
  }
  return "";
}

}  // namespace

TEST(Config, DefaultsWithoutEnvironment) {
  auto c = Config::load("task-manager", {}, map_environment({}));
  EXPECT_EQ(c.service_name, "task-manager");
  EXPECT_EQ(c.port, 8000);
  EXPECT_EQ(c.bus_url, "inproc://");
  EXPECT_EQ(c.max_body, 1u << 20);
  EXPECT_EQ(c.shutdown_delay, 5000ms);
  EXPECT_GE(c.threads, 1u);
}

TEST(Config, EnvironmentIsRead) {
  auto c = Config::load("svc", {},
                        map_environment({{"PORT", "0"},
                                         {"SERVICE_NAME", "other"},
                                         {"DRAIN_TIMEOUT", "250ms"},
                                         {"MAX_BODY", "2MiB"},
                                         {"LOG_LEVEL", "WARNING"},
                                         {"RABBITMQ_URL", "amqp://guest:guest@localhost:5672/"}}));
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.service_name, "other");
  EXPECT_EQ(c.drain_timeout, 250ms);
  EXPECT_EQ(c.max_body, 2u << 20);
  EXPECT_EQ(c.log_level, svckit::log::Level::warning);
  EXPECT_EQ(c.bus_url, "amqp://guest:guest@localhost:5672/");
}

TEST(Config, FlagsOverrideEnvironment) {
  auto c = Config::load("svc", {"--port=9001", "--shutdown-delay", "2s"},
                        map_environment({{"PORT", "8080"}}));
  EXPECT_EQ(c.port, 9001);
  EXPECT_EQ(c.shutdown_delay, 2000ms);
}

TEST(Config, BadValuesNameTheVariable) {
  EXPECT_EQ(error_variable({{"PORT", "abc"}}), "PORT");
  EXPECT_EQ(error_variable({{"PORT", "70000"}}), "PORT");
  EXPECT_EQ(error_variable({{"PORT", "-1"}}), "PORT");
  EXPECT_EQ(error_variable({{"PORT", "80 80"}}), "PORT");
  EXPECT_EQ(error_variable({{"THREADS", "0"}}), "THREADS");
  EXPECT_EQ(error_variable({{"LOG_LEVEL", "loud"}}), "LOG_LEVEL");
  EXPECT_EQ(error_variable({{"SHUTDOWN_DELAY", "soon"}}), "SHUTDOWN_DELAY");
  EXPECT_EQ(error_variable({{"DRAIN_TIMEOUT", "-5s"}}), "DRAIN_TIMEOUT");
  EXPECT_EQ(error_variable({{"MAX_BODY", "lots"}}), "MAX_BODY");
  EXPECT_EQ(error_variable({{"MAX_BODY", "0"}}), "MAX_BODY");
  EXPECT_EQ(error_variable({{"DATABASE_URL", "mysql://x"}}), "DATABASE_URL");
  EXPECT_EQ(error_variable({{"BUS_URL", "kafka://x"}}), "BUS_URL");
  EXPECT_EQ(error_variable({}, {"--port=x"}), "PORT");
  EXPECT_EQ(error_variable({}, {"positional"}), "'positional'");
  EXPECT_EQ(error_variable({}, {"--port"}), "PORT");
}

TEST(Config, ErrorMessageIsOneLineWithTheValue) {
  try {
    Config::load("svc", {}, map_environment({{"PORT", "abc"}}));
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("PORT"), std::string::npos);
    EXPECT_NE(what.find("'abc'"), std::string::npos);
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
}

TEST(Config, ItsSettingsAreDeclaredByModule) {
  auto c = Config::load("svc", {"--access-log-probes=yes"}, map_environment({}));
  EXPECT_TRUE(c.access_log_probes);
  auto help = c.settings->usage();
  for (const char* module : {"\nservice:\n", "\nhttp:\n", "\ntls:\n", "\nlifecycle:\n", "\ngrpc:\n",
                             "\nsql:\n", "\nbus:\n", "\nauth:\n"})
    EXPECT_NE(help.find(module), std::string::npos) << module << help;
  EXPECT_NE(help.find("  PORT "), std::string::npos) << help;
}

TEST(Config, RabbitmqUrlStandsInForAnUnsetBusUrl) {
  auto both = Config::load(
      "svc", {}, map_environment({{"RABBITMQ_URL", "amqp://a@h/"}, {"BUS_URL", "inproc://"}}));
  EXPECT_EQ(both.bus_url, "inproc://");
}

TEST(Config, Durations) {
  EXPECT_EQ(svckit::parse_duration("250ms"), 250ms);
  EXPECT_EQ(svckit::parse_duration("5s"), 5000ms);
  EXPECT_EQ(svckit::parse_duration("1.5"), 1500ms);
  EXPECT_EQ(svckit::parse_duration("2m"), 120000ms);
  EXPECT_EQ(svckit::parse_duration("0"), 0ms);
  EXPECT_THROW(svckit::parse_duration(""), std::invalid_argument);
  EXPECT_THROW(svckit::parse_duration("ms"), std::invalid_argument);
  EXPECT_THROW(svckit::parse_duration("1e400"), std::invalid_argument);
  EXPECT_THROW(svckit::parse_duration("nan"), std::invalid_argument);
  EXPECT_THROW(svckit::parse_duration("48h"), std::invalid_argument);
}

TEST(Config, Sizes) {
  EXPECT_EQ(svckit::parse_size("1024"), 1024u);
  EXPECT_EQ(svckit::parse_size("512k"), 512u * 1024);
  EXPECT_EQ(svckit::parse_size("1MiB"), 1u << 20);
  EXPECT_THROW(svckit::parse_size("1.5M"), std::invalid_argument);
  EXPECT_THROW(svckit::parse_size("99999999999999999999"), std::invalid_argument);
  EXPECT_THROW(svckit::parse_size("5T"), std::invalid_argument);
}
