#include "svckit/settings.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <memory>

extern char** environ;  // NOLINT: POSIX

namespace svckit {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

double parse_number(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0)
    throw std::invalid_argument("not a non-negative number");
  return v;
}

// "--drain-timeout" -> "DRAIN_TIMEOUT"
std::string flag_to_env(std::string_view flag) {
  std::string out;
  for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper((unsigned char)ch));
  return out;
}

// "DRAIN_TIMEOUT" -> "--drain-timeout"
std::string env_to_flag(std::string_view name) {
  std::string out = "--";
  for (char ch : name) out += ch == '_' ? '-' : static_cast<char>(std::tolower((unsigned char)ch));
  return out;
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  for (char ch : name)
    if (!(std::isupper((unsigned char)ch) || std::isdigit((unsigned char)ch) || ch == '_'))
      return false;
  return true;
}

// A value as an error may quote it: at most 64 characters, control characters as '?'.
std::string quoted_value(std::string_view value) {
  std::string out = "'";
  for (char ch : value.substr(0, 64)) out += (unsigned char)ch < 0x20 || ch == 0x7f ? '?' : ch;
  return out + (value.size() > 64 ? "...'" : "'");
}

std::string format_ms(std::int64_t ms) {
  if (ms % 3'600'000 == 0 && ms != 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0 && ms != 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower((unsigned char)x) == std::tolower((unsigned char)y);
         });
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : std::string(separator)) + i;
  return out;
}

bool bounded_below(const SettingSpec& s) {
  return s.min != std::numeric_limits<std::int64_t>::min();
}
bool bounded_above(const SettingSpec& s) {
  return s.max != std::numeric_limits<std::int64_t>::max();
}

// "from 1 to 64", "at least 1", "at most 24h", "" with no bounds; `unit` formats a bound.
std::string bounds(const SettingSpec& s, std::string (*unit)(std::int64_t)) {
  if (bounded_below(s) && bounded_above(s)) return "from " + unit(s.min) + " to " + unit(s.max);
  if (bounded_below(s)) return "at least " + unit(s.min);
  if (bounded_above(s)) return "at most " + unit(s.max);
  return "";
}
std::string plain(std::int64_t v) {
  return std::to_string(v);
}

void check_range(const SettingSpec& s, std::int64_t v, const char* what,
                 std::string (*unit)(std::int64_t)) {
  if (v < s.min || v > s.max)
    throw std::invalid_argument(std::string("expected ") + what + " " + bounds(s, unit));
}

std::int64_t parse_integer(const SettingSpec& s, std::string_view text) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    std::string range = bounds(s, plain);
    throw std::invalid_argument("expected a whole number" + (range.empty() ? "" : " " + range));
  }
  check_range(s, v, "a whole number", plain);
  return v;
}

// Throws std::invalid_argument when `value` does not fit `s`.
void check_value(const SettingSpec& s, const std::string& value) {
  switch (s.type) {
    case SettingType::string:
    case SettingType::secret:
      return;
    case SettingType::file:
      if (value.find('\0') != std::string::npos) throw std::invalid_argument("expected a path");
      return;
    case SettingType::integer:
      parse_integer(s, value);
      return;
    case SettingType::boolean:
      parse_bool(value);
      return;
    case SettingType::duration:
      check_range(s, parse_duration(value).count(), "a duration", format_ms);
      return;
    case SettingType::size: {
      auto v = parse_size(value);
      check_range(s, static_cast<std::int64_t>(v), "a size", plain);
      return;
    }
    case SettingType::url: {
      for (char ch : value)
        if ((unsigned char)ch <= 0x20 || ch == 0x7f)
          throw std::invalid_argument("expected a URL without spaces or control characters");
      if (s.choices.empty()) return;
      for (const auto& prefix : s.choices)
        if (value.rfind(prefix, 0) == 0) return;
      throw std::invalid_argument("expected a URL starting with " + join(s.choices, ", "));
    }
    case SettingType::enumeration:
      for (const auto& choice : s.choices)
        if (iequal(choice, value)) return;
      throw std::invalid_argument("expected one of " + join(s.choices, ", "));
  }
}

