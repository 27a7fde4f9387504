// /api/v1/auth: login (with a second factor when the user has one), refresh with rotation,
// logout, the user's profile and sessions, and users for admins.
#include <boost/describe/class.hpp>
#include <svckit/auth/rate_limit.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>
#include <svckit/log/logger.hpp>

#include <identity/accounts.hpp>

#include "auth_core.hpp"

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

constexpr std::size_t kMaxEmail = 320;
constexpr std::size_t kMaxDevice = 200;

struct LoginBody {
  std::string email;
  std::string password;
  std::optional<std::string> device;  // what the client calls itself ("Ana's phone")
  static void rules(svckit::model::Rules<LoginBody>& r) {
    r.field(&LoginBody::email).length(3, kMaxEmail);
    r.field(&LoginBody::password).length(1, 1024);
    r.field(&LoginBody::device).length(1, kMaxDevice);
  }
};
BOOST_DESCRIBE_STRUCT(LoginBody, (), (email, password, device))

struct MfaLoginBody {
  std::string mfa_token;
  std::optional<std::string> code;           // six digits from the authenticator app
  std::optional<std::string> recovery_code;  // or one of the recovery codes, once
  static void rules(svckit::model::Rules<MfaLoginBody>& r) {
    r.field(&MfaLoginBody::mfa_token).length(1, 8192);
    r.field(&MfaLoginBody::code).length(6, 6);
    r.field(&MfaLoginBody::recovery_code).length(8, 32);
  }
};
BOOST_DESCRIBE_STRUCT(MfaLoginBody, (), (mfa_token, code, recovery_code))

struct RefreshBody {
  std::string refresh_token;
  static void rules(svckit::model::Rules<RefreshBody>& r) {
    r.field(&RefreshBody::refresh_token).length(1, 8192);
  }
};
BOOST_DESCRIBE_STRUCT(RefreshBody, (), (refresh_token))

struct ProfileEdit {
  std::optional<std::string> name;
  std::optional<std::string> locale;    // BCP 47: "en-GB"
  std::optional<std::string> zoneinfo;  // IANA: "Europe/London"
  std::optional<std::string> picture;   // an https URL
  static void rules(svckit::model::Rules<ProfileEdit>& r) {
    r.field(&ProfileEdit::name).length(1, 200);
    r.field(&ProfileEdit::locale).length(2, 35).pattern("[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*");
    r.field(&ProfileEdit::zoneinfo).length(1, 64).pattern("[A-Za-z0-9_+/-]+");
    r.field(&ProfileEdit::picture).length(9, 2048).pattern("https://[^\\s\"<>]+");
  }
};
BOOST_DESCRIBE_STRUCT(ProfileEdit, (), (name, locale, zoneinfo, picture))

struct NewUser {
  std::string email;
  std::string password;
  std::optional<std::string> name;
  std::optional<std::vector<std::string>> roles;  // default: user
  static void rules(svckit::model::Rules<NewUser>& r) {
    r.field(&NewUser::email).length(3, kMaxEmail).format("email");
    r.field(&NewUser::password).describe("8 to 72 bytes");
    r.field(&NewUser::name).length(1, 200);
  }
};
BOOST_DESCRIBE_STRUCT(NewUser, (), (email, password, name, roles))

struct UserEdit {
  std::optional<std::vector<std::string>> roles;
  std::optional<bool> disabled;  // a disabled user cannot log in; their sessions end
};
BOOST_DESCRIBE_STRUCT(UserEdit, (), (roles, disabled))

struct SessionView {
  std::string id;
  std::string device;
  std::string address;
  std::string created_at;
  std::string last_used_at;
  std::string expires_at;
  std::vector<std::string> amr;
  std::optional<std::string> client_id;
  bool current = false;
};
BOOST_DESCRIBE_STRUCT(SessionView, (),
                      (id, device, address, created_at, last_used_at, expires_at, amr, client_id,
                       current))

struct SessionList {
  std::vector<SessionView> sessions;
};
BOOST_DESCRIBE_STRUCT(SessionList, (), (sessions))

std::string device_of(const Request& req, const std::optional<std::string>& named) {
  if (named) return *named;
  auto agent = std::string(req.header("User-Agent").value_or("unknown device"));
  return agent.substr(0, kMaxDevice);
}

