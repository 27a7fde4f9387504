#pragma once
// bearer() options from the settings every service shares, wired into the App:
//   JWT_SECRET_KEY, JWT_PUBLIC_KEY_FILE (+ JWT_ALGORITHM), JWKS_FILE   keys read at start
//   JWKS_URL (+ JWKS_CA_FILE, JWKS_REFRESH_SECONDS)                     keys fetched and kept
//                                                                      fresh in the background
//   JWT_ISSUER, JWT_AUDIENCE, AUTH_ROLES, AUTH_CERT_ROLES
// With JWKS_URL the readiness check "jwks" is DOWN until the first key set has arrived, so no
// traffic is routed to a service that would refuse every token.
#include "svckit/app/app.hpp"
#include "svckit/auth/middleware.hpp"
#include "svckit/auth/revocations.hpp"

namespace svckit {

// The App's revoked access tokens (svckit/auth/revocations.hpp) in app.kv(): made on first use,
// kept fresh in the background. bearer_options_from_settings() checks them.
auth::Revocations& revocations(App& app);

// `verifier` is null when no key source is set. Throws ConfigError naming the bad setting.
auth::BearerOptions bearer_options_from_settings(App& app);
// The same for a service that cannot work without tokens: no key source at all is a ConfigError
// naming JWT_SECRET_KEY and `service`.
auth::BearerOptions required_bearer_options_from_settings(App& app, std::string_view service);

}  // namespace svckit
