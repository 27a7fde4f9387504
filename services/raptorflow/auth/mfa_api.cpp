// /api/v1/auth/mfa and /api/v1/auth/step-up: TOTP enrolment (an otpauth:// URI and its QR code
// as SVG), confirmation with a first code, recovery codes, removal; and step-up, which proves a
// recent login again for sensitive operations.
#include <boost/describe/class.hpp>
#include <svckit/auth/api_key.hpp>
#include <svckit/auth/rate_limit.hpp>
#include <svckit/error.hpp>
#include <svckit/http/json_body.hpp>
#include <svckit/http/route_doc.hpp>

#include "auth_core.hpp"
#include "qr_svg.hpp"
#include "totp.hpp"

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

constexpr int kRecoveryCodes = 10;

struct CodeBody {
  std::string code;
  static void rules(svckit::model::Rules<CodeBody>& r) { r.field(&CodeBody::code).length(6, 6); }
};
BOOST_DESCRIBE_STRUCT(CodeBody, (), (code))

struct StepUpBody {
  std::optional<std::string> code;
  std::optional<std::string> recovery_code;
  std::optional<std::string> password;  // for users without a second factor
  static void rules(svckit::model::Rules<StepUpBody>& r) {
    r.field(&StepUpBody::code).length(6, 6);
    r.field(&StepUpBody::recovery_code).length(8, 32);
    r.field(&StepUpBody::password).length(1, 1024);
  }
};
BOOST_DESCRIBE_STRUCT(StepUpBody, (), (code, recovery_code, password))

std::string sealed_json(const sealing::Sealed& s) {
  return json{{"kek", s.kek_id},
              {"key", svckit::auth::base64url_encode(s.wrapped_key)},
              {"data", svckit::auth::base64url_encode(s.ciphertext)}}
      .dump();
}

// Ten codes of ten base32 characters (50 bits each), shown once as "abcde-fghij"; their hashes
// are kept.
std::pair<std::vector<std::string>, std::vector<std::string>> recovery_codes() {
  std::vector<std::string> shown, hashes;
  for (int i = 0; i < kRecoveryCodes; ++i) {
    auto raw = base32_encode(svckit::auth::random_bytes(7)).substr(0, 10);
    std::string lower;
    for (char c : raw) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    shown.push_back(lower.substr(0, 5) + "-" + lower.substr(5));
    hashes.push_back(svckit::auth::sha256_hex({"recovery:", lower}));
  }
  return {shown, hashes};
}

struct MfaApi {
  AuthCore& core;

  Task<Response> status(Request& req) {
    auto account = co_await core.store->account(svckit::auth::principal(req)->id);
    std::string totp = account.totp ? "enabled" : account.totp_pending ? "pending" : "off";
    co_return Response::json(
        200, {{"totp", totp}, {"recovery_codes_left", account.recovery_codes.size()}});
  }

  // Needs a recent login: a stolen token must not enrol its thief's authenticator.
  Task<Response> begin(Request& req) {
    auto user = co_await core.active_user(svckit::auth::principal(req)->id);
    auto account = co_await core.store->account(user.id);
    if (account.totp)
      throw svckit::Conflict(
          "TOTP is enabled already: remove it first (DELETE /api/v1/auth/mfa/totp)");
    co_await core.require_recent(req);
    auto secret = svckit::auth::random_bytes(20);  // 160 bits, RFC 4226's recommendation
    auto sealed = core.box->seal(secret, "totp:" + user.id);
    co_await core.store->set_pending_totp(user.id, sealed_json(sealed));
    co_await core.audit(req, "mfa.totp.begin", "success", user.id, user.id);
    auto uri = otpauth_uri(core.mfa_issuer, user.email, secret);
    auto answer = Response::json(201, {{"secret", base32_encode(secret)},
                                       {"otpauth_uri", uri},
                                       {"qr_svg", "/api/v1/auth/mfa/totp/qr.svg"},
                                       {"confirm", "/api/v1/auth/mfa/totp/confirm"}});
    answer.set_header("Cache-Control", "no-store");
    co_return answer;
  }

  Task<Response> qr(Request& req) {
    auto user = co_await core.active_user(svckit::auth::principal(req)->id);
    auto account = co_await core.store->account(user.id);
    if (!account.totp_pending)
      throw svckit::NotFound("no TOTP enrolment is pending: POST /api/v1/auth/mfa/totp first");
    auto secret = core.open_totp_secret(account, *account.totp_pending);
    auto answer = Response::text(200, qr_svg(otpauth_uri(core.mfa_issuer, user.email, secret)));
    answer.content_type = "image/svg+xml";
    answer.set_header("Cache-Control", "no-store");
    co_return answer;
  }

  Task<Response> confirm(Request& req) {
    auto code = req.json<CodeBody>().code;
    co_await core.require_recent(req);
    auto user = co_await core.active_user(svckit::auth::principal(req)->id);
    if (co_await core.mfa_throttle->over_limit(user.id, req.deadline()))
      throw svckit::TooManyRequests("too many wrong codes for this account: try again later",
                                    static_cast<int>(core.mfa_throttle->lock().count()));
    auto account = co_await core.store->account(user.id);
    if (!account.totp_pending)
      throw svckit::Conflict("no TOTP enrolment is pending: POST /api/v1/auth/mfa/totp first");
    auto secret = core.open_totp_secret(account, *account.totp_pending);
    auto step = totp_match(secret, code, totp_step(std::chrono::system_clock::now()));
    if (!step) {
      co_await core.audit(req, "mfa.totp.confirm", "failure", user.id, user.id);
      throw svckit::ValidationError("code", "is not the code the authenticator shows now");
    }
    auto codes = recovery_codes();
    if (!co_await core.store->confirm_totp(user.id, *account.totp_pending, codes.second, *step))
      throw svckit::Conflict("another enrolment began meanwhile: scan its QR code");
    co_await core.mfa_throttle->clear(user.id, req.deadline());
    co_await core.audit(req, "mfa.totp.enable", "success", user.id, user.id);
    auto answer = Response::json(200, {{"totp", "enabled"}, {"recovery_codes", codes.first}});
    answer.set_header("Cache-Control", "no-store");
    co_return answer;
  }

