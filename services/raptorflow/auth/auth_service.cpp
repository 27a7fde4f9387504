#include "auth_service.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <identity/accounts.hpp>
#include <svckit/app/auth_settings.hpp>
#include <svckit/auth/api_key.hpp>
#include <svckit/auth/hmac.hpp>
#include <svckit/auth/rate_limit.hpp>
#include <svckit/error.hpp>
#include <svckit/hex.hpp>
#include <svckit/http/ascii.hpp>
#include <svckit/ids.hpp>

#include "auth_core.hpp"

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::SettingType;

std::string read_file(const std::string& path, const char* setting) {
  std::ifstream in(path);
  if (!in) throw svckit::ConfigError(setting, "cannot read " + path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The file at `path`, made by `make` (readable by this user only) when it does not exist yet;
// two processes starting at once both read the one that was written first.
std::string read_or_make(const std::filesystem::path& path,
                         const std::function<std::string()>& make) {
  std::filesystem::create_directories(path.parent_path());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd >= 0) {
    auto made = make();
    auto tmp = path.string() + ".part";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      out << made;
    }
    ::chmod(tmp.c_str(), 0600);
    std::filesystem::rename(tmp, path);
    ::close(fd);
    return made;
  }
  for (int i = 0; i < 100; ++i) {  // another process is writing it
    auto text = read_file(path.string(), "DATA_DIR");
    if (!text.empty()) return text;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw svckit::ConfigError("DATA_DIR", path.string() + " stays empty");
}

// A new P-256 private key in PEM (ID tokens are ES256).
std::string new_ec_key_pem() {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), &EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (!key || !bio ||
      !PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr))
    throw std::runtime_error("cannot make an EC key");
  char* data = nullptr;
  long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::vector<OidcClient> clients_from(const std::string& text) {
  std::vector<OidcClient> out;
  if (text.empty()) return out;
  auto fail = [](const std::string& why) { throw svckit::ConfigError("AUTH_OIDC_CLIENTS", why); };
  json j = json::parse(text, nullptr, false);
  if (!j.is_array()) fail("must be a JSON array of clients");
  for (const auto& c : j) {
    if (!c.is_object() || !c.contains("client_id") || !c["client_id"].is_string() ||
        !c.contains("redirect_uris") || !c["redirect_uris"].is_array() ||
        c["redirect_uris"].empty())
      fail("each client needs a client_id and redirect_uris");
    OidcClient client;
    client.id = c["client_id"];
    client.name = c.value("name", client.id);
    for (const auto& uri : c["redirect_uris"]) {
      if (!uri.is_string() || !(uri.get<std::string>().starts_with("https://") ||
                                uri.get<std::string>().starts_with("http://")))
        fail("client " + client.id + ": redirect_uris must be http(s) URLs");
      client.redirect_uris.push_back(uri);
    }
    if (c.contains("client_secret")) {
      if (!c["client_secret"].is_string() || c["client_secret"].get<std::string>().size() < 16)
        fail("client " + client.id + ": client_secret must be a string of 16 characters or more");
      client.secret_hash = svckit::auth::sha256_hex({c["client_secret"].get<std::string>()});
    }
    client.scopes = {"openid", "profile", "email", "offline_access"};
    if (c.contains("scopes")) client.scopes = c["scopes"].get<std::vector<std::string>>();
    for (const auto& other : out)
      if (other.id == client.id) fail("client " + client.id + " is listed twice");
    out.push_back(std::move(client));
  }
  return out;
}

void load_keys(AuthCore& core, const svckit::App& app) {
  const auto& config = app.settings();
  core.signing_key = identity::signing_key_from_settings(config, "the Authentication service",
                                                         "AUTH_SIGNING_KEY_FILE", "AUTH_KEY_ID");
  std::filesystem::path data = app.config().data_dir;
  std::string pem = config.is_set("AUTH_OIDC_KEY_FILE")
                        ? read_file(config.text("AUTH_OIDC_KEY_FILE"), "AUTH_OIDC_KEY_FILE")
                        : read_or_make(data / "auth-oidc-key.pem", new_ec_key_pem);
  try {
    auto kid = "oidc-" + svckit::auth::sha256_hex({pem}).substr(0, 12);
    core.id_token_key = svckit::auth::Key::from_pem(svckit::auth::Algorithm::ES256, pem, kid);
  } catch (const svckit::auth::KeyError& e) {
    throw svckit::ConfigError("AUTH_OIDC_KEY_FILE", e.what());
  }
  // TOTP secrets are sealed at rest: AUTH_KEK(_FILE), or a key made once in DATA_DIR.
  std::string keks =
      config.is_set("AUTH_KEK_FILE") ? read_file(config.text("AUTH_KEK_FILE"), "AUTH_KEK_FILE")
      : config.is_set("AUTH_KEK")    ? config.text("AUTH_KEK")
                                     : read_or_make(data / "auth.kek", [] {
                                      return svckit::to_hex(svckit::auth::random_bytes(32)) + "\n";
                                    });
  try {
    core.box.emplace(sealing::SecretBox::from_text(keks));
  } catch (const std::invalid_argument& e) {
    throw svckit::ConfigError(config.is_set("AUTH_KEK_FILE") ? "AUTH_KEK_FILE" : "AUTH_KEK",
                              e.what());
  }
  if (!core.box->ready()) throw svckit::ConfigError("AUTH_KEK", "holds no key");

  core.token_issuer = config.is_set("JWT_ISSUER") ? config.text("JWT_ISSUER") : "raptorflow-auth";
  if (auto aud = config.text("JWT_AUDIENCE"); !aud.empty())
    core.audience = aud.substr(0, aud.find(','));
  svckit::auth::VerifyOptions access;
  access.issuer = core.token_issuer;
  if (core.audience) access.audiences = {*core.audience};
  access.token_type = "access";
  auto refresh = access;
  refresh.token_type = "refresh";
  auto mfa = access;
  mfa.token_type = "mfa";
  svckit::auth::KeySet keys{*core.signing_key};
  core.access_verifier = std::make_shared<svckit::auth::Verifier>(keys, access);
  core.refresh_verifier = std::make_shared<svckit::auth::Verifier>(keys, refresh);
  core.mfa_verifier = std::make_shared<svckit::auth::Verifier>(keys, mfa);
  core.csrf_key = svckit::auth::hmac_sha256(keks, "oidc-csrf");
}

}  // namespace

