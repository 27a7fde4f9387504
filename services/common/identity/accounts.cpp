#include "accounts.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <svckit/auth/api_key.hpp>
#include <svckit/error.hpp>
#include <svckit/http/ascii.hpp>
#include <svckit/settings.hpp>

namespace identity {

std::string account_hash(std::string_view email) {
  auto lowered = svckit::http::ascii_lowered(std::string(email));
  return svckit::auth::sha256_hex({"account:", lowered}).substr(0, 24);
}

std::string admin_password_weakness(std::string_view password, std::string_view email) {
  static constexpr std::array kCommon = {"password1234", "administrator", "changeme1234",
                                         "123456789012", "qwertyuiop12",  "letmein12345"};
  if (password.size() < 12) return "shorter than 12 characters";
  auto lower = svckit::http::ascii_lowered(std::string(password));
  if (lower == svckit::http::ascii_lowered(std::string(email))) return "the admin's email";
  if (std::all_of(lower.begin(), lower.end(), [&](char c) { return c == lower[0]; }))
    return "one character repeated";
  if (std::all_of(lower.begin(), lower.end(), [](unsigned char c) { return std::isdigit(c); }))
    return "digits only";
  if (std::all_of(lower.begin(), lower.end(), [](unsigned char c) { return std::isalpha(c); }))
    return "letters only";
  for (const char* common : kCommon)
    if (lower.starts_with(common)) return "a well-known password";
  return "";
}

svckit::auth::Key signing_key_from_settings(const svckit::Settings& config,
                                            std::string_view service, std::string_view key_file,
                                            std::string_view key_id) {
  try {
    if (auto secret = config.text("JWT_SECRET_KEY"); !secret.empty())
      return svckit::auth::Key::hmac(svckit::auth::Algorithm::HS256, secret);
    auto file = config.text(key_file);
    if (file.empty())
      throw svckit::ConfigError(
          "JWT_SECRET_KEY",
          std::string(service) + " needs JWT_SECRET_KEY (HS256) or " + std::string(key_file));
    auto alg_name = config.is_set("JWT_ALGORITHM") ? config.text("JWT_ALGORITHM") : "RS256";
    auto alg = svckit::auth::parse_algorithm(alg_name);
    if (!alg) throw svckit::ConfigError("JWT_ALGORITHM", "not a JWS algorithm: '" + alg_name + "'");
    auto key = svckit::auth::Key::from_pem_file(*alg, file, config.text(key_id));
    if (!key.can_sign())
      throw svckit::ConfigError(std::string(key_file),
                                "holds a public key; signing needs the private key");
    return key;
  } catch (const svckit::auth::KeyError& e) {
    throw svckit::ConfigError(
        config.text("JWT_SECRET_KEY").empty() ? std::string(key_file) : "JWT_SECRET_KEY", e.what());
  }
}

}  // namespace identity
