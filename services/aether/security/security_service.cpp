#include "security_service.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstdio>
#include <map>
#include <set>
#include <thread>

#include <boost/describe/class.hpp>
#include <svckit/app/app.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/api_key.hpp>
#include <svckit/auth/middleware.hpp>
#include <svckit/auth/password.hpp>
#include <svckit/auth/rate_limit.hpp>
#include <svckit/blocking_pool.hpp>
#include <svckit/config.hpp>
#include <svckit/error.hpp>
#include <svckit/http/ascii.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/kv/store.hpp>

#include <identity/account_throttle.hpp>
#include <identity/accounts.hpp>
#include <identity/password_hasher.hpp>

#include "security_store.hpp"

namespace aether::security {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::auth::Principal;
using svckit::http::Request;
using svckit::http::Response;

constexpr std::size_t kMaxEmail = 320;
constexpr std::size_t kMaxName = 200;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What clients send, each described once: its checks, its JSON and its schema.
struct Credentials {
  std::string email;
  std::string password;
  static void rules(svckit::model::Rules<Credentials>& r) {
    r.field(&Credentials::email).length(3, kMaxEmail);
    r.field(&Credentials::password).length(1, 1024);
  }
};
BOOST_DESCRIBE_STRUCT(Credentials, (), (email, password))

struct TokenBody {
  std::string token;
};
BOOST_DESCRIBE_STRUCT(TokenBody, (), (token))

struct RefreshBody {
  std::string refresh_token;
};
BOOST_DESCRIBE_STRUCT(RefreshBody, (), (refresh_token))

struct NewUser {
  std::string email;
  std::optional<std::string> name;  // default: the email's local part
  std::optional<std::string> password;
  std::optional<std::string> password_hash;       // a bcrypt hash exported from the monolith
  std::optional<std::vector<std::string>> roles;  // default: user
  std::optional<std::map<std::string, std::string>> claims;
  static void rules(svckit::model::Rules<NewUser>& r) {
    r.field(&NewUser::email).length(3, kMaxEmail).format("email");
    r.field(&NewUser::name).length(1, kMaxName);
    r.field(&NewUser::password).describe("8 to 72 bytes");
    r.field(&NewUser::claims)
        .describe(
            "claims of the deployment's own that access tokens carry, such as {\"unit\": "
            "\"1204\"}: at "
            "most 16, names of a lower-case letter then up to 31 of [a-z0-9_], values of at most "
            "256 "
            "bytes, no registered or svckit claim name (sub, exp, roles, ...)");
  }
};
BOOST_DESCRIBE_STRUCT(NewUser, (), (email, name, password, password_hash, roles, claims))

struct NewApiKey {
  std::optional<std::string> name;              // absent or null: "default"
  std::optional<std::int64_t> expires_in_days;  // absent: until revoked
  static void rules(svckit::model::Rules<NewApiKey>& r) {
    r.field(&NewApiKey::name).length(1, kMaxName);
    r.field(&NewApiKey::expires_in_days).range(1, 3650);
  }
};
BOOST_DESCRIBE_STRUCT(NewApiKey, (), (name, expires_in_days))

// What an owner sees of a key: never its hash, and the key itself only when it is made.
struct ApiKeyView {
  std::string id;
  std::string prefix;
  std::string name;
  std::string user_id;
  std::string created_at;
  std::optional<std::string> expires_at;
  std::string status;  // "active", "expiring" (rotated, in its overlap), "expired", "revoked"
  std::optional<std::string> replaced_by;
};
BOOST_DESCRIBE_STRUCT(ApiKeyView, (),
                      (id, prefix, name, user_id, created_at, expires_at, status, replaced_by))

struct ApiKeyList {
  std::vector<ApiKeyView> keys;
};
BOOST_DESCRIBE_STRUCT(ApiKeyList, (), (keys))

struct AuditPage {
  std::vector<AuditEntry> entries;
  std::int64_t limit = 0;
  std::int64_t offset = 0;
};
BOOST_DESCRIBE_STRUCT(AuditPage, (), (entries, limit, offset))

ApiKeyView key_view(const ApiKeyRecord& k, std::int64_t now) {
  std::string status = k.revoked                              ? "revoked"
                       : k.expires_at && *k.expires_at <= now ? "expired"
                       : k.replaced_by                        ? "expiring"
                                                              : "active";
  std::optional<std::string> expires;
  if (k.expires_at) expires = svckit::utc_iso8601(*k.expires_at);
  return {k.id, k.prefix, k.name, k.user_id, k.created_at, expires, status, k.replaced_by};
}

// An audit entry's id, which sorts as the entries were written: microseconds since the epoch,
// then a count that orders entries of one microsecond in this process, then a random tail so
// that replicas never collide.
std::string audit_id() {
  static std::atomic<std::uint64_t> count{0};
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  char head[48];
  std::snprintf(head, sizeof head, "%016lld-%06llu-", static_cast<long long>(micros),
                static_cast<unsigned long long>(count.fetch_add(1) % 1'000'000));
  return head + svckit::uuid_v4().substr(0, 8);
}

// Keys are made and rotated with a person's token: a key that could mint keys would outlive
// its own revocation through its children.
void require_user_token(const Principal& who) {
  if (who.method != "jwt")
    throw svckit::Forbidden(
        "API keys are made and rotated with a user's access token (log in), "
        "not with an API key or a certificate");
}

// What clients get of a user: everything but the password hash.
struct UserView {
  std::string id;
  std::string email;
  std::string name;
  std::vector<std::string> roles;
  std::string created_at;
  std::map<std::string, std::string> claims;
};
BOOST_DESCRIBE_STRUCT(UserView, (), (id, email, name, roles, created_at, claims))

json user_json(const User& u) {
  return svckit::model::to_json(UserView{u.id, u.email, u.name, u.roles, u.created_at,
                                         u.claims.get<std::map<std::string, std::string>>()});
}

// A user's own claims must not pass for the ones the service and svckit give tokens meaning.
json checked_claims(const std::optional<std::map<std::string, std::string>>& claims) {
  static const std::set<std::string, std::less<>> kReserved = {
      "sub",   "iss",         "aud",   "exp", "nbf", "iat",       "jti", "type", "fam",  "email",
      "roles", "permissions", "scope", "scp", "azp", "client_id", "cnf", "act",  "name", "sid"};
  json out = json::object();
  if (!claims) return out;
  if (claims->size() > 16) throw svckit::ValidationError("claims", "at most 16 claims");
  for (const auto& [name, value] : *claims) {
    bool well_formed = !name.empty() && name.size() <= 32 && name[0] >= 'a' && name[0] <= 'z' &&
                       std::all_of(name.begin(), name.end(), [](char c) {
                         return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
                       });
    if (!well_formed)
      throw svckit::ValidationError("claims", "the name '" + name.substr(0, 40) +
                                                  "' is not a lower-case letter then up to 31 "
                                                  "of [a-z0-9_]");
    if (kReserved.contains(name))
      throw svckit::ValidationError("claims", "'" + name + "' is a claim the service sets");
    if (value.size() > 256)
      throw svckit::ValidationError("claims", "the value of '" + name + "' is over 256 bytes");
    out[name] = value;
  }
  return out;
}

// Roles must be known ones: a typo would silently grant nothing.
std::vector<std::string> known_roles(const std::optional<std::vector<std::string>>& roles,
                                     const svckit::auth::RolePermissions& known) {
  if (!roles) return {"user"};
  for (const auto& r : *roles)
    if (!known.knows(r)) throw svckit::ValidationError("roles", "unknown role \"" + r + "\"");
  return *roles;
}

}  // namespace