json user_json(const User& u, const Account& a) {
  json profile = a.profile;
  if (!profile.contains("name")) profile["name"] = u.name;
  return {{"id", u.id},
          {"email", u.email},
          {"roles", u.roles},
          {"created_at", u.created_at},
          {"disabled", a.disabled},
          {"mfa", a.totp ? "totp" : "none"},
          {"profile", profile}};
}

struct AccountApi {
  AuthCore& core;

  // Answers a login whose password was right: tokens, or the second step when the user has a
  // second factor.
  Task<Response> after_password(Request& req, const User& user, std::string device) {
    auto account = co_await core.store->account(user.id);
    if (account.disabled) {
      core.logins->Add({{"outcome", "disabled"}}).Increment();
      co_await core.audit(req, "login", "disabled", user.id, user.id);
      throw svckit::Forbidden("the account is disabled");
    }
    if (account.totp) {
      core.logins->Add({{"outcome", "mfa_required"}}).Increment();
      json body = {{"mfa_required", true},
                   {"mfa_token", core.mfa_token(user, device, {"pwd"})},
                   {"methods", json::array({"totp", "recovery_code"})},
                   {"expires_in", 300}};
      co_return Response::json(200, body);
    }
    Proof proof{unix_now(), {"pwd"}};
    NewSession what{std::move(proof), std::move(device)};
    auto opened = co_await core.open_session(req, user, std::move(what));
    core.logins->Add({{"outcome", "success"}}).Increment();
    co_await core.audit(req, "login", "success", user.id, user.id);
    req.context().set_user_id(user.id);
    co_return Response::json(200, core.token_json(opened.tokens, opened.session.id));
  }

  Task<Response> login(Request& req) {
    auto body = req.json<LoginBody>();
    auto account = identity::account_hash(body.email);
    if (co_await core.login_throttle->over_limit(account, req.deadline())) {
      core.logins->Add({{"outcome", "locked"}}).Increment();
      co_await core.audit(req, "login", "locked", std::nullopt, account);
      throw svckit::TooManyRequests("too many failed logins for this account: try again later",
                                    static_cast<int>(core.login_throttle->lock().count()));
    }
    auto user = co_await core.users->user_by_email(body.email);
    std::optional<std::string> hash;
    if (user) hash = user->password_hash;
    if (!co_await core.hasher->verify(std::move(body.password), std::move(hash))) {
      core.logins->Add({{"outcome", "failure"}}).Increment();
      req.log(svckit::log::Level::warning, "login failed",
              {{"account", account}, {"known", user ? "yes" : "no"}});
      co_await core.audit(req, "login", "failure", std::nullopt, account);
      throw svckit::Unauthorized("Invalid credentials");
    }
    co_await core.login_throttle->clear(account, req.deadline());
    co_return co_await after_password(req, *user, device_of(req, body.device));
  }

  Task<Response> login_mfa(Request& req) {
    auto body = req.json<MfaLoginBody>();
    if (!body.code == !body.recovery_code)
      throw svckit::ValidationError("code", "send either code or recovery_code");
    auto verified = core.mfa_verifier->verify(body.mfa_token);
    auto user = co_await core.active_user(verified.subject());
    if (co_await core.mfa_throttle->over_limit(user.id, req.deadline())) {
      co_await core.audit(req, "login.mfa", "locked", user.id, user.id);
      throw svckit::TooManyRequests("too many wrong codes for this account: try again later",
                                    static_cast<int>(core.mfa_throttle->lock().count()));
    }
    auto account = co_await core.store->account(user.id);
    if (!co_await core.second_factor(account, body.code, body.recovery_code)) {
      core.logins->Add({{"outcome", "mfa_failure"}}).Increment();
      co_await core.audit(req, "login.mfa", "failure", user.id, user.id);
      throw svckit::Unauthorized("the code is wrong, expired or used already");
    }
    co_await core.mfa_throttle->clear(user.id, req.deadline());
    // The first factor the MFA token carries ("pwd", "fed"), then the code.
    auto amr = verified.claims.strings("amr").value_or(std::vector<std::string>{"pwd"});
    amr.push_back("otp");
    Proof proof{unix_now(), std::move(amr)};
    auto device = std::string(verified.claims.string("device").value_or("unknown device"));
    NewSession what{std::move(proof), std::move(device)};
    auto opened = co_await core.open_session(req, user, std::move(what));
    core.logins->Add({{"outcome", "success"}}).Increment();
    json detail = {{"method", body.code ? "totp" : "recovery_code"}};
    co_await core.audit(req, "login", "success", user.id, user.id, std::move(detail));
    co_return Response::json(200, core.token_json(opened.tokens, opened.session.id));
  }

