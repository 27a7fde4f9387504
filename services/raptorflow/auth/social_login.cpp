// Social login: this service as an OpenID Connect client of external providers (AUTH_SOCIAL_
// PROVIDERS). /start sends the browser to the provider with state, nonce and PKCE; /callback
// exchanges the code, verifies the ID token against the provider's published keys, and signs
// the user in — the account linked to the provider's subject, else one with the provider's
// verified email, else a new one.
#include <mutex>

#include <svckit/auth/api_key.hpp>
#include <svckit/error.hpp>
#include <svckit/http/client.hpp>
#include <svckit/http/route_doc.hpp>
#include <svckit/ids.hpp>

#include "auth_core.hpp"

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;
using svckit::http::Request;
using svckit::http::Response;

constexpr std::chrono::seconds kStateTtl{600};

struct Provider {
  std::string name, issuer, client_id, client_secret, scope, redirect_uri;
};

// "https://host:port/path" as origin and path.
std::pair<std::string, std::string> split_url(const std::string& url) {
  auto scheme = url.find("://");
  auto slash = scheme == std::string::npos ? std::string::npos : url.find('/', scheme + 3);
  if (slash == std::string::npos) return {url, "/"};
  return {url.substr(0, slash), url.substr(slash)};
}

struct SocialLogin {
  AuthCore& core;
  std::vector<Provider> providers;
  svckit::meter::Meter* meter = nullptr;

  // What a provider publishes, fetched once (and again when its keys have changed).
  struct Published {
    std::string authorization_endpoint, token_endpoint;
    std::shared_ptr<const svckit::auth::Verifier> verifier;
  };
  std::mutex mutex;
  std::map<std::string, Published, std::less<>> published;
  std::map<std::string, std::unique_ptr<svckit::http::Client>, std::less<>> clients;

  svckit::http::Client& client_for(const std::string& origin) {
    std::lock_guard lock(mutex);
    auto& c = clients[origin];
    if (!c)
      c = std::make_unique<svckit::http::Client>(
          origin, svckit::http::ClientOptions{.name = "social:" + origin, .metrics = meter});
    return *c;
  }

  const Provider& provider(const std::string& name) const {
    for (const auto& p : providers)
      if (p.name == name) return p;
    throw svckit::NotFound("no social login provider '" + name + "'");
  }

  Task<json> fetch_json(const std::string& url, const Request& req) {
    auto [origin, path] = split_url(url);
    auto answer = co_await client_for(origin).get(path, &req.context());
    if (answer.status != 200)
      throw svckit::ServiceUnavailable(url + " answered " + std::to_string(answer.status), 5);
    co_return answer.json();
  }

  Task<Published> discover(const Provider& p, const Request& req, bool again = false) {
    {
      std::lock_guard lock(mutex);
      if (auto it = published.find(p.name); it != published.end() && !again) co_return it->second;
    }
    auto doc = co_await fetch_json(p.issuer + "/.well-known/openid-configuration", req);
    if (doc.value("issuer", "") != p.issuer)
      throw svckit::ServiceUnavailable(p.name + "'s discovery names another issuer", 5);
    auto jwks = co_await fetch_json(doc.value("jwks_uri", ""), req);
    svckit::auth::VerifyOptions options;
    options.issuer = p.issuer;
    options.audiences = {p.client_id};
    Published made{
        doc.value("authorization_endpoint", ""), doc.value("token_endpoint", ""),
        std::make_shared<svckit::auth::Verifier>(svckit::auth::KeySet::from_jwks(jwks), options)};
    std::lock_guard lock(mutex);
    published[p.name] = made;
    co_return made;
  }

  std::string redirect_uri(const Provider& p, const Request& req) const {
    return p.redirect_uri.empty()
               ? core.issuer_for(req) + "/api/v1/auth/social/" + p.name + "/callback"
               : p.redirect_uri;
  }

