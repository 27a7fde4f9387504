#pragma once
// JSON Web Tokens (RFC 7519) in compact JWS form, verified by RFC 8725's rules. Every rejection
// is a TokenError: an Unauthorized (401) whose reason names what was wrong.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/auth/jose_object.hpp"
#include "svckit/auth/key.hpp"
#include "svckit/error.hpp"

namespace svckit::auth {

class TokenError : public Unauthorized {
 public:
  explicit TokenError(std::string reason);
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

struct VerifyOptions {
  std::optional<std::string> issuer;   // "iss" must equal it when set
  std::vector<std::string> audiences;  // "aud" must name one of them; when empty, "aud" is refused
  // The "type" claim ("access", "refresh"): required and equal when set, so a refresh token is
  // never taken where an access token is expected.
  std::optional<std::string> token_type;
  std::vector<std::string> required_claims;  // present, whatever their value
  bool require_exp = true;
  std::chrono::seconds leeway{30};     // clock skew allowed on exp, nbf, iat; at most 5 minutes
  std::size_t max_token_bytes = 8192;  // checked before any decoding
  std::function<std::chrono::system_clock::time_point()> clock;  // tests inject one
  // Told when a token names a kid that no key has: a JWKS fetcher refreshes early, since the
  // issuer may have rotated. Must be cheap and thread-safe.
  std::function<void()> on_unknown_kid;
};

// A verified token.
struct Token {
  JoseObject header;
  JoseObject claims;
  std::string subject() const;  // "sub", empty when absent
};

// Thread-safe. Its keys can be replaced while it verifies (a JWKS refresh): each verification
// uses the set it started with.
class Verifier {
 public:
  Verifier(KeySet keys, VerifyOptions options);

  // Throws TokenError. Never anything else for any input.
  Token verify(std::string_view token) const;

  std::shared_ptr<const KeySet> keys() const { return keys_.load(std::memory_order_acquire); }
  void replace_keys(KeySet keys);
  const VerifyOptions& options() const { return options_; }
  // Only before the verifier is shared (wiring a JWKS fetcher to it).
  void set_on_unknown_kid(std::function<void()> listener) {
    options_.on_unknown_kid = std::move(listener);
  }

 private:
  std::atomic<std::shared_ptr<const KeySet>> keys_;
  VerifyOptions options_;
};

// A compact JWS of `claims` signed with `key`: header {"alg", "typ": "JWT", "kid" if the key
// has one}. Throws KeyError when the key cannot sign.
std::string sign(const nlohmann::json& claims, const Key& key);

// base64url without padding (RFC 7515 §2), the encoding of every JWS part.
std::string base64url_encode(std::string_view bytes);
// Strict: the URL-safe alphabet only, no padding, no whitespace, unused bits zero. nullopt
// otherwise.
std::optional<std::string> base64url_decode(std::string_view text);
// Into `out` (its size is the most it takes); the bytes written, or nullopt when the text is not
// canonical base64url or decodes to more than out.size() bytes.
std::optional<std::size_t> base64url_decode_into(std::string_view text, std::span<char> out);

}  // namespace svckit::auth
