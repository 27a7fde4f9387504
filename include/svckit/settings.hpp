#pragma once
// Declared settings: every module, svckit's own and each service's, says which settings it
// reads (name, type, default, bounds, one line of help) before it reads them. What that buys:
//   --help          lists every setting of the process, grouped by module;
//   --print-config  shows each effective value and where it came from, secrets masked;
//   an unknown flag stops start-up (exit 2) naming the nearest declared one;
//   an environment variable one typo away from a declared setting gets a warning;
//   a bad value stops start-up naming the setting, and a secret's value is never echoed.
//
//   static void declare(svckit::Settings& s) {       // a Module's, called before install()
//     s.declare("task-manager", {.name = "TASK_CACHE_ENTRIES", .type =
//     svckit::SettingType::integer,
//                                .default_value = "10000", .min = 0, .max = 10'000'000,
//                                .help = "tasks kept in memory for reads by id"});
//   }
//   auto entries = app.settings().integer("TASK_CACHE_ENTRIES");
//
// Every setting has one name: the environment variable DRAIN_TIMEOUT is the flag
// --drain-timeout=30s (or --drain-timeout 30s); a flag overrides the environment.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace svckit {

// A setting that cannot be used: its name and why. svckit::run prints it and exits 2.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string variable, const std::string& message);
  const std::string& variable() const { return variable_; }
  const std::string& reason() const { return reason_; }  // the message, without the variable

 private:
  std::string variable_;
  std::string reason_;
};

// Where settings come from. The default reads the process environment; tests pass a map.
struct Environment {
  std::function<std::optional<std::string>(std::string_view name)> lookup;
  std::function<std::vector<std::string>()> names;  // every variable's (for near misses)

  std::optional<std::string> operator()(std::string_view name) const {
    return lookup ? lookup(name) : std::nullopt;
  }
};
Environment process_environment();
Environment map_environment(std::map<std::string, std::string> values);

enum class SettingType {
  string,
  integer,      // a whole number in [min, max]
  boolean,      // true/false, 1/0, yes/no, on/off
  duration,     // 250ms, 5s, 2m, 1h, or a bare number of seconds; [min, max] in milliseconds
  size,         // 1048576, 512k, 1M, 1MiB; [min, max] in bytes
  url,          // starting with one of `choices` ("http://", "sqlite:"); a password in it is masked
  enumeration,  // one of `choices`
  file,         // a path (that it can be read is for its reader to say, naming the setting)
  secret,       // text never printed: masked in --print-config, never echoed in an error
};

struct SettingSpec {
  std::string name;  // the environment name: upper case, digits, '_'
  SettingType type = SettingType::string;
  std::optional<std::string> default_value;  // as a user would write it; none: unset
  std::int64_t min = std::numeric_limits<std::int64_t>::min();
  std::int64_t max = std::numeric_limits<std::int64_t>::max();
  std::vector<std::string> choices;  // enumeration: the values; url: the accepted prefixes
  bool required = false;             // start-up fails without a value
  std::string help;                  // one line
};

class Settings {
 public:
  enum class Source { unset, default_value, environment, flag };

  // `args` is argv without the program name: flags only (--name=value or --name value), plus the
  // switches --help and --print-config. Throws ConfigError for anything else.
  explicit Settings(std::vector<std::string> args = {}, Environment env = process_environment());

  // Declares a setting of `module` and checks its value: a bad one (or none for a required
  // setting) is reported by check() and by every read of it, as a ConfigError naming it.
  // Declaring a name again with the same type is allowed (a module installed twice); with
  // another type it is a std::logic_error.
  void declare(std::string_view module, SettingSpec spec);
  bool declared(std::string_view name) const;
  // A system's own default for a setting declared elsewhere (the SDK's AUTH_ROLES, with the
  // roles a system's services know): used when neither a flag nor the environment sets it.
  // Called from a module's declare(). std::logic_error for an undeclared name.
  void set_default(std::string_view name, std::string value);

  // The value of a declared setting (std::logic_error for an undeclared name: a bug), parsed by
  // its type. text() is the value as given, "" when unset. The typed reads throw ConfigError
  // when unset (declare a default or required).
  std::string text(std::string_view name) const;
  std::int64_t integer(std::string_view name) const;
  bool boolean(std::string_view name) const;
  std::chrono::milliseconds duration(std::string_view name) const;
  std::size_t size(std::string_view name) const;
  bool is_set(std::string_view name) const { return source(name) != Source::unset; }
  Source source(std::string_view name) const;

  // A value read from the environment by a name another setting gave (an AI provider's API key
  // variable): not a flag, not listed, never printed.
  std::optional<std::string> environment(std::string_view name) const { return env_(name); }

  bool help_requested() const { return help_requested_; }
  bool print_requested() const { return print_requested_; }
  // --migrate: apply the database migrations (as start-up does) and exit.
  bool migrate_requested() const { return migrate_requested_; }
  // --health-check: ask the running service's /health on HOST:PORT and exit 0 when it answers
  // 200, 1 otherwise (a container's HEALTHCHECK, in an image without curl).
  bool health_check_requested() const { return health_check_requested_; }
  // --roll-back=COMPONENT:VERSION and --copy-data-from=URL (docs/sql.md).
  const std::optional<std::string>& roll_back() const { return roll_back_; }
  const std::optional<std::string>& copy_data_from() const { return copy_data_from_; }

  // Throws ConfigError for the first declared setting with a bad value, else for the first flag
  // no module declared, naming the nearest declared one.
  void check() const;
  // The environment variables one edit away from a declared setting's name (and not declared
  // themselves), each with that name: {"DRAIN_TIMEOT", "DRAIN_TIMEOUT"}.
  std::vector<std::pair<std::string, std::string>> near_misses() const;

  // --help: every setting by module, with type, default and help.
  std::string usage() const;
  // --print-config: every setting's effective value and its source, secrets masked.
  std::string effective() const;

  // The value as it may be shown: a secret as "****", a URL's password as "****".
  static std::string masked(const SettingSpec& spec, std::string_view value);

 private:
  struct Entry {
    std::string module;
    SettingSpec spec;
    std::optional<std::string> value;
    Source source = Source::unset;
    std::string error;  // why the value cannot be used; empty when it can
  };
  const Entry& entry(std::string_view name) const;
  std::vector<std::string> modules() const;  // in the order their first setting was declared

  Environment env_;
  std::map<std::string, std::string, std::less<>> flags_;  // by environment name
  std::vector<std::string> flag_order_;
  std::vector<Entry> entries_;  // in declaration order
  bool help_requested_ = false;
  bool print_requested_ = false;
  bool migrate_requested_ = false;
  bool health_check_requested_ = false;
  std::optional<std::string> roll_back_;
  std::optional<std::string> copy_data_from_;
};

// "250ms", "5s", "2m", or a bare number of seconds ("1.5"). Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view text);
// "1048576", "512k", "1M", "1MiB". Throws std::invalid_argument.
std::size_t parse_size(std::string_view text);
// "true", "1", "yes", "on" / "false", "0", "no", "off" (any case). Throws std::invalid_argument.
bool parse_bool(std::string_view text);
// The number of single-character edits (insert, delete, replace, swap of neighbours) from a to b.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace svckit
