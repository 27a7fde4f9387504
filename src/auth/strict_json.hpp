#pragma once
// A strict RFC 8259 parser for JOSE headers and JWT claims sets: no duplicate member names at
// any depth, bounded nesting, valid UTF-8, no trailing bytes. Tokens are parsed on every
// authenticated request, so it is also several times faster than the general parser.
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace svckit::auth::detail {

// The value, or nullopt with `error` saying why ("duplicate member", "nested too deeply", ...).
std::optional<nlohmann::json> parse_strict_json(std::string_view text, int max_depth,
                                                std::string& error);

}  // namespace svckit::auth::detail