  Task<Response> refresh(Request& req) {
    auto token = req.json<RefreshBody>().refresh_token;
    auto verified = core.refresh_verifier->verify(token);
    auto sid = std::string(verified.claims.string("sid").value_or(""));
    auto used = std::string(verified.claims.string("jti").value_or(""));
    auto session = co_await core.sessions->find(sid, req.deadline());
    if (!session) throw svckit::auth::TokenError("the session has ended");
    auto user = co_await core.active_user(verified.subject());
    auto tokens = core.issue(user, *session);
    auto access = std::make_pair(tokens.access_id, tokens.access_expires);
    switch (co_await core.sessions->rotate(sid, used, tokens.refresh_id, access, req.deadline())) {
      case Rotation::rotated:
        break;
      case Rotation::reused: {
        req.log(svckit::log::Level::warning, "refresh token reused: session ended",
                {{"user_id", user.id}, {"session", sid}});
        json detail = {{"session", sid}};
        co_await core.audit(req, "token.refresh", "reused", std::nullopt, user.id,
                            std::move(detail));
        throw svckit::auth::TokenError("the refresh token was used already; the session is ended");
      }
      case Rotation::ended:
        throw svckit::auth::TokenError("the session has ended");
    }
    co_return Response::json(200, core.token_json(tokens, sid));
  }

  Task<Response> logout(Request& req) {
    auto session = co_await core.current_session(req);
    co_await core.sessions->end(session.id, req.deadline());
    co_await core.audit(req, "logout", "success", session.user_id, session.id);
    co_return Response::empty(204);
  }

  Task<Response> me(Request& req) {
    auto user = co_await core.active_user(svckit::auth::principal(req)->id);
    auto account = co_await core.store->account(user.id);
    co_return Response::json(200, user_json(user, account));
  }

  Task<Response> edit_me(Request& req) {
    auto edit = req.json<ProfileEdit>();
    auto user = co_await core.active_user(svckit::auth::principal(req)->id);
    auto account = co_await core.store->account(user.id);
    json profile = account.profile;
    if (edit.name) profile["name"] = *edit.name;
    if (edit.locale) profile["locale"] = *edit.locale;
    if (edit.zoneinfo) profile["zoneinfo"] = *edit.zoneinfo;
    if (edit.picture) profile["picture"] = *edit.picture;
    co_await core.store->set_profile(user.id, profile);
    account.profile = profile;
    co_await core.audit(req, "profile.update", "success", user.id, user.id);
    co_return Response::json(200, user_json(user, account));
  }

  Task<Response> sessions(Request& req) {
    auto current = co_await core.current_session(req);
    auto all = co_await core.sessions->of_user(current.user_id, req.deadline());
    SessionList list;
    for (const auto& s : all)
      list.sessions.push_back({s.id, s.device, s.address, svckit::utc_iso8601(s.created_at),
                               svckit::utc_iso8601(s.last_used_at),
                               svckit::utc_iso8601(s.expires_at), s.amr, s.client_id,
                               s.id == current.id});
    co_return svckit::http::json_response(200, list);
  }

  Task<Response> end_session(Request& req) {
    const auto& who = *svckit::auth::principal(req);
    auto id = req.param("id");
    auto session = co_await core.sessions->find(id, req.deadline());
    if (!session || session->user_id != who.id) throw svckit::NotFound("no session '" + id + "'");
    co_await core.sessions->end(id, req.deadline());
    co_await core.audit(req, "session.end", "success", who.id, id);
    co_return Response::empty(204);
  }

  // Every session but the caller's (a lost phone, a password typed on a shared computer).
  Task<Response> end_other_sessions(Request& req) {
    auto current = co_await core.current_session(req);
    auto all = co_await core.sessions->of_user(current.user_id, req.deadline());
    std::int64_t ended = 0;
    for (const auto& s : all)
      if (s.id != current.id)
        if (co_await core.sessions->end(s.id, req.deadline())) ++ended;
    json detail = {{"ended", ended}};
    co_await core.audit(req, "session.end_others", "success", current.user_id, current.user_id,
                        std::move(detail));
    co_return Response::json(200, {{"ended", ended}});
  }

