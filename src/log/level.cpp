#include "svckit/log/level.hpp"

#include <algorithm>
#include <cctype>
#include <string>

namespace svckit::log {

std::optional<Level> parse_level(std::string_view text) {
  std::string t(text);
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "debug") return Level::debug;
  if (t == "info") return Level::info;
  if (t == "warning" || t == "warn") return Level::warning;
  if (t == "error") return Level::error;
  return std::nullopt;
}

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "DEBUG";
    case Level::info:
      return "INFO";
    case Level::warning:
      return "WARNING";
    case Level::error:
      return "ERROR";
  }
  return "INFO";
}

}  // namespace svckit::log
