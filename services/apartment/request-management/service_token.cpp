#include "service_token.hpp"

#include <nlohmann/json.hpp>
#include <svckit/auth/jwt.hpp>
#include <svckit/config.hpp>
#include <svckit/ids.hpp>

namespace apartment::requests {
namespace {

constexpr std::chrono::seconds kLifetime{600};

}  // namespace

void ServiceToken::declare(svckit::Settings& settings) {
  settings.declare("request-management",
                   {.name = "SERVICE_TOKEN",
                    .type = svckit::SettingType::secret,
                    .help = "the bearer token for calls to AI Processing and Decision & "
                            "Simulation (default: one minted with JWT_SECRET_KEY)"});
}

ServiceToken::ServiceToken(const svckit::Settings& settings) {
  if (auto fixed = settings.text("SERVICE_TOKEN"); !fixed.empty()) {
    fixed_ = "Bearer " + fixed;
    return;
  }
  auto secret = settings.text("JWT_SECRET_KEY");
  if (secret.empty())
    throw svckit::ConfigError("SERVICE_TOKEN",
                              "Request Management needs a token for the services it calls: set "
                              "SERVICE_TOKEN, or JWT_SECRET_KEY to mint one");
  key_ = svckit::auth::Key::hmac(svckit::auth::Algorithm::HS256, secret);
  issuer_ = settings.text("JWT_ISSUER");
  audience_ = settings.text("JWT_AUDIENCE");
}

std::string ServiceToken::authorization() {
  if (fixed_) return *fixed_;
  auto now = std::chrono::system_clock::now();
  std::lock_guard lock(mutex_);
  if (!current_.empty() && now < renew_at_) return current_;
  auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  nlohmann::json claims = {
      {"sub", "request-management"},    {"roles", {"service"}},    {"type", "access"}, {"iat", iat},
      {"exp", iat + kLifetime.count()}, {"jti", svckit::uuid_v4()}};
  if (!issuer_.empty()) claims["iss"] = issuer_;
  if (!audience_.empty()) claims["aud"] = audience_.substr(0, audience_.find(','));
  current_ = "Bearer " + svckit::auth::sign(claims, *key_);
  renew_at_ = now + kLifetime / 2;
  return current_;
}

}  // namespace apartment::requests
