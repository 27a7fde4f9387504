#include <gtest/gtest.h>

#include "svckit/comma_list.hpp"
#include "svckit/settings.hpp"

using namespace std::chrono_literals;
using svckit::ConfigError;
using svckit::map_environment;
using svckit::Settings;
using svckit::SettingSpec;
using svckit::SettingType;

namespace {

// The ConfigError a setting of `spec` with `value` (from the environment) gives, "" for none.
std::string error_of(SettingSpec spec, std::string value) {
  Settings s({}, map_environment({{spec.name, std::move(value)}}));
  s.declare("m", spec);
  try {
    s.check();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), spec.name);
    return e.what();
  }
  return "";
}

SettingSpec integer(std::int64_t min, std::int64_t max) {
  return {.name = "N", .type = SettingType::integer, .min = min, .max = max};
}

}  // namespace

TEST(Settings, TypedValuesFromEnvironmentFlagsAndDefaults) {
  Settings s({"--count=7", "--timeout", "2m"},
             map_environment({{"COUNT", "3"}, {"SIZE", "2MiB"}, {"ON", "Yes"}}));
  s.declare("m", {.name = "COUNT", .type = SettingType::integer, .default_value = "1"});
  s.declare("m", {.name = "TIMEOUT", .type = SettingType::duration, .default_value = "5s"});
  s.declare("m", {.name = "SIZE", .type = SettingType::size});
  s.declare("m", {.name = "ON", .type = SettingType::boolean, .default_value = "false"});
  s.declare("m", {.name = "NAME", .default_value = "x"});
  s.declare("m", {.name = "NOTHING"});
  s.check();
  EXPECT_EQ(s.integer("COUNT"), 7);
  EXPECT_EQ(s.source("COUNT"), Settings::Source::flag);
  EXPECT_EQ(s.duration("TIMEOUT"), 120000ms);
  EXPECT_EQ(s.size("SIZE"), 2u << 20);
  EXPECT_EQ(s.source("SIZE"), Settings::Source::environment);
  EXPECT_TRUE(s.boolean("ON"));
  EXPECT_EQ(s.text("NAME"), "x");
  EXPECT_EQ(s.source("NAME"), Settings::Source::default_value);
  EXPECT_FALSE(s.is_set("NOTHING"));
  EXPECT_EQ(s.text("NOTHING"), "");
  EXPECT_THROW(s.integer("NOTHING"), ConfigError);
  EXPECT_THROW(s.text("NEVER_DECLARED"), std::logic_error);
}

TEST(Settings, ACommaListIsItsItemsTrimmedWithoutEmptyOnes) {
  EXPECT_EQ(svckit::comma_list(" task.#,\tagent.# ,,  , config.flag.changed,"),
            (std::vector<std::string>{"task.#", "agent.#", "config.flag.changed"}));
  EXPECT_EQ(svckit::comma_list("solo"), std::vector<std::string>{"solo"});
  EXPECT_TRUE(svckit::comma_list("").empty());
  EXPECT_TRUE(svckit::comma_list(" , ,").empty());
}

TEST(Settings, ASystemsOwnDefaultGivesWayToWhatIsSet) {
  Settings s({"--given=5"}, map_environment({{"FROM_ENV", "env"}}));
  s.declare("sdk", {.name = "ROLES", .default_value = "sdk"});
  s.declare("sdk", {.name = "UNSET"});
  s.declare("sdk", {.name = "FROM_ENV", .default_value = "sdk"});
  s.declare("sdk", {.name = "GIVEN", .type = SettingType::integer});
  s.set_default("ROLES", "system");
  s.set_default("UNSET", "system");
  s.set_default("FROM_ENV", "system");
  s.set_default("GIVEN", "6");
  EXPECT_EQ(s.text("ROLES"), "system");
  EXPECT_EQ(s.source("ROLES"), Settings::Source::default_value);
  EXPECT_EQ(s.text("UNSET"), "system");
  EXPECT_EQ(s.text("FROM_ENV"), "env");
  EXPECT_EQ(s.integer("GIVEN"), 5);
  s.declare("sdk", {.name = "NUMBER", .type = SettingType::integer});
  s.set_default("NUMBER", "many");  // a bad default is reported as any bad value is
  EXPECT_THROW(s.integer("NUMBER"), ConfigError);
  EXPECT_THROW(s.set_default("NEVER_DECLARED", "x"), std::logic_error);
}

TEST(Settings, HostileIntegersAreRefusedNamingTheRange) {
  for (const char* bad : {"abc", "", " ", "1.5", "0x10", "1e3", "+-1", "99999999999999999999999",
                          "-9223372036854775809", "65536", "-1", "12 34", "7\n"}) {
    auto what = error_of(integer(0, 65535), bad);
    if (std::string_view(bad).find_first_not_of(" ") == std::string_view::npos) {
      EXPECT_EQ(what, "") << "blank is unset: " << bad;
      continue;
    }
    EXPECT_NE(what.find("from 0 to 65535"), std::string::npos) << bad << ": " << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << "one line: " << what;
  }
  EXPECT_EQ(error_of(integer(0, 65535), " 8080 "), "") << "surrounding blanks are trimmed";
}

