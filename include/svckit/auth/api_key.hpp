#pragma once
// API keys: "<tag>_<prefix>_<secret>". The prefix (12 hex digits) identifies the key and may be
// stored and shown; the secret is 256 random bits. Only a SHA-256 of the whole key is stored,
// and keys are compared by that hash in constant time.
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace svckit::auth {

struct NewApiKey {
  std::string key;     // shown to its owner once
  std::string prefix;  // for lookup and display
  std::string hash;    // hex SHA-256 of `key`: what is stored
};

NewApiKey generate_api_key(std::string_view tag = "sk");
// The prefix of a well-formed key, nullopt otherwise (so lookups never see arbitrary text).
std::optional<std::string> api_key_prefix(std::string_view key);
std::string api_key_hash(std::string_view key);
// Hex SHA-256 of the parts one after another (no copy of them into one string): for keys and
// fingerprints derived from long or secret text.
std::string sha256_hex(std::initializer_list<std::string_view> parts);
// Constant-time equality of two hashes.
bool same_hash(std::string_view a, std::string_view b);

// `bytes` bytes from the operating system's CSPRNG (OpenSSL RAND_bytes).
std::string random_bytes(std::size_t bytes);

}  // namespace svckit::auth
