#pragma once
// The JWS algorithms svckit signs and verifies (RFC 7518 §3, RFC 8037). "none" is not one of them.
#include <optional>
#include <string_view>

namespace svckit::auth {

enum class Algorithm {
  HS256,
  HS384,
  HS512,  // HMAC with SHA-2
  RS256,
  RS384,
  RS512,  // RSASSA-PKCS1-v1_5
  PS256,
  PS384,
  PS512,  // RSASSA-PSS, MGF1 with the same hash, salt as long as the hash
  ES256,
  ES384,
  ES512,  // ECDSA on P-256, P-384, P-521; raw r‖s signatures
  EdDSA,  // Ed25519
};

std::string_view algorithm_name(Algorithm algorithm);
// Exact, case-sensitive names as RFC 7518 spells them; nullopt for anything else ("none" too).
std::optional<Algorithm> parse_algorithm(std::string_view name);

}  // namespace svckit::auth
