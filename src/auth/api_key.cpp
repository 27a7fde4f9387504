#include "svckit/auth/api_key.hpp"

#include <openssl/rand.h>
#include <openssl/sha.h>

#include <stdexcept>

#include "svckit/auth/jwt.hpp"

namespace svckit::auth {
namespace {

constexpr std::size_t kPrefixHex = 12;

std::string hex(const unsigned char* data, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[data[i] >> 4];
    out[2 * i + 1] = kDigits[data[i] & 15];
  }
  return out;
}

}  // namespace

std::string random_bytes(std::size_t bytes) {
  std::string out(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(bytes)) != 1)
    throw std::runtime_error("the random number generator failed");
  return out;
}

NewApiKey generate_api_key(std::string_view tag) {
  auto prefix_bytes = random_bytes(kPrefixHex / 2);
  NewApiKey k;
  k.prefix = hex(reinterpret_cast<const unsigned char*>(prefix_bytes.data()), prefix_bytes.size());
  k.key = std::string(tag) + "_" + k.prefix + "_" + base64url_encode(random_bytes(32));
  k.hash = api_key_hash(k.key);
  return k;
}

std::optional<std::string> api_key_prefix(std::string_view key) {
  auto first = key.find('_');
  if (first == std::string_view::npos || first == 0 || first > 16) return std::nullopt;
  auto prefix = key.substr(first + 1, kPrefixHex);
  if (prefix.size() != kPrefixHex || key.size() < first + 1 + kPrefixHex + 1 + 43 ||
      key[first + 1 + kPrefixHex] != '_')
    return std::nullopt;
  for (char c : prefix)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  return std::string(prefix);
}

std::string api_key_hash(std::string_view key) {
  return sha256_hex({key});
}

std::string sha256_hex(std::initializer_list<std::string_view> parts) {
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  for (auto part : parts) SHA256_Update(&ctx, part.data(), part.size());
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256_Final(digest, &ctx);
  return hex(digest, sizeof digest);
}

bool same_hash(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace svckit::auth