const char* type_name(SettingType t) {
  switch (t) {
    case SettingType::string:
      return "text";
    case SettingType::integer:
      return "integer";
    case SettingType::boolean:
      return "bool";
    case SettingType::duration:
      return "duration";
    case SettingType::size:
      return "size";
    case SettingType::url:
      return "URL";
    case SettingType::enumeration:
      return "one of";
    case SettingType::file:
      return "file";
    case SettingType::secret:
      return "secret";
  }
  return "text";
}

const char* source_name(Settings::Source s) {
  switch (s) {
    case Settings::Source::unset:
      return "unset";
    case Settings::Source::default_value:
      return "default";
    case Settings::Source::environment:
      return "environment";
    case Settings::Source::flag:
      return "flag";
  }
  return "unset";
}

}  // namespace

ConfigError::ConfigError(std::string variable, const std::string& message)
    : std::runtime_error("config: " + variable + ": " + message),
      variable_(std::move(variable)),
      reason_(message) {}

Environment process_environment() {
  return {[](std::string_view name) -> std::optional<std::string> {
            const char* v = std::getenv(std::string(name).c_str());
            if (!v) return std::nullopt;
            return std::string(v);
          },
          [] {
            std::vector<std::string> names;
            for (char** e = environ; e && *e; ++e) {
              std::string_view kv = *e;
              names.emplace_back(kv.substr(0, kv.find('=')));
            }
            return names;
          }};
}

Environment map_environment(std::map<std::string, std::string> values) {
  auto shared = std::make_shared<const std::map<std::string, std::string>>(std::move(values));
  return {[shared](std::string_view name) -> std::optional<std::string> {
            auto it = shared->find(std::string(name));
            if (it == shared->end()) return std::nullopt;
            return it->second;
          },
          [shared] {
            std::vector<std::string> names;
            for (const auto& [k, v] : *shared) names.push_back(k);
            return names;
          }};
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  std::string t = trim(text);
  std::string_view s = t;
  double scale = 1000;  // a bare number is seconds
  auto ends_with = [&](std::string_view suffix) {
    return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  };
  if (ends_with("ms")) {
    scale = 1, s.remove_suffix(2);
  } else if (ends_with("s")) {
    s.remove_suffix(1);
  } else if (ends_with("m")) {
    scale = 60000, s.remove_suffix(1);
  } else if (ends_with("h")) {
    scale = 3600000, s.remove_suffix(1);
  }
  double v = 0;
  try {
    v = parse_number(s);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("expected a duration such as 250ms, 5s or 2m");
  }
  double ms = v * scale;
  if (ms > 86400000.0) throw std::invalid_argument("expected a duration of at most 24h");
  return std::chrono::milliseconds(static_cast<long long>(std::llround(ms)));
}

std::size_t parse_size(std::string_view text) {
  std::string t = trim(text);
  std::string_view s = t;
  std::size_t scale = 1;
  auto strip = [&](std::string_view suffix, std::size_t factor) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      s.remove_suffix(suffix.size());
      scale = factor;
      return true;
    }
    return false;
  };
  strip("KiB", 1024) || strip("MiB", 1 << 20) || strip("GiB", 1u << 30) || strip("k", 1024) ||
      strip("K", 1024) || strip("M", 1 << 20) || strip("G", 1u << 30);
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    throw std::invalid_argument("expected a size such as 1048576, 512k or 1MiB");
  if (v > (std::size_t(1) << 40) / scale) throw std::invalid_argument("size is too large");
  return v * scale;
}

bool parse_bool(std::string_view text) {
  std::string t = trim(text);
  for (auto& c : t) c = static_cast<char>(std::tolower((unsigned char)c));
  if (t == "true" || t == "1" || t == "yes" || t == "on") return true;
  if (t == "false" || t == "0" || t == "no" || t == "off") return false;
  throw std::invalid_argument("expected true or false");
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment: insertions, deletions, replacements, neighbours swapped.
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i)
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