AuthService::AuthService() : core_(std::make_unique<AuthCore>()) {}
AuthService::~AuthService() = default;

void AuthService::declare(svckit::Settings& settings) {
  auto declare = [&settings](svckit::SettingSpec spec) {
    settings.declare("auth", std::move(spec));
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
  declare({.name = "AUTH_SIGNING_KEY_FILE",
           .type = SettingType::file,
           .help = "PEM private key access tokens are signed with (JWT_ALGORITHM), instead of "
                   "JWT_SECRET_KEY"});
  declare({.name = "AUTH_KEY_ID", .default_value = "auth-1", .help = "the kid of that key"});
  declare({.name = "AUTH_OIDC_KEY_FILE",
           .type = SettingType::file,
           .help = "P-256 PEM private key ID tokens are signed with (ES256); default: one made "
                   "once in DATA_DIR/auth-oidc-key.pem"});
  declare({.name = "AUTH_OIDC_ISSUER",
           .type = SettingType::url,
           .choices = {"https://", "http://"},
           .help = "the provider's public URL (the gateway's); default: http:// and each "
                   "request's Host, for local runs"});
  declare({.name = "AUTH_OIDC_CLIENTS",
           .type = SettingType::secret,
           .help = "the OIDC clients, JSON: [{\"client_id\", \"client_secret\" (none: a public "
                   "client), \"redirect_uris\": [...], \"name\", \"scopes\"}]"});
  declare({.name = "AUTH_KEK_FILE",
           .type = SettingType::file,
           .help = "key-encryption keys TOTP secrets are sealed with: one per line, 64 hex "
                   "digits, the first current; default: one made once in DATA_DIR/auth.kek"});
  declare({.name = "AUTH_KEK", .type = SettingType::secret, .help = "the same, comma-separated"});
  declare({.name = "AUTH_SOCIAL_PROVIDERS",
           .type = SettingType::secret,
           .help = "external OpenID providers users may sign in with, JSON: [{\"name\", "
                   "\"issuer\", \"client_id\", \"client_secret\", \"scope\", "
                   "\"redirect_uri\"}]"});
  declare({.name = "AUTH_MFA_ISSUER",
           .default_value = "Raptorflow",
           .help = "the name authenticator apps show for codes of this service"});
  integer("AUTH_ACCESS_TTL", 900, 60, 24 * 3600, "access token lifetime, seconds");
  integer("AUTH_REFRESH_TTL", 30 * 24 * 3600, 300, 365 * 24 * 3600,
          "how long an unused session (and its refresh token) lasts, seconds");
  integer("AUTH_SESSIONS_PER_USER", 20, 1, 1000, "sessions a user keeps; the oldest end first");
  integer("AUTH_STEP_UP_MAX_AGE", 300, 1, 3600,
          "how recent a login must be for sensitive operations, seconds");
  integer("AUTH_BCRYPT_COST", 12, 4, 16, "bcrypt cost of new password hashes");
  integer("AUTH_HASH_CONCURRENCY", std::clamp(std::thread::hardware_concurrency(), 1u, 64u), 1, 64,
          "password hashes at once (default: hardware threads)");
  integer("AUTH_RATE_LIMIT", 600, 1, 1'000'000, "requests per minute per client address");
  integer("AUTH_LOGIN_LIMIT", 30, 1, 1'000'000,
          "logins and second-factor attempts per minute per client address");
  integer("AUTH_ACCOUNT_FAILURES", 10, 1, 1'000'000,
          "failed passwords for one account, from any address, before it is locked");
  integer("AUTH_MFA_FAILURES", 5, 1, 1'000'000,
          "failed second factors for one account before it is locked");
  integer("AUTH_ACCOUNT_LOCK_SECONDS", 900, 1, 7 * 24 * 3600,
          "how long an account's failures count, from the first (and so the lock lasts)");
  declare({.name = "AUTH_USER_CACHE_ENTRIES",
           .type = SettingType::integer,
           .min = 0,
           .max = 10'000'000,
           .help = "users kept in memory for reads by id (default: 10000 on SQLite, 0 on a "
                   "shared database)"});
  declare({.name = "AUTH_ADMIN_EMAIL", .help = "a first admin, created once"});
  declare({.name = "AUTH_ADMIN_PASSWORD",
           .type = SettingType::secret,
           .help = "the first admin's password"});
}

void AuthService::install(svckit::App& app) {
  AuthCore& core = *core_;
  const auto& config = app.settings();
  if (auto password = config.text("AUTH_ADMIN_PASSWORD"); !password.empty())
    if (auto why = identity::admin_password_weakness(password, config.text("AUTH_ADMIN_EMAIL"));
        !why.empty())
      throw svckit::ConfigError("AUTH_ADMIN_PASSWORD", "too weak for an admin: " + why);
  load_keys(core, app);
  auto setting = [&config](std::string_view name) { return config.text(name); };
  core.roles = svckit::auth::roles_from_settings(setting);
  core.access_ttl = config.integer("AUTH_ACCESS_TTL");
  core.refresh_ttl = config.integer("AUTH_REFRESH_TTL");
  core.step_up_max_age = config.integer("AUTH_STEP_UP_MAX_AGE");
  core.mfa_issuer = config.text("AUTH_MFA_ISSUER");
  core.oidc_issuer = config.text("AUTH_OIDC_ISSUER");
  while (core.oidc_issuer.ends_with('/')) core.oidc_issuer.pop_back();
  core.clients = clients_from(config.text("AUTH_OIDC_CLIENTS"));
  core.hasher = std::make_unique<identity::PasswordHasher>(
      static_cast<std::size_t>(config.integer("AUTH_HASH_CONCURRENCY")),
      static_cast<int>(config.integer("AUTH_BCRYPT_COST")));
  auto lock = std::chrono::seconds(config.integer("AUTH_ACCOUNT_LOCK_SECONDS"));
  core.kv = &app.kv();
  core.login_throttle.emplace(app.kv(), "auth:failures", config.integer("AUTH_ACCOUNT_FAILURES"),
                              lock);
  core.mfa_throttle.emplace(app.kv(), "auth:mfa-failures", config.integer("AUTH_MFA_FAILURES"),
                            lock);

  auto& db = app.database("auth");
  std::int64_t user_cache = config.is_set("AUTH_USER_CACHE_ENTRIES")
                                ? config.integer("AUTH_USER_CACHE_ENTRIES")
                                : (db.backend() == "sqlite" ? 10000 : 0);
  core.users =
      std::make_unique<aether::security::SecurityStore>(db, static_cast<std::size_t>(user_cache));
  core.users->migrate();
  core.store = std::make_unique<AuthStore>(db);
  core.store->migrate();
  auto& revocations = svckit::revocations(app);
  core.sessions = std::make_unique<SessionStore>(
      app.kv(), revocations, std::chrono::seconds(core.refresh_ttl),
      static_cast<std::size_t>(config.integer("AUTH_SESSIONS_PER_USER")));

  core.bearer_options.verifier = core.access_verifier;
  core.bearer_options.roles = core.roles;
  core.bearer_options.revocations = &revocations;
  core.logins = &app.metrics().counter("auth_logins_total", "Login attempts, by outcome.");

  core.per_client = svckit::auth::rate_limit(
      {.limit = static_cast<std::size_t>(config.integer("AUTH_RATE_LIMIT")),
       .store = &app.kv(),
       .name = "auth:client",
       .when_store_away = svckit::auth::StoreAway::allow,
       .meter = &app.metrics()});
  // Passwords and codes: never without a limit, even with Redis away.
  core.login_limit = svckit::auth::rate_limit(
      {.limit = static_cast<std::size_t>(config.integer("AUTH_LOGIN_LIMIT")),
       .store = &app.kv(),
       .name = "auth:login",
       .when_store_away = svckit::auth::StoreAway::limit_locally,
       .meter = &app.metrics()});
  install_account_api(core, app);
  install_mfa_api(core, app);
  install_oidc_provider(core, app);
  install_social_login(core, app);
}

svckit::Task<void> AuthService::start(svckit::App& app) {
  AuthCore& core = *core_;
  auto email = app.settings().text("AUTH_ADMIN_EMAIL");
  auto password = app.settings().text("AUTH_ADMIN_PASSWORD");
  if (email.empty() || password.empty()) co_return;
  if (co_await core.users->user_by_email(email)) co_return;  // already there: never overwritten
  User admin{svckit::uuid_v4(), email, "Administrator", "", {"admin"}, svckit::utc_now_iso8601()};
  admin.password_hash = co_await core.hasher->hash(std::move(password));
  co_await core.users->add_user(admin);
  app.logger().info("first admin created", {{"email", email}});
}

}  // namespace raptorflow::auth
