#pragma once
// Authentication and authorisation middleware.
//
//   auto api = app.http().group("/api/v1/tasks", {auth::bearer(options)});
//   api.get("/", auth::require("tasks:read", list_tasks));      // or group-wide:
//   app.http().group("/admin", {auth::bearer(options), auth::require("admin:*")});
//
// bearer() takes `Authorization: Bearer <jwt>`, an API key header or, on a TLS connection with
// client authentication, the verified client certificate (mTLS), puts the Principal on the
// request and its id in the request's log lines (user_id). Credentials in the request win over
// the certificate: a service may act for the user whose token it forwards. Failures are 401
// problem+json with `WWW-Authenticate: Bearer error="invalid_token"`; require() answers 403 with
// `error="insufficient_scope"`.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "svckit/auth/authenticator.hpp"
#include "svckit/auth/jwt.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/auth/roles.hpp"
#include "svckit/http/handler.hpp"

namespace svckit::auth {

http::Middleware bearer(BearerOptions options);
http::Middleware require(std::string permission);

// Settings every service shares (DESIGN.md): JWT_SECRET_KEY (HS256), JWT_PUBLIC_KEY_FILE with
// JWT_ALGORITHM (default RS256), JWKS_FILE; JWT_ISSUER and JWT_AUDIENCE; AUTH_ROLES. `get` reads
// one setting (App's config().get). nullptr when no key is configured. Throws ConfigError naming
// the setting. With JWKS_URL set the verifier may start without keys: something must fetch
// them (svckit::bearer_options_from_settings(App&) wires a JwksFetcher).
std::shared_ptr<Verifier> verifier_from_settings(
    const std::function<std::string(std::string_view)>& get);
// AUTH_ROLES, or the defaults when it is unset. Throws ConfigError naming AUTH_ROLES.
RolePermissions roles_from_settings(const std::function<std::string(std::string_view)>& get);
// AUTH_CERT_ROLES (none when unset). Throws ConfigError naming AUTH_CERT_ROLES.
CertificateRoles certificate_roles_from_settings(
    const std::function<std::string(std::string_view)>& get);

}  // namespace svckit::auth