struct SecurityService::Impl {
  std::unique_ptr<SecurityStore> store;
  std::optional<svckit::auth::Key> signing_key;
  std::shared_ptr<const svckit::auth::Verifier> access_verifier;
  std::shared_ptr<const svckit::auth::Verifier> refresh_verifier;
  svckit::auth::RolePermissions roles = svckit::auth::RolePermissions::defaults();
  std::string issuer;
  std::optional<std::string> audience;
  std::int64_t access_ttl = 3600;
  std::int64_t refresh_ttl = 30 * 24 * 3600;
  std::int64_t api_key_overlap = 24 * 3600;
  bool refresh_in_query = false;
  // Failed logins per account, in the shared store so every replica counts them.
  std::optional<identity::AccountThrottle> account_throttle;
  std::unique_ptr<identity::PasswordHasher> hasher;

  void load_keys(const svckit::Settings& config) {
    signing_key = identity::signing_key_from_settings(
        config, "the Security Service", "SECURITY_SIGNING_KEY_FILE", "SECURITY_KEY_ID");
    issuer = config.is_set("JWT_ISSUER") ? config.text("JWT_ISSUER") : "aether-security";
    if (auto aud = config.text("JWT_AUDIENCE"); !aud.empty())
      audience = aud.substr(0, aud.find(','));
    svckit::auth::VerifyOptions access;
    access.issuer = issuer;
    if (audience) access.audiences = {*audience};
    access.token_type = "access";
    auto refresh = access;
    refresh.token_type = "refresh";
    access_verifier =
        std::make_shared<svckit::auth::Verifier>(svckit::auth::KeySet{*signing_key}, access);
    refresh_verifier =
        std::make_shared<svckit::auth::Verifier>(svckit::auth::KeySet{*signing_key}, refresh);
  }

