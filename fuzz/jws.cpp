// JWS compact tokens through the Verifier, with an HMAC and an ECDSA key in its set: any input
// either verifies (only a token signed with one of them could) or is refused with TokenError.
#include "fuzz_check.hpp"
#include "svckit/auth/jwt.hpp"
#include "svckit/auth/key.hpp"

using namespace svckit::auth;

namespace {

const char* kEcKey =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE3ZIivuBRC6IMeBBp6/1AyKwbWmT1\n"
    "shwcGbG8+JfjI6G1+m1JqHs1tHUg9f5UA0eTrUmkwxwtUcXaV+kIr0ZpUQ==\n"
    "-----END PUBLIC KEY-----\n";

const Verifier& verifier() {
  static const Verifier v = [] {
    KeySet keys;
    keys.add(Key::hmac(Algorithm::HS256, std::string(32, 'k'), "hmac"));
    keys.add(Key::from_pem(Algorithm::ES256, kEcKey, "ec"));
    VerifyOptions options;
    options.issuer = "fuzz";
    options.audiences = {"svckit"};
    options.require_exp = false;
    return Verifier(std::move(keys), std::move(options));
  }();
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    auto token = verifier().verify(svckit::fuzz::text(data, size));
    // Reading what a verified token holds must not fail either.
    token.subject();
    token.claims.string("iss");
    token.claims.strings("roles");
  } catch (const TokenError&) {
  }
  return 0;
}