  Task<Response> add_user(Request& req) {
    auto in = req.json<NewUser>();
    co_await core.require_recent(req);  // it may grant any role
    User u;
    u.id = svckit::uuid_v4();
    u.email = in.email;
    u.name = in.name.value_or(u.email.substr(0, u.email.find('@')));
    u.roles = in.roles.value_or(std::vector<std::string>{"user"});
    for (const auto& r : u.roles)
      if (!core.roles.knows(r))
        throw svckit::ValidationError("roles", "unknown role \"" + r + "\"");
    u.created_at = svckit::utc_now_iso8601();
    if (in.password.size() < 8)
      throw svckit::ValidationError("password", "must be at least 8 bytes");
    u.password_hash = co_await core.hasher->hash(std::move(in.password));  // 72 at most: 422
    co_await core.users->add_user(u);                                      // a taken email is a 409
    json detail = {{"roles", u.roles}};
    co_await core.audit(req, "user.create", "success", svckit::auth::principal(req)->id, u.id,
                        std::move(detail));
    Account fresh;
    co_return Response::json(201, user_json(u, fresh));
  }

  Task<Response> list_users(Request& req) {
    auto limit = svckit::http::query_int("limit", req.query_param("limit"), 50, 1, 500);
    auto offset = svckit::http::query_int("offset", req.query_param("offset"), 0, 0, 10'000'000);
    auto page = co_await core.users->users(limit, offset);
    json out = json::array();
    for (const auto& u : page) {
      auto account = co_await core.store->account(u.id);
      out.push_back(user_json(u, account));
    }
    co_return Response::json(200, {{"users", out}, {"limit", limit}, {"offset", offset}});
  }

  Task<Response> get_user(Request& req) {
    auto user = co_await core.users->user_by_id(req.param("id"));
    if (!user) throw svckit::NotFound("no user '" + req.param("id") + "'");
    auto account = co_await core.store->account(user->id);
    co_return Response::json(200, user_json(*user, account));
  }

  // Roles and the disabled flag: sensitive, so the admin's own login must be recent.
  Task<Response> edit_user(Request& req) {
    auto edit = req.json<UserEdit>();
    co_await core.require_recent(req);
    const auto& who = *svckit::auth::principal(req);
    auto user = co_await core.users->user_by_id(req.param("id"));
    if (!user) throw svckit::NotFound("no user '" + req.param("id") + "'");
    if (edit.roles) {
      for (const auto& r : *edit.roles)
        if (!core.roles.knows(r))
          throw svckit::ValidationError("roles", "unknown role \"" + r + "\"");
      co_await core.users->set_roles(user->id, *edit.roles);
      user->roles = *edit.roles;
    }
    if (edit.disabled) {
      if (*edit.disabled && user->id == who.id)
        throw svckit::Conflict("an admin cannot disable their own account");
      co_await core.store->set_disabled(user->id, *edit.disabled);
      if (*edit.disabled) co_await core.sessions->end_all(user->id, req.deadline());
    }
    json detail = {{"roles", user->roles}, {"disabled", edit.disabled.value_or(false)}};
    co_await core.audit(req, "user.update", "success", who.id, user->id, std::move(detail));
    auto account = co_await core.store->account(user->id);
    co_return Response::json(200, user_json(*user, account));
  }

  Task<Response> audit_log(Request& req) {
    aether::security::AuditQuery q;
    for (auto [name, slot] :
         {std::pair{"action", &q.action}, std::pair{"outcome", &q.outcome},
          std::pair{"actor_id", &q.actor_id}, std::pair{"subject", &q.subject}}) {
      *slot = req.query_param(name);
      if (*slot) svckit::http::require_length(name, **slot, 1, 128);
    }
    q.limit = svckit::http::query_int("limit", req.query_param("limit"), 50, 1, 500);
    q.offset = svckit::http::query_int("offset", req.query_param("offset"), 0, 0, 1'000'000);
    auto entries = co_await core.users->audit(std::move(q));
    json out = json::array();
    for (const auto& e : entries) out.push_back(svckit::model::to_json(e));
    co_return Response::json(200, {{"entries", out}});
  }

