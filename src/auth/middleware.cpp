#include "svckit/auth/middleware.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "svckit/config.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"

namespace svckit::auth {
namespace {

constexpr std::size_t kMaxApiKey = 256;

Error unauthorized(const std::string& detail, bool with_error = true) {
  Unauthorized e(detail);
  e.with_header("WWW-Authenticate",
                with_error ? "Bearer error=\"invalid_token\"" : std::string("Bearer"));
  return e;
}

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) !=
        std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

std::vector<std::string> string_list(const nlohmann::json& claims, const char* name) {
  std::vector<std::string> out;
  auto it = claims.find(name);
  if (it == claims.end()) return out;
  if (!it->is_array()) throw unauthorized(std::string("\"") + name + "\" is not a list");
  for (const auto& v : *it) {
    if (!v.is_string()) throw unauthorized(std::string("\"") + name + "\" holds a non-string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Principal principal_of(const Token& token, const RolePermissions& roles) {
  Principal p;
  p.method = "jwt";
  p.id = token.subject();
  if (p.id.empty()) throw unauthorized("the token has no subject");
  if (auto email = token.claims.find("email"); email != token.claims.end() && email->is_string())
    p.email = email->get<std::string>();
  p.roles = string_list(token.claims, "roles");
  p.permissions = roles.permissions_of(p.roles);
  for (auto& carried : string_list(token.claims, "permissions"))
    if (std::find(p.permissions.begin(), p.permissions.end(), carried) == p.permissions.end())
      p.permissions.push_back(std::move(carried));
  return p;
}

}  // namespace

const Principal* principal(const http::Request& request) {
  return request.attached<Principal>();
}

http::Middleware bearer(BearerOptions options) {
  auto shared = std::make_shared<const BearerOptions>(std::move(options));
  return [shared](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    const BearerOptions& o = *shared;
    std::optional<Principal> who;
    if (auto authorization = req.header("Authorization")) {
      if (!iequals_prefix(*authorization, "Bearer "))
        throw unauthorized("the Authorization header must use the Bearer scheme");
      if (!o.verifier) throw unauthorized("bearer tokens are not accepted here");
      auto token = authorization->substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      who = principal_of(o.verifier->verify(token), o.roles);  // TokenError is a 401 already
    } else if (auto key = o.api_keys ? req.header(o.api_key_header) : std::nullopt) {
      if (key->empty() || key->size() > kMaxApiKey) throw unauthorized("invalid API key");
      who = co_await o.api_keys(std::string(*key));
      if (!who) throw unauthorized("invalid API key");
    } else if (!o.allow_anonymous) {
      throw unauthorized("authentication required", /*with_error=*/false);
    }
    if (who) {
      req.set_user_id(who->id);
      req.attach(std::move(*who));
    }
    co_return co_await next(req);
  };
}

http::Middleware require(std::string permission) {
  return [permission = std::move(permission)](http::Request& req,
                                              const http::Handler& next) -> Task<http::Response> {
    const Principal* who = principal(req);
    if (!who) throw unauthorized("authentication required", /*with_error=*/false);
    if (!who->has(permission)) {
      Forbidden e("the permission '" + permission + "' is required");
      e.with_header("WWW-Authenticate",
                    "Bearer error=\"insufficient_scope\", scope=\"" + permission + "\"");
      throw e;
    }
    co_return co_await next(req);
  };
}

std::shared_ptr<const Verifier> verifier_from_settings(
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
      std::ifstream in(file);
      if (!in) throw ConfigError("JWT_PUBLIC_KEY_FILE", "cannot read " + file);
      std::stringstream pem;
      pem << in.rdbuf();
      keys.add(Key::from_pem(*alg, pem.str()));
    }
    if (auto file = get("JWKS_FILE"); !file.empty()) {
      source = "JWKS_FILE";
      for (const auto& k : KeySet::from_jwks_file(file).keys()) keys.add(k);
    }
    if (!get("JWKS_URL").empty())
      throw ConfigError("JWKS_URL",
                        "fetching key sets needs the HTTP client, not in this build yet; "
                        "use JWKS_FILE");
  } catch (const KeyError& e) {
    throw ConfigError(source, e.what());
  }
  if (keys.empty()) return nullptr;
  VerifyOptions options;
  if (auto issuer = get("JWT_ISSUER"); !issuer.empty()) options.issuer = issuer;
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
  return std::make_shared<const Verifier>(std::move(keys), std::move(options));
}

}  // namespace svckit::auth
