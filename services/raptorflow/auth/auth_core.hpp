#pragma once
// The Authentication service's state, shared by its APIs (accounts and sessions, MFA, the OIDC
// provider, social login): its stores, the password hasher and throttles, and the tokens it
// issues. One per service; each API file installs its routes on it.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <identity/account_throttle.hpp>
#include <identity/password_hasher.hpp>
#include <nlohmann/json.hpp>
#include <sealing/secret_box.hpp>
#include <svckit/app/app.hpp>
#include <svckit/auth/jwt.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/auth/roles.hpp>
#include <svckit/http/percent_encode.hpp>
#include <svckit/http/request.hpp>

#include "auth_store.hpp"
#include "security_store.hpp"
#include "session_store.hpp"

namespace raptorflow::auth {

using aether::security::User;

std::int64_t unix_now();
// base64url(SHA-256(text)): PKCE's S256, an ID token's at_hash (its first half).
std::string sha256_base64url(std::string_view text);

// What a login proved, carried into the session and the tokens made from it.
struct Proof {
  std::int64_t auth_time = 0;
  std::vector<std::string> amr;  // "pwd", "otp", "ext" (social login)
};

// An OIDC client registered in AUTH_OIDC_CLIENTS.
struct OidcClient {
  std::string id;
  std::string name;
  std::optional<std::string> secret_hash;  // SHA-256 of the secret; none: a public client
  std::vector<std::string> redirect_uris;
  std::vector<std::string> scopes;  // what it may ask for
};

// A session to open: what the login proved, what to call it, and for whom.
struct NewSession {
  Proof proof;
  std::string device;
  std::optional<std::string> client_id;  // an OIDC client's session
  std::string scope;                     // what the client was granted
  std::string cookie_hash;               // a browser's sign-in cookie, hashed (the provider's)
};

// Tokens issued for a session: an access token (and its id and expiry, for the session's
// record) and a refresh token.
struct IssuedTokens {
  std::string access_token;
  std::string access_id;
  std::int64_t access_expires = 0;
  std::string refresh_token;
  std::string refresh_id;
};

struct AuthCore {
  std::unique_ptr<aether::security::SecurityStore> users;  // users, audit log (shared code)
  std::unique_ptr<AuthStore> store;
  std::unique_ptr<SessionStore> sessions;
  std::unique_ptr<identity::PasswordHasher> hasher;
  std::optional<identity::AccountThrottle> login_throttle;  // failed passwords per account
  std::optional<identity::AccountThrottle> mfa_throttle;    // failed second factors per account
  std::optional<sealing::SecretBox> box;                    // seals TOTP secrets at rest
  svckit::kv::Store* kv = nullptr;

  std::optional<svckit::auth::Key> signing_key;   // access, refresh and MFA tokens
  std::optional<svckit::auth::Key> id_token_key;  // ID tokens (asymmetric: clients verify them)
  std::shared_ptr<const svckit::auth::Verifier> access_verifier, refresh_verifier, mfa_verifier;
  svckit::auth::RolePermissions roles = svckit::auth::RolePermissions::defaults();
  svckit::auth::BearerOptions bearer_options;
  // Per client address on every route; tighter on passwords and codes (shared by replicas).
  svckit::http::Middleware per_client, login_limit;
  std::string token_issuer;  // "iss" of access tokens (JWT_ISSUER)
  std::optional<std::string> audience;
  std::string oidc_issuer;  // the provider's URL; empty: taken from each request's Host
  std::string mfa_issuer;   // the name authenticator apps show
  std::int64_t access_ttl = 900;
  std::int64_t refresh_ttl = 30 * 24 * 3600;
  std::int64_t step_up_max_age = 300;
  std::vector<OidcClient> clients;
  // The key of the provider's CSRF tokens: every replica must accept another's forms, so it is
  // derived from the key-encryption keys they share.
  std::string csrf_key;

  prometheus::Family<prometheus::Counter>* logins = nullptr;

  // Issues an access and a refresh token in `session`.
  IssuedTokens issue(const User& user, const Session& session) const;
  // The access token alone (step-up).
  IssuedTokens access_only(const User& user, const Session& session) const;
  // A five-minute token that lets /login/mfa finish a login whose password was right.
  // `first` says what the first factor was ("pwd", or "fed" for social login).
  std::string mfa_token(const User& user, const std::string& device,
                        const std::vector<std::string>& first) const;

  // A new session for `user`, its tokens issued and recorded.
  struct Opened {
    IssuedTokens tokens;
    Session session;
  };
  svckit::Task<Opened> open_session(const svckit::http::Request& req, const User& user,
                                    NewSession what);
  // The JSON a successful login answers.
  nlohmann::json token_json(const IssuedTokens& tokens, const std::string& session_id) const;

  // A user who exists and is not disabled; throws Unauthorized otherwise (same words for both).
  svckit::Task<User> active_user(std::string id);
  // Checks a second factor: a TOTP code (each step once) or a recovery code (each once).
  svckit::Task<bool> second_factor(const Account& account, std::optional<std::string> code,
                                   std::optional<std::string> recovery_code);
  std::string open_totp_secret(const Account& account, const std::string& sealed) const;

  // An audit entry for `req` (svckit's Security Service's log, shared).
  svckit::Task<void> audit(const svckit::http::Request& req, std::string action,
                           std::string outcome, std::optional<std::string> actor,
                           std::optional<std::string> subject,
                           nlohmann::json detail = nlohmann::json::object());

  // The request's session (from its access token's "sid"), or Unauthorized when it has ended.
  svckit::Task<Session> current_session(const svckit::http::Request& req);
  // Throws 401 with WWW-Authenticate: error="insufficient_user_authentication" (RFC 9470)
  // unless the token proves a recent login — with the second factor when the user has one.
  svckit::Task<void> require_recent(const svckit::http::Request& req);

  std::string issuer_for(const svckit::http::Request& req) const;
  // After bearer() on the account, MFA and admin APIs: a user's own tokens only, never an OIDC
  // client's (those carry a client_id and serve userinfo and the other services' APIs).
  static svckit::http::Middleware first_party();
  svckit::Unauthorized step_up_needed(bool has_totp) const;
  const OidcClient* client(std::string_view id) const;
};

void install_account_api(AuthCore& core, svckit::App& app);
void install_mfa_api(AuthCore& core, svckit::App& app);
void install_oidc_provider(AuthCore& core, svckit::App& app);
void install_social_login(AuthCore& core, svckit::App& app);

}  // namespace raptorflow::auth
