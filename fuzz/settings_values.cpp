// Setting values as an operator types them: one value given to a setting of every type, and to
// the parsers behind them (durations, sizes, booleans, TRUSTED_PROXIES, BUS_URL). A bad value is
// a ConfigError naming the setting, and never echoes a secret.
#include "bus/amqp_link.hpp"
#include "fuzz_check.hpp"
#include "svckit/settings.hpp"
#include "svckit/trusted_proxies.hpp"

using svckit::fuzz::expect;
using T = svckit::SettingType;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string value(svckit::fuzz::text(data, size));
  const std::vector<svckit::SettingSpec> specs = {
      {.name = "S_STRING"},
      {.name = "S_INTEGER", .type = T::integer, .min = -5, .max = 1'000'000},
      {.name = "S_BOOLEAN", .type = T::boolean},
      {.name = "S_DURATION", .type = T::duration, .min = 1, .max = 3'600'000},
      {.name = "S_SIZE", .type = T::size, .min = 0, .max = 1 << 30},
      {.name = "S_URL", .type = T::url, .choices = {"http://", "amqp://"}},
      {.name = "S_ENUM", .type = T::enumeration, .choices = {"debug", "info"}},
      {.name = "S_FILE", .type = T::file},
      {.name = "S_SECRET", .type = T::secret},
  };
  std::map<std::string, std::string> env;
  for (const auto& s : specs) env[s.name] = value;
  try {
    svckit::Settings settings({}, svckit::map_environment(env));
    for (const auto& s : specs) settings.declare("fuzz", s);
    try {
      settings.check();
    } catch (const svckit::ConfigError& e) {
      if (value.size() >= 8)
        expect(std::string_view(e.what()).find(value) == std::string_view::npos ||
                   e.variable() != "S_SECRET",
               "a secret echoed in an error");
    }
    for (const auto& s : specs) {
      try {
        settings.text(s.name);
        if (s.type == T::integer) settings.integer(s.name);
        if (s.type == T::boolean) settings.boolean(s.name);
        if (s.type == T::duration) settings.duration(s.name);
        if (s.type == T::size) settings.size(s.name);
      } catch (const svckit::ConfigError&) {
      }
    }
    settings.effective();
  } catch (const svckit::ConfigError&) {
  }
  for (auto parse : {+[](std::string_view v) { svckit::parse_duration(v); },
                     +[](std::string_view v) { svckit::parse_size(v); },
                     +[](std::string_view v) { svckit::parse_bool(v); },
                     +[](std::string_view v) { svckit::TrustedProxies::parse(v).client_of(v, v); },
                     +[](std::string_view v) { svckit::bus::detail::parse_amqp_url(v); }}) {
    try {
      parse(value);
    } catch (const std::invalid_argument&) {
    } catch (const svckit::bus::BusError&) {  // parse_amqp_url's
    }
  }
  return 0;
}
