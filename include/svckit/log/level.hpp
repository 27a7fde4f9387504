#pragma once
#include <optional>
#include <string_view>

namespace svckit::log {

enum class Level { debug = 0, info = 1, warning = 2, error = 3 };

// "debug", "info", "warning"/"warn", "error" in any case; nullopt otherwise.
std::optional<Level> parse_level(std::string_view text);
// "DEBUG", "INFO", "WARNING", "ERROR" as the seed's log lines spell them.
std::string_view level_name(Level level);

}  // namespace svckit::log