  Task<Response> end_user_sessions(Request& req) {
    co_await core.require_recent(req);
    const auto& who = *svckit::auth::principal(req);
    auto id = req.param("id");
    auto ended = co_await core.sessions->end_all(id, req.deadline());
    json detail = {{"ended", ended}};
    co_await core.audit(req, "session.end_all", "success", who.id, id, std::move(detail));
    co_return Response::json(200, {{"ended", ended}});
  }
};

}  // namespace

void install_account_api(AuthCore& core, svckit::App& app) {
  auto bearer = svckit::auth::bearer(core.bearer_options);
  auto* api = &app.keep("auth:account-api", std::make_shared<AccountApi>(core));
  using svckit::http::bind;

  auto auth = app.http().group("/api/v1/auth", {core.per_client});
  auto login_limit = core.login_limit;
  auth.post("/login", login_limit, bind(api, &AccountApi::login))
      .summary("Log in: tokens, or an mfa_token for the second step when the user has MFA")
      .accepts<LoginBody>()
      .errors({401, 403, 429});
  auth.post("/login/mfa", login_limit, bind(api, &AccountApi::login_mfa))
      .summary("Finish a login with a TOTP code or a recovery code")
      .accepts<MfaLoginBody>()
      .errors({401, 429});
  auth.post("/refresh", bind(api, &AccountApi::refresh))
      .summary("New tokens for a refresh token; a refresh token used twice ends its session")
      .accepts<RefreshBody>()
      .errors({401});
  // The caller's own account: a user's token, not an OIDC client's.
  auto mine = app.http().group("/api/v1/auth", {core.per_client, bearer, AuthCore::first_party()});
  mine.post("/logout", bind(api, &AccountApi::logout))
      .summary("End the caller's session: its refresh and access tokens stop working")
      .responds(204);
  mine.get("/me", bind(api, &AccountApi::me)).summary("The caller's account and profile");
  mine.patch("/me", bind(api, &AccountApi::edit_me))
      .summary("Edit the caller's profile (name, locale, zoneinfo, picture)")
      .accepts<ProfileEdit>();
  mine.get("/sessions", bind(api, &AccountApi::sessions))
      .summary("The caller's sessions, one per device, newest first")
      .returns<SessionList>();
  mine.del("/sessions/{id}", bind(api, &AccountApi::end_session))
      .summary("End one of the caller's sessions")
      .responds(204)
      .errors({404});
  mine.post("/sessions/end-others", bind(api, &AccountApi::end_other_sessions))
      .summary("End every session of the caller's but this one");

  auto users = mine.group("/users");
  users.post("/", svckit::auth::require("users:write"), bind(api, &AccountApi::add_user))
      .summary("Add a user (users:write)")
      .accepts<NewUser>()
      .errors({409, 422});
  users.get("/", svckit::auth::require("users:read"), bind(api, &AccountApi::list_users))
      .summary("Users, oldest first (users:read)")
      .query("limit", "users per page, 1-500 (default 50)")
      .query("offset", "users to skip (default 0)");
  users.get("/{id}", svckit::auth::require("users:read"), bind(api, &AccountApi::get_user))
      .summary("A user (users:read)")
      .errors({404});
  users.patch("/{id}", svckit::auth::require("users:write"), bind(api, &AccountApi::edit_user))
      .summary("Change a user's roles or disable them (users:write, a recent login)")
      .accepts<UserEdit>()
      .errors({401, 404, 409});
  users
      .post("/{id}/sessions/end", svckit::auth::require("users:write"),
            bind(api, &AccountApi::end_user_sessions))
      .summary("End every session of a user (users:write)");
  mine.group("/audit", {svckit::auth::require("audit:read")})
      .get("/", bind(api, &AccountApi::audit_log))
      .summary("The audit log, newest first (audit:read): logins, MFA, sessions, users, OIDC")
      .query("action", "only this action (login, login.mfa, token.refresh, mfa.totp.enable, ...)")
      .query("outcome", "only this outcome (success, failure, locked, reused, denied)")
      .query("actor_id", "only what this user did")
      .query("subject", "only what was done to this user, session, client or account")
      .query("limit", "entries per page, 1-500 (default 50)")
      .query("offset", "entries to skip (default 0)");
}

}  // namespace raptorflow::auth
