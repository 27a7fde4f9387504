#include "webhook_signatures.hpp"

#include <charconv>
#include <memory>
#include <optional>

#include <openssl/evp.h>
#include <svckit/auth/hmac.hpp>
#include <svckit/hex.hpp>

namespace aether::integration_hub {
namespace {

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2) return std::nullopt;
  std::string out(hex.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
    if (ec != std::errc() || end != hex.data() + 2 * i + 2) return std::nullopt;
    out[i] = static_cast<char>(value);
  }
  return out;
}

std::string hmac_sha256_hex(std::string_view key, std::string_view message) {
  return svckit::to_hex(svckit::auth::hmac_sha256(key, message));
}

// `given` is "<prefix><lowercase hex>"; compared without an early exit.
Refusal compare(std::string_view given, std::string_view prefix, const std::string& expected) {
  if (!given.starts_with(prefix)) return "the signature does not start with " + std::string(prefix);
  given.remove_prefix(prefix.size());
  if (!svckit::auth::equal_in_constant_time(given, expected)) return "the signature does not match";
  return {};
}

Refusal check_window(std::string_view timestamp, std::int64_t now, std::int64_t window) {
  std::int64_t t = 0;
  auto [end, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), t);
  if (timestamp.empty() || ec != std::errc() || end != timestamp.data() + timestamp.size())
    return "the timestamp is not a number of seconds";
  if (t < now - window || t > now + window)
    return "the timestamp is outside the window (a replay, or a clock far off)";
  return {};
}

}  // namespace

Refusal check_github(std::string_view secret, std::string_view header, std::string_view body) {
  if (header.empty()) return "no X-Hub-Signature-256";
  return compare(header, "sha256=", hmac_sha256_hex(secret, body));
}

Refusal check_slack(std::string_view secret, std::string_view timestamp, std::string_view header,
                    std::string_view body, std::int64_t now, std::int64_t window) {
  if (header.empty() || timestamp.empty()) return "no X-Slack-Signature or timestamp";
  if (auto late = check_window(timestamp, now, window); !late.empty()) return late;
  std::string base = "v0:" + std::string(timestamp) + ":" + std::string(body);
  return compare(header, "v0=", hmac_sha256_hex(secret, base));
}

bool is_ed25519_public_key(std::string_view hex) {
  return hex.size() == 64 && from_hex(hex).has_value();
}

Refusal check_discord(std::string_view public_key_hex, std::string_view timestamp,
                      std::string_view signature_hex, std::string_view body, std::int64_t now,
                      std::int64_t window) {
  if (signature_hex.empty() || timestamp.empty()) return "no X-Signature-Ed25519 or timestamp";
  if (auto late = check_window(timestamp, now, window); !late.empty()) return late;
  auto key = from_hex(public_key_hex);
  auto signature = from_hex(signature_hex);
  if (!key || key->size() != 32) return "the integration's public key is not Ed25519";
  if (!signature || signature->size() != 64) return "the signature is not 64 bytes of hex";
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                  reinterpret_cast<const unsigned char*>(key->data()), 32),
      EVP_PKEY_free);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!pkey || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1)
    return "the integration's public key is unusable";
  std::string message = std::string(timestamp) + std::string(body);
  int ok =
      EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature->data()), 64,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size());
  return ok == 1 ? Refusal{} : Refusal{"the signature does not match"};
}

}  // namespace aether::integration_hub
