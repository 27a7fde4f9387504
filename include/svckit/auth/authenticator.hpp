#pragma once
// Who a caller's credentials say it is: the one piece behind bearer() for HTTP and the gRPC
// server's authentication, so both accept exactly the same tokens, keys and certificates.
//   - a bearer token ("Bearer <jwt>"), checked by the verifier and remembered until it expires;
//   - an API key, looked up (it may wait on a database);
//   - a client certificate the TLS handshake verified (mTLS), with AUTH_CERT_ROLES' roles.
// Failures throw Unauthorized (401) with `WWW-Authenticate: Bearer error="invalid_token"`.
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "svckit/auth/jwt.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/auth/roles.hpp"
#include "svckit/task.hpp"

namespace svckit::http {
struct ClientCertificate;
}

namespace svckit::auth {

class Revocations;

// Resolves an API key to its principal, nullopt when the key is unknown, revoked or expired.
using ApiKeyLookup = std::function<Task<std::optional<Principal>>(std::string key)>;

struct BearerOptions {
  std::shared_ptr<const Verifier> verifier;  // access tokens; leave unset to take API keys only
  RolePermissions roles = RolePermissions::defaults();
  ApiKeyLookup api_keys;                     // unset: API keys are not accepted
  std::string api_key_header = "X-API-Key";  // gRPC: the same name, lower case, as metadata
  // Roles of client-certificate identities. A verified certificate always authenticates (the
  // client CA vouched for it); these decide what it may do.
  CertificateRoles certificate_roles;
  bool allow_anonymous = false;  // let requests without credentials through (no principal)
  // Verified tokens remembered until they expire (at most 5 minutes): a client sends the same
  // token with every request, and a cache hit costs a lookup instead of a signature check.
  // Revocations are checked on every use, cached or not, so this changes no answer. 0 turns it
  // off.
  std::size_t verified_token_cache = 10'000;
  // Token ids revoked before their expiry (svckit/auth/revocations.hpp), looked up in memory:
  // a token whose "jti" is among them is refused (401 "the token is revoked").
  const Revocations* revocations = nullptr;
};

class Authenticator {
 public:
  explicit Authenticator(BearerOptions options);
  ~Authenticator();

  const BearerOptions& options() const { return *options_; }
  bool accepts_api_keys() const { return static_cast<bool>(options_->api_keys); }

  // What an Authorization value ("Bearer <jwt>") proves.
  SharedPrincipal from_authorization(std::string_view authorization) const;
  // What an API key proves (throws also when API keys are not accepted here).
  Task<SharedPrincipal> from_api_key(std::string key) const;
  SharedPrincipal from_certificate(const http::ClientCertificate& certificate) const;
  // The 401 for a call that brought no credentials (when anonymous calls are not allowed).
  [[noreturn]] void no_credentials() const;

 private:
  class VerifiedTokens;
  SharedPrincipal from_bearer(std::string_view authorization) const;
  SharedPrincipal verify(std::string_view token) const;
  std::shared_ptr<const BearerOptions> options_;
  std::shared_ptr<VerifiedTokens> cache_;
};

// Who a verified token says the caller is: "sub" (required), "email", "roles" and the
// permissions they grant with `roles`, plus any "permissions" the token carries. Throws
// Unauthorized when "sub" is missing or "roles"/"permissions" is not a list of strings.
Principal principal_of(const Token& token, const RolePermissions& roles);

// Throws Unauthorized without a principal, Forbidden (403, `WWW-Authenticate: Bearer
// error="insufficient_scope"`) when it lacks `permission`.
void check_permission(const Principal* who, std::string_view permission);

}  // namespace svckit::auth