Settings::Settings(std::vector<std::string> args, Environment env) : env_(std::move(env)) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    if (arg == "--print-config") {
      print_requested_ = true;
      continue;
    }
    if (arg == "--migrate") {
      migrate_requested_ = true;
      continue;
    }
    if (arg == "--health-check") {
      health_check_requested_ = true;
      continue;
    }
    // Commands with a value, never read from the environment (a leftover variable must not
    // roll a schema back).
    if (arg.starts_with("--roll-back=")) {
      roll_back_ = std::string(arg.substr(12));
      continue;
    }
    if (arg.starts_with("--copy-data-from=")) {
      copy_data_from_ = std::string(arg.substr(17));
      continue;
    }
    // Only the name-like start is quoted back: what follows may be a secret ("--key:s3cret").
    auto name_end = std::find_if(arg.begin(), arg.end(), [](char c) {
      return !(std::isalnum((unsigned char)c) || c == '-' || c == '_');
    });
    auto shown = quoted_value(arg.substr(0, name_end - arg.begin()));
    if (arg.rfind("--", 0) != 0 || arg.size() < 3)
      throw ConfigError(shown, "unexpected argument (flags look like --port=8080)");
    arg.remove_prefix(2);
    auto eq = arg.find('=');
    std::string name = flag_to_env(arg.substr(0, eq));
    if (!valid_env_name(name)) throw ConfigError(shown, "not a valid flag name");
    std::string value;
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      throw ConfigError(name, "flag " + env_to_flag(name) + " needs a value");
    }
    if (!flags_.contains(name)) flag_order_.push_back(name);
    flags_[name] = std::move(value);
  }
}

void Settings::declare(std::string_view module, SettingSpec spec) {
  if (!valid_env_name(spec.name))
    throw std::logic_error("setting name '" + spec.name + "' is not an environment name");
  for (const auto& e : entries_)
    if (e.spec.name == spec.name) {
      if (e.spec.type != spec.type)
        throw std::logic_error("setting " + spec.name + " declared twice with different types");
      return;
    }
  Entry e{std::string(module), std::move(spec), std::nullopt, Source::unset, {}};
  const std::string& name = e.spec.name;
  if (auto f = flags_.find(name); f != flags_.end() && !trim(f->second).empty()) {
    e.value = trim(f->second), e.source = Source::flag;
  } else if (auto v = env_(name); v && !trim(*v).empty()) {
    e.value = trim(*v), e.source = Source::environment;
  } else if (e.spec.default_value) {
    e.value = *e.spec.default_value, e.source = Source::default_value;
  }
  if (!e.value && e.spec.required) e.error = "required, and not set";
  if (e.value) {
    try {
      check_value(e.spec, *e.value);
      if (e.spec.type == SettingType::enumeration)  // as declared, whatever the case given
        for (const auto& choice : e.spec.choices)
          if (iequal(choice, *e.value)) e.value = choice;
    } catch (const std::invalid_argument& bad) {
      e.error = bad.what();
      if (e.spec.type != SettingType::secret)
        e.error += ", got " + quoted_value(masked(e.spec, *e.value));
    }
  }
  entries_.push_back(std::move(e));
}

void Settings::set_default(std::string_view name, std::string value) {
  for (auto& e : entries_) {
    if (e.spec.name != name) continue;
    e.spec.default_value = value;
    if (e.source != Source::unset && e.source != Source::default_value) return;
    e.value = std::move(value);
    e.source = Source::default_value;
    e.error.clear();
    try {
      check_value(e.spec, *e.value);
    } catch (const std::invalid_argument& bad) {
      e.error = bad.what();
    }
    return;
  }
  throw std::logic_error("set_default of " + std::string(name) + ", which is never declared");
}

bool Settings::declared(std::string_view name) const {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const Entry& e) { return e.spec.name == name; });
}

const Settings::Entry& Settings::entry(std::string_view name) const {
  for (const auto& e : entries_)
    if (e.spec.name == name) {
      if (!e.error.empty()) throw ConfigError(e.spec.name, e.error);
      return e;
    }
  throw std::logic_error("setting " + std::string(name) + " read but never declared");
}

std::string Settings::text(std::string_view name) const {
  const Entry& e = entry(name);
  return e.value.value_or("");
}

Settings::Source Settings::source(std::string_view name) const {
  return entry(name).source;
}

namespace {
const std::string& value_of(std::string_view name, const std::optional<std::string>& v) {
  if (!v) throw ConfigError(std::string(name), "not set");
  return *v;
}
}  // namespace

std::int64_t Settings::integer(std::string_view name) const {
  const Entry& e = entry(name);
  return parse_integer(e.spec, value_of(name, e.value));
}

bool Settings::boolean(std::string_view name) const {
  return parse_bool(value_of(name, entry(name).value));
}

std::chrono::milliseconds Settings::duration(std::string_view name) const {
  return parse_duration(value_of(name, entry(name).value));
}