  Task<Response> start(Request& req) {
    const auto& p = provider(req.param("provider"));
    auto at = co_await discover(p, req);
    auto state = svckit::auth::base64url_encode(svckit::auth::random_bytes(32));
    auto nonce = svckit::auth::base64url_encode(svckit::auth::random_bytes(16));
    auto verifier = svckit::auth::base64url_encode(svckit::auth::random_bytes(48));
    std::string device = req.query_param("device").value_or("social: " + p.name).substr(0, 200);
    json pending = {
        {"provider", p.name}, {"nonce", nonce}, {"verifier", verifier}, {"device", device}};
    std::chrono::milliseconds ttl = kStateTtl;
    co_await core.kv->set("auth:social:" + state, pending.dump(), ttl, req.deadline());
    auto location = at.authorization_endpoint +
                    "?response_type=code&client_id=" + svckit::http::percent_encode(p.client_id) +
                    "&redirect_uri=" + svckit::http::percent_encode(redirect_uri(p, req)) +
                    "&scope=" + svckit::http::percent_encode(p.scope) + "&state=" + state +
                    "&nonce=" + nonce + "&code_challenge=" + sha256_base64url(verifier) +
                    "&code_challenge_method=S256";
    auto r = Response::empty(302);
    r.set_header("Location", location);
    r.set_header("Cache-Control", "no-store");
    co_return r;
  }

  Task<Response> callback(Request& req) {
    const auto& p = provider(req.param("provider"));
    auto state = req.query_param("state").value_or("");
    if (state.empty() || state.size() > 64) throw svckit::BadRequest("state is missing");
    auto raw = co_await core.kv->get("auth:social:" + state, req.deadline());
    // A state works once (whoever erases it first).
    bool taken = false;
    if (raw) taken = co_await core.kv->erase("auth:social:" + state, req.deadline());
    if (!taken) throw svckit::BadRequest("unknown or used state: start the sign-in again");
    auto pending = json::parse(*raw);
    if (pending["provider"] != p.name) throw svckit::BadRequest("the state is another provider's");
    if (auto error = req.query_param("error"))
      throw svckit::Unauthorized(p.name + " did not sign the user in: " + error->substr(0, 64));
    auto code = req.query_param("code").value_or("");
    if (code.empty() || code.size() > 2048) throw svckit::BadRequest("code is missing");
    auto at = co_await discover(p, req);

    svckit::http::ClientRequest exchange;
    exchange.method = svckit::http::Method::post;
    exchange.target = split_url(at.token_endpoint).second;
    exchange.content_type = "application/x-www-form-urlencoded";
    // client_secret_post: what every provider this targets accepts.
    exchange.body = "grant_type=authorization_code&code=" + svckit::http::percent_encode(code) +
                    "&redirect_uri=" + svckit::http::percent_encode(redirect_uri(p, req)) +
                    "&code_verifier=" + pending["verifier"].get<std::string>() +
                    "&client_id=" + svckit::http::percent_encode(p.client_id) +
                    "&client_secret=" + svckit::http::percent_encode(p.client_secret);
    exchange.context = &req.context();
    exchange.idempotent = false;  // a code works once
    auto answer = co_await client_for(split_url(at.token_endpoint).first).send(std::move(exchange));
    auto tokens = json::parse(answer.body, nullptr, false);
    if (answer.status != 200 || !tokens.is_object() || !tokens.contains("id_token") ||
        !tokens["id_token"].is_string())
      throw svckit::Unauthorized(p.name + " refused the code");
    auto id_token = tokens["id_token"].get<std::string>();
    std::optional<svckit::auth::Token> id;
    try {
      id = at.verifier->verify(id_token);
    } catch (const svckit::auth::TokenError&) {
    }
    if (!id) {  // the provider may have rotated its keys
      at = co_await discover(p, req, true);
      id = at.verifier->verify(id_token);
    }
    if (id->claims.string("nonce").value_or("") != pending["nonce"].get<std::string>())
      throw svckit::Unauthorized("the ID token is not this sign-in's (nonce)");
    auto user = co_await local_user(p, *id);
    auto account = co_await core.store->account(user.id);
    if (account.disabled) throw svckit::Forbidden("the account is disabled");
    std::vector<std::string> amr{"fed"};
    auto device = pending["device"].get<std::string>();
    if (account.totp) {
      json body = {{"mfa_required", true},
                   {"mfa_token", core.mfa_token(user, device, amr)},
                   {"methods", json::array({"totp", "recovery_code"})},
                   {"expires_in", 300}};
      co_return Response::json(200, body);
    }
    Proof proof{unix_now(), std::move(amr)};
    NewSession what{std::move(proof), std::move(device)};
    auto opened = co_await core.open_session(req, user, std::move(what));
    json detail = {{"provider", p.name}};
    co_await core.audit(req, "login.social", "success", user.id, user.id, std::move(detail));
    co_return Response::json(200, core.token_json(opened.tokens, opened.session.id));
  }

