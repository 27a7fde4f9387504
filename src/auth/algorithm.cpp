#include "svckit/auth/algorithm.hpp"

#include <array>
#include <utility>

namespace svckit::auth {
namespace {

constexpr std::array<std::pair<Algorithm, std::string_view>, 13> kNames = {{
    {Algorithm::HS256, "HS256"},
    {Algorithm::HS384, "HS384"},
    {Algorithm::HS512, "HS512"},
    {Algorithm::RS256, "RS256"},
    {Algorithm::RS384, "RS384"},
    {Algorithm::RS512, "RS512"},
    {Algorithm::PS256, "PS256"},
    {Algorithm::PS384, "PS384"},
    {Algorithm::PS512, "PS512"},
    {Algorithm::ES256, "ES256"},
    {Algorithm::ES384, "ES384"},
    {Algorithm::ES512, "ES512"},
    {Algorithm::EdDSA, "EdDSA"},
}};

}  // namespace

std::string_view algorithm_name(Algorithm algorithm) {
  for (auto [a, name] : kNames)
    if (a == algorithm) return name;
  return "?";
}

std::optional<Algorithm> parse_algorithm(std::string_view name) {
  for (auto [a, n] : kNames)
    if (n == name) return a;
  return std::nullopt;
}

}  // namespace svckit::auth