std::size_t Settings::size(std::string_view name) const {
  return parse_size(value_of(name, entry(name).value));
}

void Settings::check() const {
  for (const auto& e : entries_)
    if (!e.error.empty()) throw ConfigError(e.spec.name, e.error);
  for (const auto& name : flag_order_) {
    if (declared(name)) continue;
    std::string nearest;
    std::size_t best = std::max<std::size_t>(2, name.size() / 3) + 1;
    for (const auto& e : entries_)
      if (auto d = edit_distance(name, e.spec.name); d < best) best = d, nearest = e.spec.name;
    throw ConfigError(env_to_flag(name),
                      nearest.empty() ? "unknown flag (--help lists the settings)"
                                      : "unknown flag; did you mean " + env_to_flag(nearest) + "?");
  }
}

std::vector<std::pair<std::string, std::string>> Settings::near_misses() const {
  std::vector<std::string> names = env_.names ? env_.names() : std::vector<std::string>();
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& name : names) {
    if (!valid_env_name(name) || declared(name)) continue;
    for (const auto& e : entries_)
      if (edit_distance(name, e.spec.name) == 1) {
        out.emplace_back(name, e.spec.name);
        break;
      }
  }
  return out;
}

std::string Settings::masked(const SettingSpec& spec, std::string_view value) {
  if (spec.type == SettingType::secret) return value.empty() ? "" : "****";
  if (spec.type != SettingType::url) return std::string(value);
  // user:password@host: everything from the first ':' after the scheme to the last '@' goes. It
  // may take more than the password (a port before an '@' in the path), never less: a password
  // may hold '/', '?' or '#', and a mistyped scheme ("amqp:/u:pw@h") has no "://".
  auto at = value.rfind('@');
  if (at == std::string_view::npos) return std::string(value);
  auto scheme = value.find("://");
  auto from = scheme == std::string_view::npos || scheme > at ? 0 : scheme + 3;
  auto colon = value.find(':', from);
  if (colon == std::string_view::npos || colon > at) return std::string(value);
  return std::string(value.substr(0, colon + 1)) + "****" + std::string(value.substr(at));
}

std::vector<std::string> Settings::modules() const {
  std::vector<std::string> out;
  for (const auto& e : entries_)
    if (std::find(out.begin(), out.end(), e.module) == out.end()) out.push_back(e.module);
  return out;
}

std::string Settings::usage() const {
  std::string out =
      "Commands (instead of serving; each applies the database migrations first):\n"
      "  --migrate                   apply the migrations and exit\n"
      "  --roll-back=COMPONENT:N     undo COMPONENT's migrations above version N and exit\n"
      "  --copy-data-from=URL        copy the rows of a SQLite database into DATABASE_URL and "
      "exit\n"
      "  --health-check              ask the running service's /health on HOST:PORT: exit 0 when "
      "it is UP\n\n"
      "Settings: the environment variable NAME, or the flag --name=value.\n";
  for (const auto& module : modules()) {
    out += "\n" + module + ":\n";
    for (const auto& e : entries_) {
      if (e.module != module) continue;
      const SettingSpec& s = e.spec;
      std::string kind = type_name(s.type);
      if (s.type == SettingType::enumeration) kind += " " + join(s.choices, "|");
      if (s.type == SettingType::integer || s.type == SettingType::size) {
        if (auto b = bounds(s, plain); !b.empty()) kind += " " + b;
      } else if (s.type == SettingType::duration) {
        if (auto b = bounds(s, format_ms); !b.empty()) kind += " " + b;
      }
      if (s.required) kind += ", required";
      if (s.default_value && !s.default_value->empty())
        kind += ", default " + masked(s, *s.default_value);
      std::string line = "  " + s.name;
      line += std::string(line.size() < 30 ? 30 - line.size() : 1, ' ');
      out += line + s.help + " (" + kind + ")\n";
    }
  }
  return out;
}

std::string Settings::effective() const {
  std::string out;
  for (const auto& module : modules()) {
    out += "# " + module + "\n";
    for (const auto& e : entries_) {
      if (e.module != module) continue;
      std::string line = e.spec.name + "=" + (e.value ? masked(e.spec, *e.value) : "");
      line += std::string(line.size() < 40 ? 40 - line.size() : 1, ' ');
      out += line + "# " + source_name(e.source) + "\n";
    }
  }
  return out;
}

}  // namespace svckit