TEST(Settings, HostileDurationsSizesAndBooleans) {
  SettingSpec duration{.name = "D", .type = SettingType::duration, .min = 1, .max = 60'000};
  for (const char* bad : {"soon", "-5s", "5 s", "1e400", "nan", "inf", "48h", "0", "2m", "5x"})
    EXPECT_NE(error_of(duration, bad), "") << bad;
  EXPECT_NE(error_of(duration, "2m").find("from 1ms to 1m"), std::string::npos);
  EXPECT_EQ(error_of(duration, "250ms"), "");

  SettingSpec size{.name = "S", .type = SettingType::size, .min = 1, .max = 1 << 20};
  for (const char* bad : {"lots", "1.5M", "-1", "5T", "0", "2MiB", "99999999999999999999", "1 k"})
    EXPECT_NE(error_of(size, bad), "") << bad;
  EXPECT_EQ(error_of(size, "512k"), "");

  SettingSpec flag{.name = "B", .type = SettingType::boolean};
  for (const char* bad : {"maybe", "2", "truee", "y"}) EXPECT_NE(error_of(flag, bad), "") << bad;
  for (const char* good : {"true", "FALSE", "1", "0", "on", "Off", "yes", "no"})
    EXPECT_EQ(error_of(flag, good), "") << good;
}

TEST(Settings, EnumsAndUrls) {
  SettingSpec level{.name = "L", .type = SettingType::enumeration, .choices = {"debug", "info"}};
  EXPECT_NE(error_of(level, "loud").find("expected one of debug, info"), std::string::npos);
  EXPECT_EQ(error_of(level, "INFO"), "") << "enumerations ignore case";
  Settings upper({}, map_environment({{"L", "INFO"}}));
  upper.declare("m", level);
  EXPECT_EQ(upper.text("L"), "info") << "and read as declared";

  SettingSpec url{.name = "U", .type = SettingType::url, .choices = {"http://", "https://"}};
  EXPECT_NE(error_of(url, "ftp://x").find("starting with http://, https://"), std::string::npos);
  EXPECT_NE(error_of(url, "http://a b"), "") << "a space";
  EXPECT_NE(error_of(url, std::string("http://a\0b", 10)), "") << "a NUL";
  EXPECT_NE(error_of(url, "http://a\r\nX: y"), "") << "header injection";
  EXPECT_EQ(error_of(url, "https://example.com/x?y=1"), "");
}

TEST(Settings, SecretsAndPasswordsInUrlsAreNeverEchoed) {
  SettingSpec bus{.name = "BUS_URL", .type = SettingType::url, .choices = {"amqp://"}};
  auto what = error_of(bus, "kafka://user:hunter2@host/");
  EXPECT_EQ(what.find("hunter2"), std::string::npos) << what;
  EXPECT_NE(what.find("kafka://user:****@host/"), std::string::npos) << what;

  SettingSpec secret{.name = "K", .type = SettingType::secret, .required = true};
  Settings s({}, map_environment({{"K", "hunter2"}, {"BUS_URL", "amqp://u:hunter2@h:5672/v"}}));
  s.declare("m", secret);
  s.declare("bus", bus);
  auto shown = s.effective();
  EXPECT_EQ(shown.find("hunter2"), std::string::npos) << shown;
  EXPECT_NE(shown.find("K=****"), std::string::npos) << shown;
  EXPECT_NE(shown.find("BUS_URL=amqp://u:****@h:5672/v"), std::string::npos) << shown;
  EXPECT_NE(shown.find("# environment"), std::string::npos) << shown;
  EXPECT_EQ(s.text("K"), "hunter2") << "the service still reads it";

  EXPECT_EQ(Settings::masked(bus, "amqp://u@h/"), "amqp://u@h/") << "no password";
  EXPECT_EQ(Settings::masked(bus, "amqp://h/p@th"), "amqp://h/p@th") << "an @ after the host";
  EXPECT_EQ(Settings::masked(bus, "amqp://u:p:q@h/"), "amqp://u:****@h/");
  EXPECT_EQ(Settings::masked(bus, "postgres://u:pa/ss@db/x"), "postgres://u:****@db/x")
      << "a '/' in the password";
  EXPECT_EQ(Settings::masked(bus, "amqp://u:pa@ss@h/"), "amqp://u:****@h/") << "an '@' in it";
  EXPECT_EQ(Settings::masked(bus, "amqp:/u:pw@h/").find("pw"), std::string::npos) << "no '://'";
}

TEST(Settings, RequiredSettingsMustBeSet) {
  Settings s({}, map_environment({}));
  s.declare("m", {.name = "NEEDED", .required = true, .help = "x"});
  try {
    s.check();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "NEEDED");
  }
}

