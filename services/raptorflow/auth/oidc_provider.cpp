// The OpenID Connect provider: discovery, JWKS, the authorization endpoint (a login page, the
// second factor, a consent page remembered per client), the token endpoint (authorization code
// with PKCE S256 only; refresh with rotation) and userinfo. Protocol errors take the protocol's
// shapes (RFC 6749 §4.1.2.1, §5.2), not problem+json: OIDC client libraries read those.
#include <charconv>
#include <map>
#include <set>
#include <sstream>
#include <variant>

#include <svckit/auth/api_key.hpp>
#include <svckit/auth/hmac.hpp>
#include <svckit/error.hpp>
#include <svckit/http/ascii.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>

#include <identity/accounts.hpp>

#include "auth_core.hpp"

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;
using Fields = std::map<std::string, std::string, std::less<>>;

constexpr const char* kSessionCookie = "rf_auth";
constexpr const char* kCsrfCookie = "rf_csrf";
constexpr std::int64_t kCodeTtl = 60;

// A protocol error at the token endpoint (RFC 6749 §5.2).
struct OAuthError {
  int status;
  std::string error;
  std::string description;
};

Response oauth_error(const OAuthError& e) {
  auto r = Response::json(e.status, {{"error", e.error}, {"error_description", e.description}});
  r.set_header("Cache-Control", "no-store");
  if (e.status == 401) r.set_header("WWW-Authenticate", "Basic realm=\"oauth2\"");
  return r;
}

