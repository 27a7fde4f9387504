#include "secret_box.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>

#include <svckit/hex.hpp>

namespace sealing {
namespace {

constexpr std::size_t kKey = 32, kNonce = 12, kTag = 16;

using Cipher = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    throw std::runtime_error("no random bytes from OpenSSL");
  return out;
}

const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// AES-256-GCM: nonce | ciphertext | tag.
std::string gcm_seal(std::string_view key, std::string_view plaintext,
                     std::string_view associated) {
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  const auto nonce = random_bytes(kNonce);
  std::string out = nonce;
  out.resize(kNonce + plaintext.size() + kTag);
  auto* at = reinterpret_cast<unsigned char*>(out.data()) + kNonce;
  int n = 0, m = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &n, bytes(associated),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), at, &n, bytes(plaintext), static_cast<int>(plaintext.size())) !=
          1 ||
      EVP_EncryptFinal_ex(ctx.get(), at + n, &m) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, at + plaintext.size()) != 1)
    throw std::runtime_error("AES-256-GCM sealing failed");
  return out;
}

std::optional<std::string> gcm_open(std::string_view key, std::string_view sealed,
                                    std::string_view associated) {
  if (sealed.size() < kNonce + kTag) return std::nullopt;
  const auto nonce = sealed.substr(0, kNonce);
  const auto body = sealed.substr(kNonce, sealed.size() - kNonce - kTag);
  std::string tag(sealed.substr(sealed.size() - kTag));
  Cipher ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  std::string out(body.size(), '\0');
  auto* at = reinterpret_cast<unsigned char*>(out.data());
  int n = 0, m = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, bytes(key), bytes(nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &n, bytes(associated),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), at, &n, bytes(body), static_cast<int>(body.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), at + n, &m) != 1)
    return std::nullopt;  // the tag did not match: tampered, moved, or another key
  return out;
}

std::string key_id(std::string_view key) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(bytes(key), key.size(), digest);
  return svckit::to_hex(std::string_view(reinterpret_cast<const char*>(digest), 8));
}

std::string wrap_context(const std::string& kek_id) {
  return "data-key:" + kek_id;
}

}  // namespace

SecretBox::SecretBox(std::vector<std::string> keks) : keks_(std::move(keks)) {
  for (const auto& k : keks_) {
    if (k.size() != kKey) throw std::invalid_argument("a key-encryption key must be 32 bytes");
    ids_.push_back(key_id(k));
  }
}

SecretBox SecretBox::from_text(std::string_view text) {
  std::vector<std::string> keys;
  std::size_t line = 0;
  while (!text.empty()) {
    auto cut = text.find_first_of(",\n");
    auto item = text.substr(0, cut);
    text.remove_prefix(cut == std::string_view::npos ? text.size() : cut + 1);
    ++line;
    while (!item.empty() && (item.back() == '\r' || item.back() == ' ')) item.remove_suffix(1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.empty() || item.front() == '#') continue;
    auto key = svckit::from_hex(item);
    if (!key || key->size() != kKey)
      throw std::invalid_argument("key " + std::to_string(line) +
                                  " is not 64 lower-case hex digits (openssl rand -hex 32)");
    keys.push_back(std::move(*key));
  }
  return SecretBox(std::move(keys));
}

const std::string* SecretBox::kek(const std::string& id) const {
  for (std::size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id) return &keks_[i];
  return nullptr;
}

Sealed SecretBox::seal(std::string_view plaintext, std::string_view associated) const {
  if (!ready()) throw SealError("no key-encryption key is configured");
  const auto data_key = random_bytes(kKey);
  Sealed s;
  s.kek_id = ids_.front();
  s.wrapped_key = gcm_seal(keks_.front(), data_key, wrap_context(s.kek_id));
  s.ciphertext = gcm_seal(data_key, plaintext, associated);
  return s;
}

std::string SecretBox::unwrap(const Sealed& sealed) const {
  const auto* key = kek(sealed.kek_id);
  if (!key) throw SealError("the key-encryption key " + sealed.kek_id + " is not loaded");
  auto data_key = gcm_open(*key, sealed.wrapped_key, wrap_context(sealed.kek_id));
  if (!data_key || data_key->size() != kKey) throw SealError("a data key failed to open");
  return std::move(*data_key);
}

std::string SecretBox::open(const Sealed& sealed, std::string_view associated) const {
  auto plain = gcm_open(unwrap(sealed), sealed.ciphertext, associated);
  if (!plain)
    throw SealError("a secret failed to open (tampered with, or stored under another name)");
  return std::move(*plain);
}

Sealed SecretBox::rewrap(const Sealed& sealed, std::string_view associated) const {
  const auto data_key = unwrap(sealed);
  if (!gcm_open(data_key, sealed.ciphertext, associated))
    throw SealError("a secret failed to open");
  Sealed out = sealed;
  out.kek_id = ids_.front();
  out.wrapped_key = gcm_seal(keks_.front(), data_key, wrap_context(out.kek_id));
  return out;
}

}  // namespace sealing
