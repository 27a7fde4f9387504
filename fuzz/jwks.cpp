// JWK sets and single JWKs as an issuer's JWKS_URL or a JWKS_FILE gives them: a key is made or
// refused with KeyError, never anything else; a set skips what it cannot use when asked to.
#include <nlohmann/json.hpp>

#include "fuzz_check.hpp"
#include "svckit/auth/key.hpp"

using namespace svckit::auth;
using svckit::fuzz::expect;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto json = nlohmann::json::parse(svckit::fuzz::text(data, size), nullptr, false);
  if (json.is_discarded()) return 0;
  try {
    auto keys = KeySet::from_jwks(json);
    keys.public_jwks();
  } catch (const KeyError&) {
  }
  try {
    std::vector<std::string> skipped;
    auto keys = KeySet::from_jwks(json, skipped);
    keys.public_jwks();  // HMAC keys have no public form: left out
  } catch (const KeyError&) {
    expect(!json.is_object() || !json.contains("keys") || !json["keys"].is_array(),
           "a set with a keys array refused whole while skipping");
  }
  try {
    auto key = Key::from_jwk(json);
    key.public_jwk();
    key.verify("a.b", "signature");
  } catch (const KeyError&) {
  }
  return 0;
}
