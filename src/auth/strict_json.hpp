#pragma once
// A strict RFC 8259 parser for JOSE headers and JWT claims sets: no duplicate member names at
// any depth, bounded nesting, valid UTF-8, no trailing bytes. Tokens are parsed on every
// authenticated request, so it is also several times faster than the general parser.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/auth/jose_object.hpp"

namespace svckit::auth::detail {

// The value, or nullopt with `error` saying why ("duplicate member", "nested too deeply", ...).
std::optional<nlohmann::json> parse_strict_json(std::string_view text, int max_depth,
                                                std::string& error);

using FlatKind = JoseObject::Kind;
using FlatMember = JoseObject::Member;

// The members of a top-level object, by the same rules, without building nested values: what a
// verifier reads on every request. False with `error` set otherwise ("is not a JSON object").
bool parse_strict_flat_object(std::string_view text, int max_depth,
                              std::vector<FlatMember>& members, std::string& error);

// The strings of an array of strings ('["a","b"]'), nullopt when it holds anything else.
std::optional<std::vector<std::string>> parse_string_array(std::string_view text);

}  // namespace svckit::auth::detail