  Task<Response> remove(Request& req) {
    co_await core.require_recent(req);
    const auto& who = *svckit::auth::principal(req);
    co_await core.store->remove_totp(who.id);
    co_await core.audit(req, "mfa.totp.disable", "success", who.id, who.id);
    co_return Response::empty(204);
  }

  Task<Response> new_recovery_codes(Request& req) {
    co_await core.require_recent(req);
    const auto& who = *svckit::auth::principal(req);
    auto account = co_await core.store->account(who.id);
    if (!account.totp) throw svckit::Conflict("recovery codes go with TOTP, which is off");
    auto codes = recovery_codes();
    co_await core.store->set_recovery_codes(who.id, codes.second);
    co_await core.audit(req, "mfa.recovery_codes.renew", "success", who.id, who.id);
    auto answer = Response::json(200, {{"recovery_codes", codes.first}});
    answer.set_header("Cache-Control", "no-store");
    co_return answer;
  }

  // Proves the login again: a code (or recovery code) for users with TOTP, the password for the
  // others. Answers a new access token with a fresh auth_time for the same session.
  Task<Response> step_up(Request& req) {
    auto body = req.json<StepUpBody>();
    auto session = co_await core.current_session(req);
    auto user = co_await core.active_user(session.user_id);
    auto account = co_await core.store->account(user.id);
    if (co_await core.mfa_throttle->over_limit(user.id, req.deadline()))
      throw svckit::TooManyRequests("too many wrong codes for this account: try again later",
                                    static_cast<int>(core.mfa_throttle->lock().count()));
    std::vector<std::string> amr{"pwd"};
    bool ok = false;
    if (account.totp) {
      if (!body.code && !body.recovery_code)
        throw svckit::ValidationError("code", "the account has TOTP: send code or recovery_code");
      ok = co_await core.second_factor(account, body.code, body.recovery_code);
      amr.push_back("otp");
    } else {
      if (!body.password) throw svckit::ValidationError("password", "field required");
      std::optional<std::string> hash = user.password_hash;
      ok = co_await core.hasher->verify(std::move(*body.password), std::move(hash));
    }
    if (!ok) {
      co_await core.audit(req, "step_up", "failure", user.id, user.id);
      throw svckit::Unauthorized("the code or password is wrong (or the code was used already)");
    }
    co_await core.mfa_throttle->clear(user.id, req.deadline());
    session.auth_time = unix_now();
    session.amr = amr;
    auto tokens = core.access_only(user, session);
    auto access = std::make_pair(tokens.access_id, tokens.access_expires);
    if (!co_await core.sessions->record_access(session.id, access, session.auth_time, amr,
                                               req.deadline()))
      throw svckit::Unauthorized("the session has ended");
    co_await core.audit(req, "step_up", "success", user.id, user.id);
    co_return Response::json(200, {{"access_token", tokens.access_token},
                                   {"token_type", "Bearer"},
                                   {"expires_in", core.access_ttl}});
  }
};

}  // namespace

void install_mfa_api(AuthCore& core, svckit::App& app) {
  auto* api = &app.keep("auth:mfa-api", std::make_shared<MfaApi>(core));
  auto bearer = svckit::auth::bearer(core.bearer_options);
  auto codes = core.login_limit;
  using svckit::http::bind;
  auto mfa =
      app.http().group("/api/v1/auth/mfa", {core.per_client, bearer, AuthCore::first_party()});
  mfa.get("/", bind(api, &MfaApi::status)).summary("The caller's second factors");
  mfa.post("/totp", bind(api, &MfaApi::begin))
      .summary("Begin TOTP enrolment: a secret, its otpauth:// URI and a QR code to scan")
      .responds(201)
      .errors({409});
  mfa.get("/totp/qr.svg", bind(api, &MfaApi::qr))
      .summary("The pending enrolment's QR code (image/svg+xml)")
      .errors({404});
  mfa.post("/totp/confirm", codes, bind(api, &MfaApi::confirm))
      .summary("Confirm enrolment with the code the app shows: TOTP on, ten recovery codes")
      .accepts<CodeBody>()
      .errors({409, 422, 429});
  mfa.del("/totp", bind(api, &MfaApi::remove))
      .summary("Turn TOTP off (a recent login with a code: step-up)")
      .responds(204)
      .errors({401});
  mfa.post("/recovery-codes", bind(api, &MfaApi::new_recovery_codes))
      .summary("Ten new recovery codes, the old ones void (a recent login with a code)")
      .errors({401, 409});
  app.http()
      .group("/api/v1/auth", {core.per_client, bearer, AuthCore::first_party()})
      .post("/step-up", codes, bind(api, &MfaApi::step_up))
      .summary("Prove the login again (a code, or the password without TOTP): a fresh token")
      .accepts<StepUpBody>()
      .errors({401, 422, 429});
}

}  // namespace raptorflow::auth