  json base_claims(const User& u, const char* type, std::int64_t ttl) const {
    auto now = unix_now();
    json claims = {{"sub", u.id},
                   {"iss", issuer},
                   {"iat", now},
                   {"exp", now + ttl},
                   {"jti", svckit::uuid_v4()},
                   {"type", type}};
    if (audience) claims["aud"] = *audience;
    return claims;
  }

  std::string access_token(const User& u) const {
    auto claims = base_claims(u, "access", access_ttl);
    claims["email"] = u.email;
    claims["roles"] = u.roles;
    claims["permissions"] = roles.permissions_of(u.roles);
    for (const auto& [name, value] : u.claims.items()) claims[name] = value;
    return svckit::auth::sign(claims, *signing_key);
  }

  // A refresh token in `family` (a login starts one; each refresh continues it).
  Task<std::string> refresh_token(const User& u, std::string family) {
    auto claims = base_claims(u, "refresh", refresh_ttl);
    claims["fam"] = family;
    co_await store->add_refresh_token(claims["jti"], std::move(family), u.id, claims["exp"]);
    co_return svckit::auth::sign(claims, *signing_key);
  }

  Task<std::optional<Principal>> principal_for_api_key(std::string key) {
    auto prefix = svckit::auth::api_key_prefix(key);
    if (!prefix) co_return std::nullopt;
    auto record = co_await store->api_key_by_prefix(*prefix);
    if (!record || record->revoked ||
        !svckit::auth::same_hash(record->hash, svckit::auth::api_key_hash(key)))
      co_return std::nullopt;
    if (record->expires_at && *record->expires_at <= unix_now()) co_return std::nullopt;
    auto user = co_await store->user_by_id(record->user_id);
    if (!user) co_return std::nullopt;
    co_return Principal{user->id, user->email, user->roles, roles.permissions_of(user->roles),
                        "api_key"};
  }

  // A new key's record, and the key itself (shown once).
  static std::pair<ApiKeyRecord, std::string> make_api_key(const std::string& user_id,
                                                           std::string name,
                                                           std::optional<std::int64_t> expires) {
    auto generated = svckit::auth::generate_api_key("sk");
    ApiKeyRecord record{svckit::uuid_v4(), generated.prefix,          generated.hash, user_id,
                        std::move(name),   svckit::utc_now_iso8601(), expires,        false,
                        std::nullopt};
    return {std::move(record), std::move(generated.key)};
  }
  static json made_key_json(const ApiKeyRecord& record, const std::string& key) {
    auto body = svckit::model::to_json(key_view(record, unix_now()));
    body["key"] = key;
    return body;
  }

  // The key `id`, when `who` owns it or may manage users; 404 otherwise (no probing for ids).
  Task<ApiKeyRecord> owned_key(const Principal& who, std::string id) {
    auto key = co_await store->api_key_by_id(id);
    if (!key || key->revoked || (key->user_id != who.id && !who.has("users:write")))
      throw svckit::NotFound("no API key '" + id + "'");
    co_return *key;
  }

  // An audit entry for `req` (not a coroutine: the entry is built here and moved into the
  // store's frame, so no temporary argument lives in a coroutine frame; GCC 12).
  Task<void> audit(const Request& req, std::string action, std::string outcome,
                   std::optional<std::string> actor, std::optional<std::string> subject,
                   json detail = json::object()) {
    AuditEntry entry{audit_id(),           svckit::utc_now_iso8601(),  std::move(action),
                     std::move(outcome),   std::move(actor),           std::move(subject),
                     req.remote_address(), req.context().request_id(), std::move(detail)};
    return store->add_audit(std::move(entry));
  }

  // The routes (install() binds them).
  Task<Response> login(Request& req);
  Task<Response> validate(Request& req);
  Task<Response> refresh(Request& req);
  Task<Response> logout(Request& req);
  Task<Response> me(Request& req);
  Task<Response> add_user(Request& req);
  Task<Response> user(Request& req);
  Task<Response> add_api_key(Request& req);
  Task<Response> api_keys(Request& req);
  Task<Response> audit_log(Request& req);
  Task<Response> revoke_api_key(Request& req);
  Task<Response> rotate_api_key(Request& req);
  Task<Response> jwks(Request& req);
  prometheus::Family<prometheus::Counter>* logins = nullptr;
  svckit::auth::Revocations* revocations = nullptr;  // access tokens logged out early
};

SecurityService::SecurityService() : impl_(std::make_unique<Impl>()) {}
SecurityService::~SecurityService() = default;

