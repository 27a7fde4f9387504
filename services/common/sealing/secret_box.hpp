#pragma once
// Envelope encryption for stored secrets: each secret sealed with a data key of its own
// (AES-256-GCM, a fresh 96-bit nonce), the data key sealed with the key-encryption key (KEK,
// AES-256-GCM too). The database holds only sealed bytes and the KEK's id; the KEK lives in a
// file or the environment, never in the database. Rotating the KEK re-seals data keys only: the
// secrets' ciphertexts stay as they are.
//
// The associated data binds a ciphertext to the secret's name ("secret:billing/stripe-key"), so
// bytes moved from one row to another fail to open rather than answer another secret.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sealing {

struct Sealed {
  std::string kek_id;       // which KEK sealed the data key (16 hex digits of its SHA-256)
  std::string wrapped_key;  // nonce | sealed data key | tag
  std::string ciphertext;   // nonce | sealed secret | tag
};

// A sealed secret that does not open: tampered with, moved, or its KEK not loaded.
class SealError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SecretBox {
 public:
  // `keks`: 32-byte keys, the first the current one (new secrets and rotation seal with it), the
  // others still accepted for opening. Empty: the box seals nothing (secrets unavailable).
  explicit SecretBox(std::vector<std::string> keks);
  // From text: one key per line (or comma), each 64 hex digits. Throws std::invalid_argument
  // naming the line, never echoing a key.
  static SecretBox from_text(std::string_view text);

  bool ready() const { return !keks_.empty(); }
  const std::string& current_id() const { return ids_.front(); }

  Sealed seal(std::string_view plaintext, std::string_view associated) const;
  std::string open(const Sealed& sealed, std::string_view associated) const;  // throws SealError
  // The same secret with its data key sealed by the current KEK; the ciphertext unchanged.
  Sealed rewrap(const Sealed& sealed, std::string_view associated) const;

 private:
  const std::string* kek(const std::string& id) const;
  std::string unwrap(const Sealed& sealed) const;

  std::vector<std::string> keks_, ids_;
};

}  // namespace sealing