TEST(Settings, UnknownFlagsAreRefusedWithTheNearestName) {
  Settings s({"--drain-timout=5s"}, map_environment({}));
  s.declare("lifecycle", {.name = "DRAIN_TIMEOUT", .type = SettingType::duration});
  try {
    s.check();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.variable(), "--drain-timout");
    EXPECT_NE(std::string(e.what()).find("did you mean --drain-timeout?"), std::string::npos)
        << e.what();
  }
  Settings far({"--colour=red"}, map_environment({}));
  far.declare("lifecycle", {.name = "DRAIN_TIMEOUT", .type = SettingType::duration});
  try {
    far.check();
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()).find("did you mean"), std::string::npos) << e.what();
  }
}

TEST(Settings, HostileFlagsAreRefused) {
  for (std::vector<std::string> args : {std::vector<std::string>{"positional"},
                                        {"-p"},
                                        {"--"},
                                        {"--port"},
                                        {"--po rt=1"},
                                        {"--p\x01rt=1"},
                                        {"--" + std::string(200, 'a') + "=1"}}) {
    EXPECT_THROW(Settings(args, map_environment({})), ConfigError) << args[0];
  }
  for (const char* secret :
       {"--jwt-secret-key:hunter2", "-jwt-secret-key=hunter2", "--jwt secret=hunter2", "hunter2"}) {
    try {
      Settings s({secret}, map_environment({}));
      FAIL() << secret;
    } catch (const ConfigError& e) {
      if (std::string_view(secret) != "hunter2")
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
  Settings twice({"--port=1", "--port=2"}, map_environment({}));
  twice.declare("http", integer(0, 10));  // "N": not the flag
  twice.declare("http", {.name = "PORT", .type = SettingType::integer});
  EXPECT_EQ(twice.integer("PORT"), 2) << "the last flag wins";
}

TEST(Settings, EnvironmentNearMissesAreFound) {
  Settings s({}, map_environment({{"DRAIN_TIMEOT", "5s"}, {"PORT", "1"}, {"UNRELATED", "x"}}));
  s.declare("lifecycle", {.name = "DRAIN_TIMEOUT", .type = SettingType::duration});
  s.declare("http", {.name = "PORT", .type = SettingType::integer});
  s.declare("http", {.name = "PORTS", .type = SettingType::integer});
  auto misses = s.near_misses();
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0].first, "DRAIN_TIMEOT");
  EXPECT_EQ(misses[0].second, "DRAIN_TIMEOUT");
}

TEST(Settings, UsageListsEverySettingByModule) {
  Settings s({}, map_environment({}));
  s.declare("http", {.name = "PORT",
                     .type = SettingType::integer,
                     .default_value = "8000",
                     .min = 0,
                     .max = 65535,
                     .help = "HTTP port"});
  s.declare("auth", {.name = "JWT_SECRET_KEY", .type = SettingType::secret, .help = "secret"});
  s.declare("http", {.name = "HOST", .default_value = "0.0.0.0", .help = "address"});
  auto usage = s.usage();
  auto http = usage.find("\nhttp:\n");
  auto auth = usage.find("\nauth:\n");
  ASSERT_NE(http, std::string::npos) << usage;
  ASSERT_NE(auth, std::string::npos) << usage;
  EXPECT_LT(usage.find("  HOST "), auth) << "HOST is listed with http";
  EXPECT_NE(usage.find("HTTP port (integer from 0 to 65535, default 8000)"), std::string::npos)
      << usage;
}

TEST(Settings, DeclaringTwice) {
  Settings s({}, map_environment({}));
  s.declare("a", {.name = "X", .type = SettingType::integer, .default_value = "1"});
  s.declare("b", {.name = "X", .type = SettingType::integer, .default_value = "2"});
  EXPECT_EQ(s.integer("X"), 1) << "the first declaration stands";
  EXPECT_THROW(s.declare("c", {.name = "X", .type = SettingType::boolean}), std::logic_error);
  EXPECT_THROW(s.declare("c", {.name = "lower"}), std::logic_error);
}

TEST(Settings, EditDistance) {
  EXPECT_EQ(svckit::edit_distance("PORT", "PORT"), 0u);
  EXPECT_EQ(svckit::edit_distance("PROT", "PORT"), 1u) << "neighbours swapped";
  EXPECT_EQ(svckit::edit_distance("POT", "PORT"), 1u);
  EXPECT_EQ(svckit::edit_distance("PORTS", "PORT"), 1u);
  EXPECT_EQ(svckit::edit_distance("", "AB"), 2u);
}