void SecurityService::declare(svckit::Settings& settings) {
  using svckit::SettingType;
  auto declare = [&settings](svckit::SettingSpec spec) {
    settings.declare("security", std::move(spec));
  };
  auto integer = [&declare](const char* name, std::int64_t fallback, std::int64_t min,
                            std::int64_t max, const char* help) {
    declare({.name = name,
             .type = SettingType::integer,
             .default_value = std::to_string(fallback),
             .min = min,
             .max = max,
             .help = help});
  };
  declare({.name = "SECURITY_SIGNING_KEY_FILE",
           .type = SettingType::file,
           .help = "PEM private key to sign tokens with (JWT_ALGORITHM), instead of "
                   "JWT_SECRET_KEY"});
  declare({.name = "SECURITY_KEY_ID",
           .default_value = "security-1",
           .help = "the kid of SECURITY_SIGNING_KEY_FILE's key"});
  integer("SECURITY_ACCESS_TTL", 3600, 60, 7 * 24 * 3600, "access token lifetime, seconds");
  integer("SECURITY_REFRESH_TTL", 30 * 24 * 3600, 300, 365 * 24 * 3600,
          "refresh token lifetime, seconds");
  integer("SECURITY_API_KEY_OVERLAP", 24 * 3600, 0, 30 * 24 * 3600,
          "how long a rotated API key keeps working, seconds");
  integer("SECURITY_BCRYPT_COST", 12, 4, 16, "bcrypt cost of new password hashes");
  integer("SECURITY_HASH_CONCURRENCY", std::clamp(std::thread::hardware_concurrency(), 1u, 64u), 1,
          64, "password hashes at once (default: hardware threads)");
  integer("SECURITY_RATE_LIMIT", 600, 1, 1'000'000, "requests per minute per client address");
  integer("SECURITY_LOGIN_LIMIT", 30, 1, 1'000'000, "logins per minute per client address");
  integer("SECURITY_ACCOUNT_FAILURES", 10, 1, 1'000'000,
          "failed logins of one account, from any address, before it is locked");
  integer("SECURITY_ACCOUNT_LOCK_SECONDS", 900, 1, 7 * 24 * 3600,
          "how long an account's failures count, from the first (and so the lock lasts)");
  declare({.name = "SECURITY_REFRESH_IN_QUERY",
           .type = SettingType::boolean,
           .default_value = "false",
           .help = "also take the refresh token from the query string, as the seed's monolith "
                   "did (proxies log query strings)"});
  // As the Task Manager's cache: right for a SQLite file of its own; replicas sharing a
  // database keep it off unless asked for.
  declare({.name = "SECURITY_USER_CACHE_ENTRIES",
           .type = SettingType::integer,
           .min = 0,
           .max = 10'000'000,
           .help = "users kept in memory for reads by id (default: 10000 on SQLite, 0 on a "
                   "shared database)"});
  declare({.name = "SECURITY_ADMIN_EMAIL", .help = "a first admin, created once"});
  declare({.name = "SECURITY_ADMIN_PASSWORD",
           .type = SettingType::secret,
           .help = "the first admin's password"});
}