std::string html_escaped(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// application/x-www-form-urlencoded (and query strings): a parameter given twice is refused, as
// OAuth requires (RFC 6749 §3.1).
Fields form_fields(std::string_view text) {
  Fields out;
  while (!text.empty()) {
    auto cut = text.find('&');
    auto pair = text.substr(0, cut);
    text.remove_prefix(cut == std::string_view::npos ? text.size() : cut + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto name = svckit::http::percent_decode(pair.substr(0, eq));
    auto value = eq == std::string_view::npos ? std::string()
                                              : svckit::http::percent_decode(pair.substr(eq + 1));
    if (out.size() >= 64) throw svckit::BadRequest("too many parameters");
    if (!out.emplace(std::move(name), std::move(value)).second)
      throw svckit::BadRequest("a parameter is repeated");
  }
  return out;
}

std::string field(const Fields& f, std::string_view name) {
  auto it = f.find(name);
  return it == f.end() ? std::string() : it->second;
}

std::optional<std::string> cookie(const Request& req, std::string_view name) {
  auto header = req.header("Cookie");
  if (!header) return std::nullopt;
  std::string_view rest = *header;
  while (!rest.empty()) {
    auto cut = rest.find(';');
    auto item = rest.substr(0, cut);
    rest.remove_prefix(cut == std::string_view::npos ? rest.size() : cut + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.size() > name.size() && item.starts_with(name) && item[name.size()] == '=')
      return std::string(item.substr(name.size() + 1));
  }
  return std::nullopt;
}

std::set<std::string> scope_set(std::string_view scope) {
  std::set<std::string> out;
  std::istringstream in{std::string(scope)};
  for (std::string s; in >> s;) out.insert(s);
  return out;
}

std::string scope_text(const std::set<std::string>& scopes) {
  std::string out;
  for (const auto& s : scopes) out += (out.empty() ? "" : " ") + s;
  return out;
}

// A code's name in the store: its hash, so the store never holds a usable code.
std::string code_key(std::string_view code) {
  return svckit::auth::sha256_hex({code});
}

bool pkce_verifier_ok(std::string_view v) {
  return v.size() >= 43 && v.size() <= 128 && std::all_of(v.begin(), v.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
         });
}

// An authorization request, checked. `redirect` is set once the client and its redirect URI
// are known good: from then on errors go back to the client; before, they are shown here.
struct AuthorizeRequest {
  const OidcClient* client = nullptr;
  std::string redirect_uri, state, nonce, challenge, prompt;
  std::set<std::string> scopes;
  std::optional<std::int64_t> max_age;
  Fields raw;  // carried through the forms
};

struct Problem {
  std::string error, description;
};

struct OidcProvider {
  AuthCore& core;
  std::string csrf_key;

  // --- pages ---------------------------------------------------------------------------
  static std::string page(std::string_view title, std::string_view body) {
    return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta "
           "name=\"viewport\" content=\"width=device-width\"><title>" +
           std::string(title) +
           "</title><style>body{font-family:sans-serif;max-width:26rem;margin:3rem "
           "auto;padding:0 1rem}label,input,button{display:block;width:100%;margin:.4rem "
           "0}input{padding:.5rem}button{padding:.6rem}</style></head><body><h1>" +
           std::string(title) + "</h1>" + std::string(body) + "</body></html>\n";
  }
  static Response html(int status, std::string text) {
    auto r = Response::text(status, std::move(text));
    r.content_type = "text/html; charset=utf-8";
    r.set_header("Cache-Control", "no-store");
    r.set_header("Content-Security-Policy",
                 "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                 "frame-ancestors 'none'");
    r.set_header("X-Frame-Options", "DENY");
    return r;
  }
  static Response error_page(const Problem& p) {
    return html(400, page("Sign-in request refused", "<p>" + html_escaped(p.error) + ": " +
                                                         html_escaped(p.description) + "</p>"));
  }
  std::string hidden_fields(const AuthorizeRequest& ar, const std::string& csrf) const {
    std::string out;
    for (const auto& [name, value] : ar.raw)
      out += "<input type=\"hidden\" name=\"" + html_escaped(name) + "\" value=\"" +
             html_escaped(value) + "\">";
    return out + "<input type=\"hidden\" name=\"csrf\" value=\"" + html_escaped(csrf) + "\">";
  }
  Response login_page(const AuthorizeRequest& ar, const std::string& csrf,
                      std::string_view message = {}) const {
    std::string body = message.empty() ? "" : "<p role=\"alert\">" + html_escaped(message) + "</p>";
    body += "<p>" + html_escaped(ar.client->name) +
            " asks you to sign in.</p>"
            "<form method=\"post\" action=\"/oauth2/authorize\">" +
            hidden_fields(ar, csrf) +
            "<input type=\"hidden\" name=\"step\" value=\"login\">"
            "<label>Email<input name=\"email\" type=\"email\" autocomplete=\"username\" "
            "required></label>"
            "<label>Password<input name=\"password\" type=\"password\" "
            "autocomplete=\"current-password\" required></label>"
            "<button type=\"submit\">Sign in</button></form>";
    return html(200, page("Sign in", body));
  }
  Response mfa_page(const AuthorizeRequest& ar, const std::string& csrf,
                    const std::string& mfa_token, std::string_view message = {}) const {
    std::string body = message.empty() ? "" : "<p role=\"alert\">" + html_escaped(message) + "</p>";
    body += "<form method=\"post\" action=\"/oauth2/authorize\">" + hidden_fields(ar, csrf) +
            "<input type=\"hidden\" name=\"step\" value=\"mfa\">"
            "<input type=\"hidden\" name=\"mfa_token\" value=\"" +
            html_escaped(mfa_token) +
            "\">"
            "<label>Code from your authenticator app<input name=\"code\" inputmode=\"numeric\" "
            "autocomplete=\"one-time-code\" pattern=\"[0-9]{6}\" required></label>"
            "<button type=\"submit\">Verify</button></form>";
    return html(200, page("Two-step verification", body));
  }
  Response consent_page(const AuthorizeRequest& ar, const std::string& csrf) const {
    std::string items;
    for (const auto& s : ar.scopes) items += "<li>" + html_escaped(s) + "</li>";
    std::string body = "<p>" + html_escaped(ar.client->name) + " would like to:</p><ul>" + items +
                       "</ul>"
                       "<form method=\"post\" action=\"/oauth2/authorize\">" +
                       hidden_fields(ar, csrf) +
                       "<input type=\"hidden\" name=\"step\" value=\"consent\">"
                       "<button name=\"decision\" value=\"allow\">Allow</button>"
                       "<button name=\"decision\" value=\"deny\">Deny</button></form>";
    return html(200, page("Allow access?", body));
  }

  // --- the request ---------------------------------------------------------------------
  // Checks the parameters; a Problem before the redirect URI is trusted (shown here), a
  // redirect with an error after.
  std::variant<AuthorizeRequest, Problem, Response> parse(const Fields& f) const {
    AuthorizeRequest ar;
    for (const char* name :
         {"response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
          "code_challenge_method", "prompt", "max_age"})
      if (auto it = f.find(name); it != f.end()) ar.raw.emplace(it->first, it->second);
    ar.client = core.client(field(f, "client_id"));
    if (!ar.client) return Problem{"invalid_client", "unknown client_id"};
    ar.redirect_uri = field(f, "redirect_uri");
    auto& uris = ar.client->redirect_uris;
    if (std::find(uris.begin(), uris.end(), ar.redirect_uri) == uris.end())
      return Problem{"invalid_request", "redirect_uri is not one registered for this client"};
    ar.state = field(f, "state");
    auto back = [&](std::string error, std::string description) -> Response {
      return redirect_error(ar, std::move(error), std::move(description));
    };
    if (field(f, "response_type") != "code")
      return back("unsupported_response_type", "only response_type=code is supported");
    ar.challenge = field(f, "code_challenge");
    if (ar.challenge.empty())
      return back("invalid_request", "PKCE is required: send code_challenge (S256)");
    if (field(f, "code_challenge_method") != "S256")
      return back("invalid_request", "code_challenge_method must be S256");
    if (ar.challenge.size() != 43 || !svckit::auth::base64url_decode(ar.challenge))
      return back("invalid_request", "code_challenge is not a base64url SHA-256");
    ar.scopes = scope_set(field(f, "scope"));
    for (const auto& s : ar.scopes)
      if (std::find(ar.client->scopes.begin(), ar.client->scopes.end(), s) ==
          ar.client->scopes.end())
        return back("invalid_scope", "the client may not ask for \"" + s + "\"");
    ar.nonce = field(f, "nonce");
    if (ar.nonce.size() > 512 || ar.state.size() > 2048)
      return back("invalid_request", "state or nonce is too long");
    ar.prompt = field(f, "prompt");
    if (!ar.prompt.empty() && ar.prompt != "none" && ar.prompt != "login" && ar.prompt != "consent")
      return back("invalid_request", "prompt must be none, login or consent");
    if (auto age = field(f, "max_age"); !age.empty()) {
      std::int64_t v = -1;
      auto [p, ec] = std::from_chars(age.data(), age.data() + age.size(), v);
      if (ec != std::errc() || p != age.data() + age.size() || v < 0)
        return back("invalid_request", "max_age must be a number of seconds");
      ar.max_age = v;
    }
    return ar;
  }

  Response redirect_to(const AuthorizeRequest& ar, const std::string& query) const {
    auto r = Response::empty(302);
    auto sep = ar.redirect_uri.find('?') == std::string::npos ? "?" : "&";
    r.set_header("Location", ar.redirect_uri + sep + query);
    r.set_header("Cache-Control", "no-store");
    return r;
  }
  Response redirect_error(const AuthorizeRequest& ar, std::string error,
                          std::string description) const {
    std::string q = "error=" + svckit::http::percent_encode(error) +
                    "&error_description=" + svckit::http::percent_encode(description);
    if (!ar.state.empty()) q += "&state=" + svckit::http::percent_encode(ar.state);
    return redirect_to(ar, q);
  }

  std::string csrf_for(const std::string& seed) const {
    return svckit::auth::base64url_encode(svckit::auth::hmac_sha256(csrf_key, "csrf:" + seed));
  }

  // The signed-in browser session, when its cookie ("<session id>.<secret>") names one that
  // lives and holds that secret's hash. Session ids appear in tokens and lists; the secret only
  // in this cookie, so neither a token nor an API session signs a browser in.
  Task<std::optional<Session>> browser_session(const Request& req) {
    auto value = cookie(req, kSessionCookie);
    if (!value || value->size() > 128) co_return std::nullopt;
    auto dot = value->find('.');
    if (dot == std::string::npos) co_return std::nullopt;
    auto secret = value->substr(dot + 1);
    auto s = co_await core.sessions->find(value->substr(0, dot), req.deadline());
    if (!s || s->cookie_hash.empty() ||
        !svckit::auth::equal_in_constant_time(s->cookie_hash, svckit::auth::sha256_hex({secret})))
      co_return std::nullopt;
    co_return s;
  }

  // Signed in: consent (remembered per client), then the code.
  Task<Response> finish(const Request& req, const AuthorizeRequest& ar, const Session& session,
                        std::string csrf_seed, bool consented) {
    auto user = co_await core.active_user(session.user_id);
    if (!consented) {
      auto granted = co_await core.store->consent(user.id, ar.client->id);
      auto have = scope_set(granted.value_or(""));
      bool covered =
          granted && std::includes(have.begin(), have.end(), ar.scopes.begin(), ar.scopes.end());
      if (!covered || ar.prompt == "consent") {
        if (ar.prompt == "none")
          co_return redirect_error(ar, "consent_required", "the user has not allowed this client");
        co_return consent_page(ar, csrf_for(csrf_seed));
      }
    }
    auto code = svckit::auth::base64url_encode(svckit::auth::random_bytes(32));
    json grant = {{"client_id", ar.client->id},
                  {"redirect_uri", ar.redirect_uri},
                  {"user_id", user.id},
                  {"scope", scope_text(ar.scopes)},
                  {"nonce", ar.nonce},
                  {"challenge", ar.challenge},
                  {"auth_time", session.auth_time},
                  {"amr", session.amr}};
    std::chrono::milliseconds ttl = std::chrono::seconds(kCodeTtl);
    co_await core.kv->set("auth:code:" + code_key(code), grant.dump(), ttl, req.deadline());
    co_await core.audit(req, "oidc.authorize", "success", user.id, ar.client->id);
    std::string q = "code=" + svckit::http::percent_encode(code);
    if (!ar.state.empty()) q += "&state=" + svckit::http::percent_encode(ar.state);
    q += "&iss=" + svckit::http::percent_encode(core.issuer_for(req));  // RFC 9207
    co_return redirect_to(ar, q);
  }

  Task<Response> authorize_get(Request& req) {
    auto parsed = parse(form_fields(req.query()));
    if (auto* p = std::get_if<Problem>(&parsed)) co_return error_page(*p);
    if (auto* r = std::get_if<Response>(&parsed)) co_return std::move(*r);
    auto& ar = std::get<AuthorizeRequest>(parsed);
    auto seed = cookie(req, kCsrfCookie).value_or("");
    bool fresh_seed = seed.size() != 43;
    if (fresh_seed) seed = svckit::auth::base64url_encode(svckit::auth::random_bytes(32));
    Response answer = Response::empty(500);
    auto session = co_await browser_session(req);
    bool too_old = session && ar.max_age && unix_now() - session->auth_time > *ar.max_age;
    if (session && ar.prompt != "login" && !too_old) {
      answer = co_await finish(req, ar, *session, seed, false);
    } else if (ar.prompt == "none") {
      answer = redirect_error(ar, "login_required", "the user is not signed in");
    } else {
      answer = login_page(ar, csrf_for(seed));
    }
    if (fresh_seed)
      answer.set_header("Set-Cookie", std::string(kCsrfCookie) + "=" + seed +
                                          "; Path=/oauth2; HttpOnly; SameSite=Lax" + secure());
    co_return answer;
  }

  std::string secure() const { return core.oidc_issuer.starts_with("https://") ? "; Secure" : ""; }

  Task<Response> authorize_post(Request& req) {
    auto f = form_fields(req.body());
    auto parsed = parse(f);
    if (auto* p = std::get_if<Problem>(&parsed)) co_return error_page(*p);
    if (auto* r = std::get_if<Response>(&parsed)) co_return std::move(*r);
    auto& ar = std::get<AuthorizeRequest>(parsed);
    // The form came from a page this provider served to this browser (login CSRF, consent
    // clickjacking by a cross-site POST).
    auto seed = cookie(req, kCsrfCookie).value_or("");
    if (seed.size() != 43 ||
        !svckit::auth::equal_in_constant_time(csrf_for(seed), field(f, "csrf")))
      co_return error_page(Problem{"invalid_request", "the form expired: start the sign-in again"});
    auto step = field(f, "step");
    if (step == "login") co_return co_await login_step(req, ar, f, seed);
    if (step == "mfa") co_return co_await mfa_step(req, ar, f, seed);
    if (step == "consent") {
      auto session = co_await browser_session(req);
      if (!session) co_return login_page(ar, csrf_for(seed), "Your session ended: sign in again.");
      if (field(f, "decision") != "allow") {
        co_await core.audit(req, "oidc.consent", "denied", session->user_id, ar.client->id);
        co_return redirect_error(ar, "access_denied", "the user did not allow access");
      }
      auto granted = co_await core.store->consent(session->user_id, ar.client->id);
      auto all = scope_set(granted.value_or(""));
      all.insert(ar.scopes.begin(), ar.scopes.end());
      co_await core.store->grant(session->user_id, ar.client->id, scope_text(all));
      co_await core.audit(req, "oidc.consent", "success", session->user_id, ar.client->id);
      co_return co_await finish(req, ar, *session, seed, true);
    }
    co_return error_page(Problem{"invalid_request", "unknown step"});
  }

  Task<Response> signed_in(const Request& req, const AuthorizeRequest& ar, const User& user,
                           Proof proof, const std::string& seed) {
    auto device =
        "browser: " + std::string(req.header("User-Agent").value_or("unknown")).substr(0, 180);
    auto secret = svckit::auth::base64url_encode(svckit::auth::random_bytes(32));
    NewSession what{std::move(proof), std::move(device)};
    what.cookie_hash = svckit::auth::sha256_hex({secret});
    auto opened = co_await core.open_session(req, user, std::move(what));
    co_await core.audit(req, "login", "success", user.id, user.id);
    auto answer = co_await finish(req, ar, opened.session, seed, false);
    answer.set_header("Set-Cookie", std::string(kSessionCookie) + "=" + opened.session.id + "." +
                                        secret + "; Path=/oauth2; HttpOnly; SameSite=Lax" +
                                        secure());
    co_return answer;
  }

  Task<Response> login_step(const Request& req, const AuthorizeRequest& ar, const Fields& f,
                            const std::string& seed) {
    auto email = field(f, "email");
    auto password = field(f, "password");
    if (email.empty() || email.size() > 320 || password.empty() || password.size() > 1024)
      co_return login_page(ar, csrf_for(seed), "Enter your email and password.");
    auto account = identity::account_hash(email);
    if (co_await core.login_throttle->over_limit(account, req.deadline())) {
      co_await core.audit(req, "login", "locked", std::nullopt, account);
      co_return login_page(ar, csrf_for(seed), "Too many failed sign-ins: try again later.");
    }
    auto user = co_await core.users->user_by_email(email);
    std::optional<std::string> hash;
    if (user) hash = user->password_hash;
    if (!co_await core.hasher->verify(std::move(password), std::move(hash))) {
      co_await core.audit(req, "login", "failure", std::nullopt, account);
      co_return login_page(ar, csrf_for(seed), "Wrong email or password.");
    }
    co_await core.login_throttle->clear(account, req.deadline());
    auto state = co_await core.store->account(user->id);
    if (state.disabled) co_return login_page(ar, csrf_for(seed), "The account is disabled.");
    if (state.totp)
      co_return mfa_page(ar, csrf_for(seed), core.mfa_token(*user, "browser", {"pwd"}));
    std::vector<std::string> amr{"pwd"};
    Proof proof{unix_now(), std::move(amr)};
    co_return co_await signed_in(req, ar, *user, std::move(proof), seed);
  }

  Task<Response> mfa_step(const Request& req, const AuthorizeRequest& ar, const Fields& f,
                          const std::string& seed) {
    auto mfa_token = field(f, "mfa_token");
    std::string user_id;
    std::vector<std::string> amr;
    try {
      auto verified = core.mfa_verifier->verify(mfa_token);
      user_id = verified.subject();
      amr = verified.claims.strings("amr").value_or(std::vector<std::string>{"pwd"});
    } catch (const svckit::auth::TokenError&) {
      co_return login_page(ar, csrf_for(seed), "That took too long: sign in again.");
    }
    auto user = co_await core.active_user(user_id);
    if (co_await core.mfa_throttle->over_limit(user.id, req.deadline()))
      co_return login_page(ar, csrf_for(seed), "Too many wrong codes: try again later.");
    auto account = co_await core.store->account(user.id);
    std::optional<std::string> code = field(f, "code");
    std::optional<std::string> none;
    if (!co_await core.second_factor(account, code, none)) {
      co_await core.audit(req, "login.mfa", "failure", user.id, user.id);
      co_return mfa_page(ar, csrf_for(seed), mfa_token, "Wrong or used code: try the next one.");
    }
    co_await core.mfa_throttle->clear(user.id, req.deadline());
    amr.push_back("otp");  // after the first factor the MFA token carries
    Proof proof{unix_now(), std::move(amr)};
    co_return co_await signed_in(req, ar, user, std::move(proof), seed);
  }

  // --- the token endpoint --------------------------------------------------------------
  // The client the request authenticates as (RFC 6749 §2.3): HTTP Basic or the form's
  // client_id/client_secret; a public client by client_id alone.
  std::variant<const OidcClient*, OAuthError> authenticate(const Request& req,
                                                           const Fields& f) const {
    std::string id = field(f, "client_id"), secret = field(f, "client_secret");
    bool basic = false;
    if (auto h = req.header("Authorization"); h && svckit::http::istarts_with(*h, "Basic ")) {
      // Basic is standard base64 with padding: the same bytes as base64url once translated.
      std::string encoded(h->substr(6));
      for (auto& c : encoded) c = c == '+' ? '-' : c == '/' ? '_' : c;
      while (!encoded.empty() && encoded.back() == '=') encoded.pop_back();
      auto decoded = svckit::auth::base64url_decode(encoded);
      if (!decoded) return OAuthError{401, "invalid_client", "malformed Basic credentials"};
      const std::string& text = *decoded;
      auto colon = text.find(':');
      if (colon == std::string::npos)
        return OAuthError{401, "invalid_client", "malformed Basic credentials"};
      id = svckit::http::percent_decode(text.substr(0, colon));
      secret = svckit::http::percent_decode(text.substr(colon + 1));
      basic = true;
    }
    const auto* client = core.client(id);
    if (!client) return OAuthError{401, "invalid_client", "unknown client"};
    if (client->secret_hash) {
      if (secret.empty() || !svckit::auth::equal_in_constant_time(
                                *client->secret_hash, svckit::auth::sha256_hex({secret})))
        return OAuthError{401, "invalid_client", "wrong client credentials"};
    } else if (basic || !secret.empty()) {
      return OAuthError{401, "invalid_client", "a public client has no secret"};
    }
    return client;
  }

  std::string id_token(const Request& req, const User& user, const Account& account,
                       const OidcClient& client, const Session& session, const std::string& nonce,
                       const std::string& access_token) const {
    auto now = unix_now();
    json claims = {{"iss", core.issuer_for(req)},
                   {"sub", user.id},
                   {"aud", client.id},
                   {"azp", client.id},
                   {"iat", now},
                   {"exp", now + core.access_ttl},
                   {"auth_time", session.auth_time},
                   {"amr", session.amr},
                   {"sid", session.id},
                   {"at_hash", sha256_base64url(access_token).substr(0, 22)}};
    if (!nonce.empty()) claims["nonce"] = nonce;
    add_claims(claims, user, account, scope_set(session.scope));
    return svckit::auth::sign(claims, *core.id_token_key);
  }

  static void add_claims(json& claims, const User& user, const Account& account,
                         const std::set<std::string>& scopes) {
    if (scopes.contains("email")) {
      claims["email"] = user.email;
      claims["email_verified"] = false;  // no verification flow yet
    }
    if (scopes.contains("profile")) {
      claims["name"] = account.profile.value("name", user.name);
      for (const char* k : {"locale", "zoneinfo", "picture"})
        if (account.profile.contains(k)) claims[k] = account.profile[k];
    }
  }

  Response token_answer(const Request& req, const User& user, const Account& account,
                        const OidcClient& client, const Session& session,
                        const IssuedTokens& tokens, const std::string& nonce) const {
    auto scopes = scope_set(session.scope);
    json body = {{"access_token", tokens.access_token},
                 {"token_type", "Bearer"},
                 {"expires_in", core.access_ttl},
                 {"scope", session.scope}};
    if (scopes.contains("offline_access")) body["refresh_token"] = tokens.refresh_token;
    if (scopes.contains("openid"))
      body["id_token"] = id_token(req, user, account, client, session, nonce, tokens.access_token);
    auto r = Response::json(200, body);
    r.set_header("Cache-Control", "no-store");
    r.set_header("Pragma", "no-cache");
    return r;
  }

  Task<Response> token(Request& req) {
    auto ct = req.header("Content-Type").value_or("");
    if (!svckit::http::istarts_with(ct, "application/x-www-form-urlencoded"))
      co_return oauth_error(
          {400, "invalid_request", "the body must be application/x-www-form-urlencoded"});
    Fields f;
    try {
      f = form_fields(req.body());
    } catch (const svckit::BadRequest& e) {
      co_return oauth_error({400, "invalid_request", e.detail()});
    }
    auto who = authenticate(req, f);
    if (auto* e = std::get_if<OAuthError>(&who)) co_return oauth_error(*e);
    const OidcClient& client = *std::get<const OidcClient*>(who);
    auto grant = field(f, "grant_type");
    if (grant == "authorization_code") co_return co_await code_grant(req, client, f);
    if (grant == "refresh_token") co_return co_await refresh_grant(req, client, f);
    co_return oauth_error(
        {400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token"});
  }

  Task<Response> code_grant(const Request& req, const OidcClient& client, const Fields& f) {
    auto code = field(f, "code");
    if (code.empty() || code.size() > 128)
      co_return oauth_error({400, "invalid_request", "code is missing"});
    auto key = code_key(code);
    auto raw = co_await core.kv->get("auth:code:" + key, req.deadline());
    // A code works once: whoever erases it first has it. A second use ends the session the
    // first made (RFC 6749 §4.1.2: the code may have been stolen).
    bool taken = false;
    if (raw) taken = co_await core.kv->erase("auth:code:" + key, req.deadline());
    if (!taken) {
      if (auto sid = co_await core.kv->get("auth:code-used:" + key, req.deadline()))
        co_await core.sessions->end(*sid, req.deadline());
      co_return oauth_error({400, "invalid_grant", "the code is unknown, expired or used"});
    }
    auto g = json::parse(*raw);
    if (g["client_id"] != client.id)
      co_return oauth_error({400, "invalid_grant", "the code was issued to another client"});
    if (g["redirect_uri"] != field(f, "redirect_uri"))
      co_return oauth_error(
          {400, "invalid_grant", "redirect_uri differs from the authorization request's"});
    auto verifier = field(f, "code_verifier");
    if (!pkce_verifier_ok(verifier) ||
        !svckit::auth::equal_in_constant_time(sha256_base64url(verifier),
                                              g["challenge"].get<std::string>()))
      co_return oauth_error({400, "invalid_grant", "code_verifier does not match code_challenge"});
    auto user = co_await core.active_user(g["user_id"].get<std::string>());
    auto account = co_await core.store->account(user.id);
    Proof proof{g["auth_time"].get<std::int64_t>(), g["amr"].get<std::vector<std::string>>()};
    NewSession what{std::move(proof), "oidc: " + client.name, client.id,
                    g["scope"].get<std::string>()};
    auto opened = co_await core.open_session(req, user, std::move(what));
    std::chrono::milliseconds ttl = std::chrono::seconds(kCodeTtl * 10);
    co_await core.kv->set("auth:code-used:" + key, opened.session.id, ttl, req.deadline());
    co_await core.audit(req, "oidc.token", "success", user.id, client.id);
    co_return token_answer(req, user, account, client, opened.session, opened.tokens,
                           g["nonce"].get<std::string>());
  }

  Task<Response> refresh_grant(const Request& req, const OidcClient& client, const Fields& f) {
    std::string sid, used, subject;
    try {
      auto verified = core.refresh_verifier->verify(field(f, "refresh_token"));
      sid = std::string(verified.claims.string("sid").value_or(""));
      used = std::string(verified.claims.string("jti").value_or(""));
      subject = verified.subject();
    } catch (const svckit::auth::TokenError& e) {
      co_return oauth_error({400, "invalid_grant", e.what()});
    }
    auto session = co_await core.sessions->find(sid, req.deadline());
    if (!session || session->client_id != client.id)
      co_return oauth_error({400, "invalid_grant", "the session has ended"});
    auto user = co_await core.active_user(subject);
    auto account = co_await core.store->account(user.id);
    auto tokens = core.issue(user, *session);
    auto access = std::make_pair(tokens.access_id, tokens.access_expires);
    auto outcome =
        co_await core.sessions->rotate(sid, used, tokens.refresh_id, access, req.deadline());
    if (outcome == Rotation::reused) {
      json detail = {{"session", sid}, {"client_id", client.id}};
      co_await core.audit(req, "token.refresh", "reused", std::nullopt, user.id, std::move(detail));
      co_return oauth_error(
          {400, "invalid_grant", "the refresh token was used already; the session is ended"});
    }
    if (outcome == Rotation::ended)
      co_return oauth_error({400, "invalid_grant", "the session has ended"});
    co_return token_answer(req, user, account, client, *session, tokens, "");
  }

  Task<Response> userinfo(Request& req) {
    const auto& who = *svckit::auth::principal(req);
    auto user = co_await core.active_user(who.id);
    auto account = co_await core.store->account(user.id);
    json claims = {{"sub", user.id}};
    // A token of the service's own login (no client, no scope) sees what openid email profile
    // would.
    std::set<std::string> scopes{"openid", "email", "profile"};
    if (who.claims)
      if (auto scope = who.claims->string("scope")) scopes = scope_set(*scope);
    if (!scopes.contains("openid")) {
      auto r = Response::json(403, {{"error", "insufficient_scope"},
                                    {"error_description", "the token was not granted openid"}});
      r.set_header("WWW-Authenticate", "Bearer error=\"insufficient_scope\", scope=\"openid\"");
      co_return r;
    }
    add_claims(claims, user, account, scopes);
    co_return Response::json(200, claims);
  }

  Task<Response> discovery(Request& req) {
    auto issuer = core.issuer_for(req);
    json doc = {{"issuer", issuer},
                {"authorization_endpoint", issuer + "/oauth2/authorize"},
                {"token_endpoint", issuer + "/oauth2/token"},
                {"userinfo_endpoint", issuer + "/oauth2/userinfo"},
                {"jwks_uri", issuer + "/oauth2/jwks"},
                {"response_types_supported", json::array({"code"})},
                {"response_modes_supported", json::array({"query"})},
                {"grant_types_supported", json::array({"authorization_code", "refresh_token"})},
                {"subject_types_supported", json::array({"public"})},
                {"id_token_signing_alg_values_supported", json::array({"ES256"})},
                {"scopes_supported", json::array({"openid", "profile", "email", "offline_access"})},
                {"token_endpoint_auth_methods_supported",
                 json::array({"client_secret_basic", "client_secret_post", "none"})},
                {"code_challenge_methods_supported", json::array({"S256"})},
                {"prompt_values_supported", json::array({"none", "login", "consent"})},
                {"claims_supported",
                 json::array({"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid",
                              "email", "email_verified", "name", "locale", "zoneinfo", "picture"})},
                {"authorization_response_iss_parameter_supported", true}};
    auto r = Response::json(200, doc);
    r.set_header("Cache-Control", "public, max-age=300");
    co_return r;
  }

  Task<Response> jwks(Request&) {
    std::vector<svckit::auth::Key> keys{*core.id_token_key};
    if (core.signing_key->algorithm() != svckit::auth::Algorithm::HS256)
      keys.push_back(*core.signing_key);
    auto r = Response::json(200, svckit::auth::KeySet(keys).public_jwks());
    r.set_header("Cache-Control", "public, max-age=300");
    co_return r;
  }
};

}  // namespace

void install_oidc_provider(AuthCore& core, svckit::App& app) {
  auto* p = &app.keep("auth:oidc", std::make_shared<OidcProvider>(core, core.csrf_key));
  using svckit::http::bind;
  auto bearer = svckit::auth::bearer(core.bearer_options);
  app.http()
      .group("/.well-known")
      .get("/openid-configuration", bind(p, &OidcProvider::discovery))
      .summary("OpenID Connect discovery");
  auto oauth = app.http().group("/oauth2", {core.per_client});
  oauth.get("/jwks", bind(p, &OidcProvider::jwks)).summary("The keys ID tokens are signed with");
  oauth.get("/authorize", bind(p, &OidcProvider::authorize_get))
      .summary("Authorization endpoint (code + PKCE S256): sign-in and consent pages");
  oauth.post("/authorize", core.login_limit, bind(p, &OidcProvider::authorize_post))
      .summary("The sign-in, second-factor and consent forms");
  oauth.post("/token", core.login_limit, bind(p, &OidcProvider::token))
      .summary("Token endpoint: authorization_code (with code_verifier) and refresh_token");
  oauth.get("/userinfo", bearer, bind(p, &OidcProvider::userinfo)).summary("The user's claims");
  oauth.post("/userinfo", bearer, bind(p, &OidcProvider::userinfo)).summary("The user's claims");
}

}  // namespace raptorflow::auth
