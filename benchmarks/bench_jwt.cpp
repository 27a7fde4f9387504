// JWT verification rate per algorithm on one thread:
//   build/bin/bench_jwt [SECONDS_PER_ALGORITHM [ALGORITHM]]
//   build/bin/bench_jwt SECONDS HS256 TOKEN SECRET   one given token, default options: the same
//                                                    token and checks as a binding's verify()
// Prints one JSON object per line: {"alg": ..., "verify_per_s": ...}. benchmarks/jwt_compare.py
// runs it beside `openssl speed` and PyJWT and prints the ratios.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <chrono>
#include <cstdio>
#include <string>

#include <svckit/auth/jwt.hpp>

using namespace svckit::auth;

namespace {

std::string private_pem(EVP_PKEY* pkey) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  EVP_PKEY_free(pkey);
  return pem;
}

Key make_key(Algorithm a) {
  auto name = algorithm_name(a);
  if (name[0] == 'H') return Key::hmac(a, std::string(64, 'k'));
  if (name[0] == 'R' || name[0] == 'P')
    return Key::from_pem(a, private_pem(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048})));
  if (a == Algorithm::EdDSA)
    return Key::from_pem(a, private_pem(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")));
  const char* curve = a == Algorithm::ES256 ? "P-256" : a == Algorithm::ES384 ? "P-384" : "P-521";
  return Key::from_pem(a, private_pem(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve)));
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = argc > 1 ? std::stod(argv[1]) : 1.0;
  const Algorithm all[] = {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::RS256,
                           Algorithm::RS384, Algorithm::RS512, Algorithm::PS256, Algorithm::PS384,
                           Algorithm::PS512, Algorithm::ES256, Algorithm::ES384, Algorithm::ES512,
                           Algorithm::EdDSA};
  std::string only = argc > 2 ? argv[2] : "";
  for (Algorithm a : all) {
    if (!only.empty() && only != algorithm_name(a)) continue;
    Key key = make_key(a);
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    // The claims the Security Service issues (seed 000 §7.1 plus iss, aud, jti, type).
    nlohmann::json claims = {{"sub", "8d0c6a8e-4b7e-4a57-9d53-3f0f7c1f9a21"},
                             {"email", "developer@example.com"},
                             {"roles", {"developer"}},
                             {"permissions", {"tasks:read", "tasks:write", "ai:use"}},
                             {"iss", "svckit-security"},
                             {"aud", "aether"},
                             {"jti", "0b6c1f2e-2a4d-4c4e-8f3a-5e6d7c8b9a10"},
                             {"type", "access"},
                             {"iat", now},
                             {"exp", now + 900}};
    std::string token = sign(claims, key);
    VerifyOptions options;
    options.issuer = "svckit-security";
    options.audiences = {"aether"};
    options.token_type = "access";
    if (argc > 4) {  // the caller's token and secret
      key = Key::hmac(a, argv[4]);
      token = argv[3];
      options = {};
    }
    Verifier verifier({key}, options);
    std::size_t n = 0;
    auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    while (elapsed < seconds) {
      for (int i = 0; i < 64; ++i) n += verifier.verify(token).claims.size() > 0;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    std::printf("{\"alg\": \"%s\", \"verify_per_s\": %.0f, \"token_bytes\": %zu}\n",
                std::string(algorithm_name(a)).c_str(), n / elapsed, token.size());
    std::fflush(stdout);
  }
}