void SecurityService::install(svckit::App& app) {
  Impl& s = *impl_;
  const auto& config = app.settings();
  s.load_keys(config);
  if (auto password = config.text("SECURITY_ADMIN_PASSWORD"); !password.empty()) {
    auto email = svckit::http::ascii_lowered(config.text("SECURITY_ADMIN_EMAIL"));
    if (auto why = identity::admin_password_weakness(password, email); !why.empty())
      throw svckit::ConfigError("SECURITY_ADMIN_PASSWORD",
                                "too weak for an admin: " + why +
                                    " (12 characters or more, not one kind of character only, "
                                    "not a well-known password)");
  }
  auto setting = [&config](std::string_view name) { return config.text(name); };
  s.roles = svckit::auth::roles_from_settings(setting);
  s.access_ttl = config.integer("SECURITY_ACCESS_TTL");
  s.refresh_ttl = config.integer("SECURITY_REFRESH_TTL");
  s.api_key_overlap = config.integer("SECURITY_API_KEY_OVERLAP");
  s.hasher = std::make_unique<identity::PasswordHasher>(
      static_cast<std::size_t>(config.integer("SECURITY_HASH_CONCURRENCY")),
      static_cast<int>(config.integer("SECURITY_BCRYPT_COST")));
  auto& db = app.database("security");
  std::int64_t user_cache = config.is_set("SECURITY_USER_CACHE_ENTRIES")
                                ? config.integer("SECURITY_USER_CACHE_ENTRIES")
                                : (db.backend() == "sqlite" ? 10000 : 0);
  s.store = std::make_unique<SecurityStore>(db, static_cast<std::size_t>(user_cache));
  s.store->migrate();

  svckit::auth::BearerOptions bearer_options;
  bearer_options.verifier = s.access_verifier;
  bearer_options.roles = s.roles;
  s.revocations = &svckit::revocations(app);
  bearer_options.revocations = s.revocations;
  bearer_options.certificate_roles = svckit::auth::certificate_roles_from_settings(setting);
  bearer_options.api_keys = [&s](std::string key) {
    return s.principal_for_api_key(std::move(key));
  };
  auto bearer = svckit::auth::bearer(bearer_options);
  // Per client address, before any token or password is checked: failed attempts count. With
  // REDIS_URL the limits hold across replicas; if Redis is away the general one lets requests
  // through and the login throttle falls back to each replica's own (never to none).
  auto per_client = svckit::auth::rate_limit(
      {.limit = static_cast<std::size_t>(config.integer("SECURITY_RATE_LIMIT")),
       .store = &app.kv(),
       .name = "security:client",
       .when_store_away = svckit::auth::StoreAway::allow,
       .meter = &app.metrics()});
  auto login_limit = svckit::auth::rate_limit(
      {.limit = static_cast<std::size_t>(config.integer("SECURITY_LOGIN_LIMIT")),
       .store = &app.kv(),
       .name = "security:login",
       .when_store_away = svckit::auth::StoreAway::limit_locally,
       .meter = &app.metrics()});
  s.account_throttle.emplace(app.kv(), "security:failures",
                             config.integer("SECURITY_ACCOUNT_FAILURES"),
                             std::chrono::seconds(config.integer("SECURITY_ACCOUNT_LOCK_SECONDS")));
  s.refresh_in_query = config.boolean("SECURITY_REFRESH_IN_QUERY");
  auto auth = app.http().group("/api/v1/auth", {per_client});
  s.logins = &app.metrics().counter("security_logins_total", "Login attempts, by outcome.");
  using svckit::http::bind;

  auth.post("/login", login_limit, bind(&s, &Impl::login))
      .summary("Log in: an access and a refresh token")
      .accepts<Credentials>();

  auth.post("/validate", bind(&s, &Impl::validate))
      .summary("Whether an access token is valid, and for whom")
      .accepts<TokenBody>();

  // The seed takes the refresh token as a query parameter, which proxies log: a JSON body
  // unless SECURITY_REFRESH_IN_QUERY allows the query too.
  auth.post("/refresh", bind(&s, &Impl::refresh))
      .summary("New tokens for a refresh token (in the body); each is used once")
      .accepts<RefreshBody>();

  auth.post("/logout", bind(&s, &Impl::logout))
      .summary("End the session of a refresh token")
      .accepts<RefreshBody>();

  auth.get("/me", bearer, bind(&s, &Impl::me)).summary("Who the token or API key is");

  auto admin = auth.group("/users", {bearer});
  admin.post("/", svckit::auth::require("users:write"), bind(&s, &Impl::add_user))
      .summary("Add a user (a password, or the monolith's bcrypt hash)")
      .accepts<NewUser>()
      .returns<UserView>(201)
      .errors({409});
  admin.get("/{id}", svckit::auth::require("users:read"), bind(&s, &Impl::user))
      .summary("A user")
      .returns<UserView>();

  auto keys = auth.group("/api-keys", {bearer});
  keys.post("/", bind(&s, &Impl::add_api_key))
      .summary("A new API key, shown once (needs a user's token, not a key)")
      .accepts<NewApiKey>()
      .errors({403});
  keys.get("/", bind(&s, &Impl::api_keys))
      .summary("The caller's API keys (never the keys themselves)")
      .query("user_id", "another user's keys (needs users:read)")
      .returns<ApiKeyList>();
  keys.del("/{id}", bind(&s, &Impl::revoke_api_key)).summary("Revoke an API key");
  // A new key; the old one keeps working for the overlap window so clients can switch.
  keys.post("/{id}/rotate", bind(&s, &Impl::rotate_api_key))
      .summary("A new key for an old one, which works for the overlap window")
      .errors({403, 404, 409});

  auto audit = auth.group("/audit", {bearer, svckit::auth::require("audit:read")});
  audit.get("/", bind(&s, &Impl::audit_log))
      .summary("The audit log, newest first")
      .query("action", "only this action (login, token.refresh, logout, api_key.create, ...)")
      .query("outcome", "only this outcome (success, failure, locked, reused)")
      .query("actor_id", "only what this user did")
      .query("subject", "only what was done to this user, key or account")
      .query("since", "from this time on (ISO 8601, UTC)")
      .query("until", "before this time (ISO 8601, UTC)")
      .query("limit", "entries per page, 1-500 (default 50)")
      .query("offset", "entries to skip (default 0)")
      .returns<AuditPage>()
      .errors({403, 422});

  app.http().group("/.well-known").get("/jwks.json", bind(&s, &Impl::jwks));
}

