#include "svckit/auth/middleware.hpp"

#include <algorithm>
#include <array>
#include <mutex>
#include <unordered_map>

#include "../http/ascii.hpp"
#include "svckit/config.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"

namespace svckit::auth {
namespace {

constexpr std::size_t kMaxApiKey = 256;
constexpr std::size_t kMaxCachedToken = 2048;

Error unauthorized(const std::string& detail, bool with_error = true) {
  Unauthorized e(detail);
  e.with_header("WWW-Authenticate",
                with_error ? "Bearer error=\"invalid_token\"" : std::string("Bearer"));
  return e;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         http::detail::iequals(text.substr(0, prefix.size()), prefix);
}

std::vector<std::string> string_list(const JoseObject& claims, const char* name) {
  const auto* member = claims.find(name);
  if (!member) return {};
  if (member->kind != JoseObject::Kind::array)
    throw unauthorized(std::string("\"") + name + "\" is not a list");
  auto strings = claims.strings(name);
  if (!strings) throw unauthorized(std::string("\"") + name + "\" holds a non-string");
  return std::move(*strings);
}

Principal principal_of(const Token& token, const RolePermissions& roles) {
  Principal p;
  p.method = "jwt";
  p.id = token.subject();
  if (p.id.empty()) throw unauthorized("the token has no subject");
  if (auto email = token.claims.string("email")) p.email = *email;
  p.roles = string_list(token.claims, "roles");
  p.permissions = roles.permissions_of(p.roles);
  for (auto& carried : string_list(token.claims, "permissions"))
    if (std::find(p.permissions.begin(), p.permissions.end(), carried) == p.permissions.end())
      p.permissions.push_back(std::move(carried));
  return p;
}

Principal principal_of(const http::ClientCertificate& certificate, const BearerOptions& o) {
  Principal p;
  p.method = "mtls";
  p.id = certificate.identity();
  p.roles = o.certificate_roles.roles_of(p.id);
  p.permissions = o.roles.permissions_of(p.roles);
  if (!certificate.emails.empty()) p.email = certificate.emails.front();
  return p;
}

// Tokens already verified by this middleware, with the principal they gave, until they expire.
class VerifiedTokens {
 public:
  explicit VerifiedTokens(std::size_t capacity)
      : per_shard_(std::max<std::size_t>(1, capacity / kShards)) {}

  std::optional<Principal> find(std::string_view token) {
    Shard& shard = shard_of(token);
    std::lock_guard lock(shard.mutex);
    auto it = shard.entries.find(token);
    if (it == shard.entries.end()) return std::nullopt;
    if (std::chrono::system_clock::now() >= it->second.until) {
      shard.entries.erase(it);
      return std::nullopt;
    }
    return it->second.principal;
  }

  void add(std::string_view token, const Principal& who, const JoseObject& claims) {
    auto until = std::chrono::system_clock::now() + std::chrono::minutes(5);
    if (auto exp = claims.number("exp")) {
      auto expires = std::chrono::system_clock::time_point(
          std::chrono::seconds(static_cast<std::int64_t>(*exp)));
      until = std::min(until, expires);
    }
    Shard& shard = shard_of(token);
    std::lock_guard lock(shard.mutex);
    if (shard.entries.size() >= per_shard_) shard.entries.erase(shard.entries.begin());
    shard.entries.insert_or_assign(std::string(token), Entry{who, until});
  }

 private:
  static constexpr std::size_t kShards = 16;
  struct Entry {
    Principal principal;
    std::chrono::system_clock::time_point until;
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Entry, Hash, std::equal_to<>> entries;
  };
  Shard& shard_of(std::string_view token) { return shards_[Hash{}(token) % kShards]; }

  std::size_t per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace

const Principal* principal(const http::Request& request) {
  return request.attached<Principal>();
}

http::Middleware bearer(BearerOptions options) {
  auto cache = options.verified_token_cache
                   ? std::make_shared<VerifiedTokens>(options.verified_token_cache)
                   : nullptr;
  auto shared = std::make_shared<const BearerOptions>(std::move(options));
  return [shared, cache](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    const BearerOptions& o = *shared;
    std::optional<Principal> who;
    if (auto authorization = req.header("Authorization")) {
      if (!starts_with_ignoring_case(*authorization, "Bearer "))
        throw unauthorized("the Authorization header must use the Bearer scheme");
      if (!o.verifier) throw unauthorized("bearer tokens are not accepted here");
      auto token = authorization->substr(7);
      while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
      if (cache) who = cache->find(token);
      if (!who) {
        auto verified = o.verifier->verify(token);  // TokenError is a 401 already
        who = principal_of(verified, o.roles);
        // Typical tokens only: 10,000 entries then stay within a few MiB.
        if (cache && token.size() <= kMaxCachedToken) cache->add(token, *who, verified.claims);
      }
    } else if (auto key = o.api_keys ? req.header(o.api_key_header) : std::nullopt) {
      if (key->empty() || key->size() > kMaxApiKey) throw unauthorized("invalid API key");
      who = co_await o.api_keys(std::string(*key));
      if (!who) throw unauthorized("invalid API key");
    } else if (const auto* certificate = req.client_certificate()) {
      who = principal_of(*certificate, o);
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