  // The account for the provider's subject: linked before, else the one with its verified
  // email (linked now), else a new one. An unverified email that an account here has is
  // refused: anyone can claim an address at a provider that does not check it.
  Task<User> local_user(const Provider& p, const svckit::auth::Token& id) {
    auto subject = id.subject();
    if (subject.empty() || subject.size() > 255)
      throw svckit::Unauthorized("the ID token names no subject");
    if (auto linked = co_await core.store->linked_user(p.name, subject))
      co_return co_await core.active_user(*linked);
    auto email = std::string(id.claims.string("email").value_or(""));
    bool verified =
        id.claims.contains("email_verified") && id.claims.value("email_verified") == json(true);
    if (email.empty() || email.size() > 320)
      throw svckit::Unauthorized(p.name + " gave no email for the account");
    if (auto existing = co_await core.users->user_by_email(email)) {
      if (!verified)
        throw svckit::Conflict("an account with this email exists here and " + p.name +
                               " has not verified the email: sign in with the password");
      co_await core.store->link(p.name, subject, existing->id);
      co_return *existing;
    }
    User made{svckit::uuid_v4(),
              email,
              std::string(id.claims.string("name").value_or(email)),
              // No password logs in to it: a bcrypt hash of nothing anyone knows.
              "",
              {"user"},
              svckit::utc_now_iso8601()};
    made.password_hash =
        co_await core.hasher->hash(svckit::auth::base64url_encode(svckit::auth::random_bytes(32)));
    co_await core.users->add_user(made);
    co_await core.store->link(p.name, subject, made.id);
    co_return made;
  }
};

std::vector<Provider> providers_from(const std::string& text) {
  std::vector<Provider> out;
  if (text.empty()) return out;
  auto fail = [](const std::string& why) {
    throw svckit::ConfigError("AUTH_SOCIAL_PROVIDERS", why);
  };
  auto j = json::parse(text, nullptr, false);
  if (!j.is_array()) fail("must be a JSON array of providers");
  for (const auto& p : j) {
    auto text_of = [&](const char* name, bool required) {
      if (!p.is_object() || (p.contains(name) && !p[name].is_string()) ||
          (required && !p.contains(name)))
        fail(std::string("each provider needs a string \"") + name + "\"");
      return p.value(name, std::string());
    };
    Provider made{text_of("name", true),      text_of("issuer", true),
                  text_of("client_id", true), text_of("client_secret", true),
                  text_of("scope", false),    text_of("redirect_uri", false)};
    if (made.scope.empty()) made.scope = "openid email profile";
    while (made.issuer.ends_with('/')) made.issuer.pop_back();
    if (!made.issuer.starts_with("https://") && !made.issuer.starts_with("http://"))
      fail("provider " + made.name + ": issuer must be an http(s) URL");
    out.push_back(std::move(made));
  }
  return out;
}

}  // namespace

void install_social_login(AuthCore& core, svckit::App& app) {
  auto providers = providers_from(app.settings().text("AUTH_SOCIAL_PROVIDERS"));
  if (providers.empty()) return;
  auto& social = app.keep("auth:social", std::make_shared<SocialLogin>(core));
  social.providers = std::move(providers);
  social.meter = &app.metrics();
  using svckit::http::bind;
  auto group = app.http().group("/api/v1/auth/social", {core.per_client});
  group.get("/{provider}/start", bind(&social, &SocialLogin::start))
      .summary("Sign in with an external OpenID provider: a redirect to it")
      .query("device", "what to call the session")
      .responds(302)
      .errors({404});
  group.get("/{provider}/callback", core.login_limit, bind(&social, &SocialLogin::callback))
      .summary("Where the provider sends the browser back: tokens, or the second step")
      .errors({400, 401, 403, 409});
}

}  // namespace raptorflow::auth