Task<Response> SecurityService::Impl::login(Request& req) {
  auto credentials = req.json<Credentials>();
  std::string email = std::move(credentials.email);
  std::string password = std::move(credentials.password);
  // Per account, from whatever address: an attacker spread over many addresses (or many clients
  // behind one) gets SECURITY_ACCOUNT_FAILURES tries at an account, then waits. Unknown emails
  // count alike, so a lock says nothing of whether the account exists.
  auto account = identity::account_hash(email);
  if (co_await account_throttle->over_limit(account, req.deadline())) {
    logins->Add({{"outcome", "locked"}}).Increment();
    co_await audit(req, "login", "locked", std::nullopt, account);
    throw svckit::TooManyRequests("too many failed logins for this account: try again later",
                                  static_cast<int>(account_throttle->lock().count()));
  }
  auto user = co_await store->user_by_email(email);
  // Unknown emails check a dummy hash: the same 401 in the same time as a wrong password.
  std::optional<std::string> hash;
  if (user) hash = user->password_hash;
  bool ok = co_await hasher->verify(std::move(password), std::move(hash));
  if (!user || !ok) {
    logins->Add({{"outcome", "failure"}}).Increment();
    // Not the email itself: people type passwords into it. Its hash still tells one account's
    // failures from another's.
    req.log(svckit::log::Level::warning, "login failed",
            {{"account", account}, {"known", user ? "yes" : "no"}});
    co_await audit(req, "login", "failure", std::nullopt, account);
    throw svckit::Unauthorized("Invalid credentials");
  }
  logins->Add({{"outcome", "success"}}).Increment();
  co_await audit(req, "login", "success", user->id, user->id);
  co_await account_throttle->clear(account, req.deadline());
  req.context().set_user_id(user->id);
  auto refresh = co_await refresh_token(*user, svckit::uuid_v4());
  co_return Response::json(200, {{"access_token", access_token(*user)},
                                 {"refresh_token", refresh},
                                 {"token_type", "Bearer"},
                                 {"expires_in", access_ttl},
                                 {"user", user_json(*user)}});
}

Task<Response> SecurityService::Impl::validate(Request& req) {
  auto token = req.json<TokenBody>().token;
  try {
    auto verified = access_verifier->verify(token);
    const auto& c = verified.claims;
    if (revocations->revoked(c.string("jti").value_or("")))
      throw svckit::auth::TokenError("the token is revoked");
    co_return Response::json(
        200, {{"valid", true},
              {"user_id", verified.subject()},
              {"roles", c.strings("roles").value_or(std::vector<std::string>{})},
              {"permissions", c.strings("permissions").value_or(std::vector<std::string>{})},
              {"expires_at", svckit::utc_iso8601(static_cast<std::int64_t>(*c.number("exp")))}});
  } catch (const svckit::auth::TokenError& e) {
    co_return Response::json(200, {{"valid", false}, {"reason", e.reason()}});
  }
}

Task<Response> SecurityService::Impl::refresh(Request& req) {
  auto token = req.query_param("refresh_token");
  if (token && !refresh_in_query)
    throw svckit::BadRequest(
        "send the refresh token in the body, {\"refresh_token\": ...}: a query string is "
        "logged by proxies and servers");
  if (!token) token = req.json<RefreshBody>().refresh_token;
  auto verified = refresh_verifier->verify(*token);
  auto jti = std::string(verified.claims.string("jti").value_or(""));
  auto family = std::string(verified.claims.string("fam").value_or(""));
  switch (co_await store->use_refresh_token(jti)) {
    case RefreshUse::fresh:
      break;
    case RefreshUse::reused:
      req.log(svckit::log::Level::warning, "refresh token reused: session revoked",
              {{"user_id", verified.subject()}});
      {
        json detail = {{"family", family}};
        co_await audit(req, "token.refresh", "reused", std::nullopt, verified.subject(),
                       std::move(detail));
      }
      throw svckit::auth::TokenError("the refresh token was already used; the session is revoked");
    case RefreshUse::revoked:
      throw svckit::auth::TokenError("the refresh token is revoked");
    case RefreshUse::unknown:
      throw svckit::auth::TokenError("unknown refresh token");
  }
  auto user = co_await store->user_by_id(verified.subject());
  if (!user) throw svckit::auth::TokenError("the user no longer exists");
  co_await audit(req, "token.refresh", "success", user->id, user->id);
  auto refresh = co_await refresh_token(*user, family);
  co_return Response::json(200, {{"access_token", access_token(*user)},
                                 {"refresh_token", refresh},
                                 {"token_type", "Bearer"},
                                 {"expires_in", access_ttl}});
}

