#include "auth_core.hpp"

#include <openssl/sha.h>

#include <algorithm>

#include <svckit/auth/api_key.hpp>
#include <svckit/error.hpp>
#include <svckit/ids.hpp>

#include "totp.hpp"

namespace raptorflow::auth {

using nlohmann::json;
using svckit::Task;
using svckit::http::Request;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string sha256_base64url(std::string_view text) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
  return svckit::auth::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}

namespace {

// An audit entry's id: sorts as the entries were written (microseconds, then a random tail so
// that replicas never collide).
std::string audit_id() {
  auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
  auto head = std::to_string(micros);
  return std::string(16 - std::min<std::size_t>(16, head.size()), '0') + head + "-" +
         svckit::uuid_v4().substr(0, 13);
}

}  // namespace

IssuedTokens AuthCore::access_only(const User& user, const Session& session) const {
  IssuedTokens out;
  auto now = unix_now();
  out.access_id = svckit::uuid_v4();
  out.access_expires = now + access_ttl;
  json claims = {{"sub", user.id},       {"iss", token_issuer},
                 {"iat", now},           {"exp", out.access_expires},
                 {"jti", out.access_id}, {"type", "access"},
                 {"sid", session.id},    {"auth_time", session.auth_time},
                 {"amr", session.amr},   {"email", user.email}};
  if (audience) claims["aud"] = *audience;
  if (session.client_id) {
    // A relying party acts with what the user consented to (its scope), never with the user's
    // roles: a client the admin signs in to is no admin.
    claims["client_id"] = *session.client_id;
    claims["scope"] = session.scope;
  } else {
    claims["roles"] = user.roles;
    claims["permissions"] = roles.permissions_of(user.roles);
  }
  for (const auto& [name, value] : user.claims.items()) claims[name] = value;
  out.access_token = svckit::auth::sign(claims, *signing_key);
  return out;
}

IssuedTokens AuthCore::issue(const User& user, const Session& session) const {
  auto out = access_only(user, session);
  auto now = unix_now();
  out.refresh_id = svckit::uuid_v4();
  json claims = {{"sub", user.id},           {"iss", token_issuer},   {"iat", now},
                 {"exp", now + refresh_ttl}, {"jti", out.refresh_id}, {"type", "refresh"},
                 {"sid", session.id}};
  if (audience) claims["aud"] = *audience;
  out.refresh_token = svckit::auth::sign(claims, *signing_key);
  return out;
}

std::string AuthCore::mfa_token(const User& user, const std::string& device,
                                const std::vector<std::string>& first) const {
  auto now = unix_now();
  json claims = {
      {"sub", user.id},           {"iss", token_issuer}, {"iat", now},       {"exp", now + 300},
      {"jti", svckit::uuid_v4()}, {"type", "mfa"},       {"device", device}, {"amr", first}};
  if (audience) claims["aud"] = *audience;
  return svckit::auth::sign(claims, *signing_key);
}

Task<AuthCore::Opened> AuthCore::open_session(const Request& req, const User& user,
                                              NewSession what) {
  Session s;
  s.id = svckit::uuid_v4();
  s.user_id = user.id;
  s.device = std::move(what.device);
  s.address = req.remote_address();
  s.created_at = s.last_used_at = unix_now();
  s.auth_time = what.proof.auth_time;
  s.amr = std::move(what.proof.amr);
  s.client_id = std::move(what.client_id);
  s.scope = std::move(what.scope);
  s.cookie_hash = std::move(what.cookie_hash);
  auto tokens = issue(user, s);
  s.refresh_id = tokens.refresh_id;
  s.access.emplace_back(tokens.access_id, tokens.access_expires);
  auto copy = s;
  co_await sessions->create(std::move(copy), req.deadline());
  Opened opened{std::move(tokens), std::move(s)};
  co_return opened;
}

json AuthCore::token_json(const IssuedTokens& tokens, const std::string& session_id) const {
  return {{"access_token", tokens.access_token},
          {"refresh_token", tokens.refresh_token},
          {"token_type", "Bearer"},
          {"expires_in", access_ttl},
          {"session_id", session_id}};
}

Task<User> AuthCore::active_user(std::string id) {
  auto user = co_await users->user_by_id(id);
  if (!user) throw svckit::Unauthorized("the account does not exist or is disabled");
  auto account = co_await store->account(id);
  if (account.disabled) throw svckit::Unauthorized("the account does not exist or is disabled");
  co_return *user;
}

std::string AuthCore::open_totp_secret(const Account& account, const std::string& sealed) const {
  auto j = json::parse(sealed);
  sealing::Sealed s{j.at("kek").get<std::string>(),
                    *svckit::auth::base64url_decode(j.at("key").get<std::string>()),
                    *svckit::auth::base64url_decode(j.at("data").get<std::string>())};
  return box->open(s, "totp:" + account.user_id);
}

