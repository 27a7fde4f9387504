#include "svckit/auth/middleware.hpp"

#include "svckit/config.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/http/websocket.hpp"

namespace svckit::auth {

const Principal* principal(const Context& context) {
  const auto* who = context.attached<SharedPrincipal>();
  return who ? who->get() : nullptr;
}

const Principal* principal(const http::Request& request) {
  return principal(request.context());
}

namespace {

void identify(http::Request& req, SharedPrincipal who) {
  if (!who) return;
  req.context().set_user_id(who->id);
  req.context().attach(std::move(who));
}

Task<http::Response> with_api_key(std::shared_ptr<const Authenticator> authenticator,
                                  std::string key, http::Request& req, const http::Handler& next) {
  identify(req, co_await authenticator->from_api_key(std::move(key)));
  co_return co_await next(req);
}

}  // namespace

// These two are not coroutines: a token, a certificate or a permission is checked without
// waiting, and the route's own task is handed back (one frame fewer per request). A refusal is
// thrown before that task exists, which the caller's co_await sees the same way. Only an API
// key's lookup waits, in a coroutine of its own.
http::Middleware bearer(BearerOptions options) {
  auto authenticator = std::make_shared<const Authenticator>(std::move(options));
  auto describe = [anonymous = authenticator->options().allow_anonymous](http::RouteDoc& doc) {
    doc.authenticated = !anonymous;
    doc.errors.insert(401);
  };
  auto check = [authenticator](http::Request& req,
                               const http::Handler& next) -> Task<http::Response> {
    const Authenticator& a = *authenticator;
    const BearerOptions& o = a.options();
    if (auto authorization = req.header("Authorization")) {
      identify(req, a.from_authorization(*authorization));
    } else if (auto key = a.accepts_api_keys() ? req.header(o.api_key_header) : std::nullopt) {
      return with_api_key(authenticator, std::string(*key), req, next);
    } else if (auto token = http::websocket_bearer_token(req)) {
      // A browser's WebSocket cannot send headers: its token comes as a subprotocol offer.
      identify(req, a.from_authorization("Bearer " + std::string(*token)));
    } else if (const auto* certificate = req.client_certificate()) {
      identify(req, a.from_certificate(*certificate));
    } else if (!o.allow_anonymous) {
      a.no_credentials();
    }
    return next(req);
  };
  return http::Middleware(std::move(check), std::move(describe));
}

http::Middleware require(std::string permission) {
  auto describe = [permission](http::RouteDoc& doc) {
    doc.permissions.push_back(permission);
    doc.errors.insert(403);
  };
  auto check = [permission = std::move(permission)](
                   http::Request& req, const http::Handler& next) -> Task<http::Response> {
    check_permission(principal(req), permission);
    return next(req);
  };
  return http::Middleware(std::move(check), std::move(describe));
}

std::shared_ptr<Verifier> verifier_from_settings(
    const std::function<std::string(std::string_view)>& get) {
  KeySet keys;
  std::string source;
  try {
    if (auto secret = get("JWT_SECRET_KEY"); !secret.empty()) {
      source = "JWT_SECRET_KEY";
      keys.add(Key::hmac(Algorithm::HS256, secret));
    }
    if (auto file = get("JWT_PUBLIC_KEY_FILE"); !file.empty()) {
      source = "JWT_PUBLIC_KEY_FILE";
      auto alg_name = get("JWT_ALGORITHM");
      auto alg = parse_algorithm(alg_name.empty() ? "RS256" : alg_name);
      if (!alg) throw ConfigError("JWT_ALGORITHM", "not a JWS algorithm: '" + alg_name + "'");
      keys.add(Key::from_pem_file(*alg, file));
    }
    if (auto file = get("JWKS_FILE"); !file.empty()) {
      source = "JWKS_FILE";
      auto from_file = KeySet::from_jwks_file(file);       // named: a range-for over a temporary's
      for (const auto& k : from_file.keys()) keys.add(k);  // member would dangle
    }
  } catch (const KeyError& e) {
    throw ConfigError(source, e.what());
  }
  // With JWKS_URL the keys arrive later (a JwksFetcher fills them in).
  if (keys.empty() && get("JWKS_URL").empty()) return nullptr;
  VerifyOptions options;
  if (auto issuer = get("JWT_ISSUER"); !issuer.empty()) options.issuer = issuer;
  // Keys fetched from an issuer verify that issuer's tokens only: its name must be known.
  if (!options.issuer && !get("JWKS_URL").empty())
    throw ConfigError("JWT_ISSUER",
                      "JWKS_URL is set: name the issuer (the tokens' \"iss\") whose keys it "
                      "serves");
  std::string audiences = get("JWT_AUDIENCE");
  for (std::size_t start = 0; start < audiences.size();) {
    auto comma = audiences.find(',', start);
    auto one =
        audiences.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!one.empty()) options.audiences.push_back(one);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  options.token_type = "access";
  return std::make_shared<Verifier>(std::move(keys), std::move(options));
}

RolePermissions roles_from_settings(const std::function<std::string(std::string_view)>& get) {
  auto text = get("AUTH_ROLES");
  if (text.empty()) return RolePermissions::defaults();
  try {
    return RolePermissions::parse(text);
  } catch (const std::invalid_argument& e) {
    throw ConfigError("AUTH_ROLES", e.what());
  }
}

CertificateRoles certificate_roles_from_settings(
    const std::function<std::string(std::string_view)>& get) {
  try {
    return CertificateRoles::parse(get("AUTH_CERT_ROLES"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("AUTH_CERT_ROLES", e.what());
  }
}

}  // namespace svckit::auth