Task<Response> SecurityService::Impl::logout(Request& req) {
  auto token = req.json<RefreshBody>().refresh_token;
  auto verified = refresh_verifier->verify(token);
  auto jti = std::string(verified.claims.string("jti").value_or(""));
  co_await store->revoke_family_of(jti);
  // The access token the caller logs out with stops working too, on every replica of every
  // service, before it expires.
  if (auto authorization = req.header("Authorization")) {
    auto access = *authorization;
    if (access.size() > 7 && svckit::http::istarts_with(access, "Bearer ")) {
      try {
        auto token = access_verifier->verify(access.substr(7));
        auto id = std::string(token.claims.string("jti").value_or(""));
        auto expires = std::chrono::system_clock::time_point(std::chrono::seconds(
            static_cast<std::int64_t>(token.claims.number("exp").value_or(0))));
        if (!id.empty() && token.subject() == verified.subject())
          co_await revocations->revoke(std::move(id), expires);
      } catch (const svckit::auth::TokenError&) {
        // Expired or not ours: nothing to revoke.
      }
    }
  }
  co_await audit(req, "logout", "success", verified.subject(), verified.subject());
  co_return Response::json(200, {{"success", true}});
}

Task<Response> SecurityService::Impl::me(Request& req) {
  const Principal& who = *svckit::auth::principal(req);
  auto user = co_await store->user_by_id(who.id);
  json body = {{"user_id", who.id},
               {"email", who.email},
               {"roles", who.roles},
               {"permissions", who.permissions},
               {"authenticated_by", who.method}};
  if (user) {
    body["name"] = user->name;
    body["claims"] = user->claims;
  }
  co_return Response::json(200, body);
}

Task<Response> SecurityService::Impl::add_user(Request& req) {
  auto in = req.json<NewUser>();
  User u;
  u.id = svckit::uuid_v4();
  u.email = in.email;
  u.name = in.name.value_or(u.email.substr(0, u.email.find('@')));
  svckit::http::require_length("name", u.name, 1, kMaxName);  // the default is checked too
  u.roles = known_roles(in.roles, roles);
  u.claims = checked_claims(in.claims);
  u.created_at = svckit::utc_now_iso8601();
  // A hash exported from the monolith is taken as it is; otherwise the password is
  // hashed.
  if (auto hash = in.password_hash) {
    if (!svckit::auth::is_bcrypt_hash(*hash))
      throw svckit::ValidationError("password_hash", "is not a bcrypt hash ($2a$, $2b$ or $2y$)");
    u.password_hash = *hash;
  } else {
    if (!in.password) throw svckit::ValidationError("password", "field required");
    auto password = *in.password;
    if (password.size() < 8 || password.size() > svckit::auth::kMaxPasswordBytes)
      throw svckit::ValidationError("password", "must be 8 to 72 bytes");
    u.password_hash = co_await hasher->hash(std::move(password));
  }
  co_await store->add_user(u);  // a taken email is a 409
  json detail = {{"roles", u.roles}};
  co_await audit(req, "user.create", "success", svckit::auth::principal(req)->id, u.id,
                 std::move(detail));
  co_return Response::json(201, user_json(u));
}

Task<Response> SecurityService::Impl::user(Request& req) {
  auto user = co_await store->user_by_id(req.param("id"));
  if (!user) throw svckit::NotFound("no user '" + req.param("id") + "'");
  co_return Response::json(200, user_json(*user));
}

Task<Response> SecurityService::Impl::add_api_key(Request& req) {
  const Principal& who = *svckit::auth::principal(req);
  require_user_token(who);
  NewApiKey in;  // no ?: here: GCC 12 mishandles class temporaries from one in a coroutine
  if (!req.body().empty()) in = req.json<NewApiKey>();
  std::optional<std::int64_t> expires;
  if (in.expires_in_days) expires = unix_now() + *in.expires_in_days * 24 * 3600;
  auto made = make_api_key(who.id, in.name.value_or("default"), expires);
  const ApiKeyRecord& record = made.first;
  co_await store->add_api_key(record);
  json detail = {{"name", record.name}};
  co_await audit(req, "api_key.create", "success", who.id, record.id, std::move(detail));
  co_return Response::json(201, made_key_json(record, made.second));
}