Task<bool> AuthCore::second_factor(const Account& account, std::optional<std::string> code,
                                   std::optional<std::string> recovery_code) {
  if (!account.totp) co_return false;
  if (code) {
    auto secret = open_totp_secret(account, *account.totp);
    auto step = totp_match(secret, *code, totp_step(std::chrono::system_clock::now()));
    // A step once: a code seen over a shoulder (or replayed) does not work a second time.
    if (!step) co_return false;
    co_return co_await store->spend_totp_step(account.user_id, *step);
  }
  if (recovery_code) {
    std::string normalized;
    for (char c : *recovery_code)
      if (c != '-' && c != ' ')
        normalized += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto hash = svckit::auth::sha256_hex({"recovery:", normalized});  // no list in the frame
    co_return co_await store->spend_recovery_code(account.user_id, std::move(hash));
  }
  co_return false;
}

// Not a coroutine: the entry is built here and moved into the store's frame, so no temporary
// argument lives in a coroutine frame (GCC 12).
Task<void> AuthCore::audit(const Request& req, std::string action, std::string outcome,
                           std::optional<std::string> actor, std::optional<std::string> subject,
                           json detail) {
  aether::security::AuditEntry entry{
      audit_id(),           svckit::utc_now_iso8601(),  std::move(action),
      std::move(outcome),   std::move(actor),           std::move(subject),
      req.remote_address(), req.context().request_id(), std::move(detail)};
  return users->add_audit(std::move(entry));
}

Task<Session> AuthCore::current_session(const Request& req) {
  const auto* who = svckit::auth::principal(req);
  std::string sid;
  if (who && who->claims) sid = std::string(who->claims->string("sid").value_or(""));
  if (sid.empty()) throw svckit::Unauthorized("the token belongs to no session");
  auto session = co_await sessions->find(sid, req.deadline());
  if (!session || session->user_id != who->id) throw svckit::Unauthorized("the session has ended");
  co_return *session;
}

Task<void> AuthCore::require_recent(const Request& req) {
  const auto* who = svckit::auth::principal(req);
  auto account = co_await store->account(who->id);
  double auth_time = 0;
  std::vector<std::string> amr;
  if (who->claims) {
    auth_time = who->claims->number("auth_time").value_or(0);
    if (auto listed = who->claims->strings("amr")) amr = std::move(*listed);
  }
  bool recent = unix_now() - static_cast<std::int64_t>(auth_time) <= step_up_max_age;
  bool factors = !account.totp || std::find(amr.begin(), amr.end(), "otp") != amr.end();
  if (recent && factors) co_return;
  throw step_up_needed(account.totp.has_value());
}

// Not a coroutine: the message is built without a conditional temporary in a coroutine frame
// (GCC 12).
svckit::Unauthorized AuthCore::step_up_needed(bool has_totp) const {
  auto age = std::to_string(step_up_max_age);
  std::string detail = has_totp ? "this needs a second factor in the last " + age +
                                      " seconds: POST /api/v1/auth/step-up with a code"
                                : "this needs a login in the last " + age +
                                      " seconds: POST /api/v1/auth/step-up with your password";
  svckit::Unauthorized error(detail);
  error.with_header("WWW-Authenticate",
                    "Bearer error=\"insufficient_user_authentication\", error_description=\"a "
                    "recent login is required\", max_age=" +
                        age + (has_totp ? ", acr_values=\"mfa\"" : ""));
  return error;
}

svckit::http::Middleware AuthCore::first_party() {
  // Not a coroutine: it checks, then hands over (or throws before any task exists).
  return [](Request& req, const svckit::http::Handler& next) {
    const auto* who = svckit::auth::principal(req);
    if (who && who->claims && who->claims->contains("client_id"))
      throw svckit::Forbidden(
          "an OIDC client's token serves /oauth2/userinfo and the other services, not the "
          "account API");
    return next(req);
  };
}

std::string AuthCore::issuer_for(const Request& req) const {
  if (!oidc_issuer.empty()) return oidc_issuer;
  auto host = std::string(req.header("Host").value_or("localhost"));
  // A Host of letters, digits, dots, dashes, a port: anything else is not echoed into documents.
  bool plain = !host.empty() && host.size() <= 255 &&
               std::all_of(host.begin(), host.end(), [](unsigned char c) {
                 return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '[' || c == ']';
               });
  return "http://" + (plain ? host : std::string("localhost"));
}

const OidcClient* AuthCore::client(std::string_view id) const {
  for (const auto& c : clients)
    if (c.id == id) return &c;
  return nullptr;
}

}  // namespace raptorflow::auth
