#pragma once
// A signing or verification key, bound to exactly one algorithm: a token's "alg" must equal the
// key's, so a token can never choose how it is checked (RFC 8725 §3.1). Keys come from HMAC
// secrets, PEM (SPKI, PKCS#1, PKCS#8, SEC1, X.509 certificates) or JWK; OpenSSL stays inside.
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "svckit/auth/algorithm.hpp"

namespace svckit::auth {

// A key that cannot be made: wrong type for the algorithm, too short, malformed PEM or JWK.
class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Key {
 public:
  // HS256/384/512. The secret must be at least as long as the hash (RFC 7518 §3.2).
  static Key hmac(Algorithm algorithm, std::string secret, std::string kid = {});
  // A public or private key in PEM; the algorithm must fit the key (RSA ≥ 2048 bits for RS/PS,
  // the matching curve for ES, Ed25519 for EdDSA).
  static Key from_pem(Algorithm algorithm, std::string_view pem, std::string kid = {});
  // The same, read from a file (JWT_PUBLIC_KEY_FILE, SECURITY_SIGNING_KEY_FILE, ...).
  static Key from_pem_file(Algorithm algorithm, const std::string& path, std::string kid = {});
  // A JWK (RFC 7517). Its "alg" binds it; without one, EC and OKP keys take their curve's
  // algorithm and RSA or "oct" keys must be given `fallback`.
  static Key from_jwk(const nlohmann::json& jwk);
  static Key from_jwk(const nlohmann::json& jwk, Algorithm fallback);

  Algorithm algorithm() const;
  const std::string& kid() const;
  bool can_sign() const;  // an HMAC secret or a private key

  // The JWS signature of `signing_input` (raw bytes, not base64url). Throws KeyError on a
  // public key.
  std::string sign(std::string_view signing_input) const;
  // Whether `signature` (raw bytes) is this key's over `signing_input`. Constant time for HMAC.
  bool verify(std::string_view signing_input, std::string_view signature) const;

  // The public half as a JWK with "kty", "alg", "use": "sig" and "kid"; HMAC keys have none
  // and throw KeyError.
  nlohmann::json public_jwk() const;

  struct Impl;

 private:
  explicit Key(std::shared_ptr<const Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<const Impl> impl_;
};

// Keys side by side for rotation, found by kid and algorithm.
class KeySet {
 public:
  KeySet() = default;
  explicit KeySet(std::vector<Key> keys) : keys_(std::move(keys)) {}
  KeySet(std::initializer_list<Key> keys) : keys_(keys) {}

  void add(Key key) { keys_.push_back(std::move(key)); }
  const std::vector<Key>& keys() const { return keys_; }
  bool empty() const { return keys_.empty(); }

  // {"keys": [...]} (RFC 7517 §5). Keys that are not for signatures ("use": "enc") are skipped;
  // a malformed key is a KeyError naming it.
  static KeySet from_jwks(const nlohmann::json& jwks);
  // The same, except that a key which cannot be loaded is left out and "kid: reason" goes to
  // `skipped`: an issuer's set may hold keys meant for other consumers or written loosely.
  static KeySet from_jwks(const nlohmann::json& jwks, std::vector<std::string>& skipped);
  static KeySet from_jwks_file(const std::string& path);
  // The public keys as a JWKS document (HMAC keys are left out).
  nlohmann::json public_jwks() const;

 private:
  std::vector<Key> keys_;
};

}  // namespace svckit::auth