Task<Response> SecurityService::Impl::api_keys(Request& req) {
  const Principal& who = *svckit::auth::principal(req);
  std::string user_id = req.query_param("user_id").value_or(who.id);
  svckit::http::require_length("user_id", user_id, 1, 128);
  if (user_id != who.id && !who.has("users:read"))
    throw svckit::Forbidden("another user's keys need the permission users:read");
  auto records = co_await store->api_keys_of(user_id);
  ApiKeyList list;
  auto now = unix_now();
  for (const auto& k : records) list.keys.push_back(key_view(k, now));
  co_return svckit::http::json_response(200, list);
}

Task<Response> SecurityService::Impl::revoke_api_key(Request& req) {
  const Principal& who = *svckit::auth::principal(req);
  std::string id = req.param("id");
  auto key = co_await owned_key(who, std::move(id));
  co_await store->revoke_api_key(key.id);
  co_await audit(req, "api_key.revoke", "success", who.id, key.id);
  co_return Response::json(200, {{"success", true}});
}

// A live key is replaced by a new one with the same name and expiry; the old one works for the
// overlap window (never past its own expiry). A key already rotated, expired or revoked is not
// rotated again: that would extend what its owner meant to end.
Task<Response> SecurityService::Impl::rotate_api_key(Request& req) {
  const Principal& who = *svckit::auth::principal(req);
  require_user_token(who);
  std::string id = req.param("id");
  auto old_key = co_await owned_key(who, std::move(id));
  auto now = unix_now();
  if (old_key.replaced_by)
    throw svckit::Conflict("the key was rotated already: rotate its successor " +
                           *old_key.replaced_by);
  if (old_key.expires_at && *old_key.expires_at <= now)
    throw svckit::Conflict("the key has expired: make a new one");
  auto until = now + api_key_overlap;
  auto made = make_api_key(old_key.user_id, old_key.name, old_key.expires_at);
  const ApiKeyRecord& fresh = made.first;
  if (!co_await store->rotate_api_key(old_key.id, until, fresh))
    throw svckit::Conflict("the key was rotated or revoked meanwhile");
  json detail = {{"replaced_by", fresh.id}};
  co_await audit(req, "api_key.rotate", "success", who.id, old_key.id, std::move(detail));
  auto body = made_key_json(fresh, made.second);
  body["replaces"] = old_key.id;
  body["replaced_key_expires_at"] =
      svckit::utc_iso8601(old_key.expires_at ? std::min(*old_key.expires_at, until) : until);
  co_return Response::json(201, body);
}

Task<Response> SecurityService::Impl::audit_log(Request& req) {
  AuditQuery q;
  auto text = [&req](const char* name, std::size_t max) {
    auto value = req.query_param(name);
    if (value) svckit::http::require_length(name, *value, 1, max);
    return value;
  };
  q.action = text("action", 64);
  q.outcome = text("outcome", 32);
  q.actor_id = text("actor_id", 128);
  q.subject = text("subject", 128);
  q.since = text("since", 40);
  q.until = text("until", 40);
  for (auto* bound : {&q.since, &q.until})
    if (*bound && !svckit::is_iso8601(**bound))
      throw svckit::ValidationError(bound == &q.since ? "since" : "until",
                                    "must be an ISO 8601 time, e.g. 2026-12-06T10:00:00Z");
  q.limit = svckit::http::query_int("limit", req.query_param("limit"), 50, 1, 500);
  q.offset = svckit::http::query_int("offset", req.query_param("offset"), 0, 0, 1'000'000);
  AuditPage page{{}, q.limit, q.offset};
  page.entries = co_await store->audit(std::move(q));
  co_return svckit::http::json_response(200, page);
}

Task<Response> SecurityService::Impl::jwks(Request&) {
  if (signing_key->algorithm() == svckit::auth::Algorithm::HS256)
    throw svckit::NotFound("tokens are signed with a shared secret: there is no public key set");
  co_return Response::json(200, svckit::auth::KeySet{*signing_key}.public_jwks());
}

Task<void> SecurityService::start(svckit::App& app) {
  Impl& s = *impl_;
  auto email = app.settings().text("SECURITY_ADMIN_EMAIL");
  auto password = app.settings().text("SECURITY_ADMIN_PASSWORD");
  if (email.empty() || password.empty()) co_return;
  if (co_await s.store->user_by_email(email)) co_return;  // already there: never overwritten
  User admin{svckit::uuid_v4(), email, "Administrator", "", {"admin"}, svckit::utc_now_iso8601()};
  admin.password_hash = co_await s.hasher->hash(std::move(password));
  co_await s.store->add_user(admin);
  app.logger().info("first admin created", {{"email", email}});
}

}  // namespace aether::security
