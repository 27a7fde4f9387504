#include "svckit/auth/password.hpp"

#include <crypt.h>

#include <cstring>
#include <memory>
#include <stdexcept>

#include "svckit/auth/api_key.hpp"

namespace svckit::auth {

bool is_bcrypt_hash(std::string_view h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9') return false;
  for (char c : h.substr(7))
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/')) return false;
  return true;
}

std::string hash_password(std::string_view password, int cost) {
  if (password.empty()) throw std::invalid_argument("the password is empty");
  if (password.size() > kMaxPasswordBytes)
    throw std::invalid_argument("the password is longer than 72 bytes");
  if (password.find('\0') != std::string_view::npos)
    throw std::invalid_argument("the password contains a NUL byte");
  if (cost < 4 || cost > 31) throw std::invalid_argument("bcrypt cost must be 4..31");
  auto salt = random_bytes(16);
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  if (!crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), salt.data(),
                        static_cast<int>(salt.size()), setting, sizeof setting))
    throw std::runtime_error("crypt_gensalt_rn failed");
  auto data = std::make_unique<crypt_data>();
  std::string pw(password);
  const char* out = crypt_r(pw.c_str(), setting, data.get());
  if (!out || out[0] == '*') throw std::runtime_error("bcrypt failed");
  return out;
}

bool verify_password(std::string_view password, std::string_view hash) {
  if (!is_bcrypt_hash(hash) || password.empty() || password.size() > kMaxPasswordBytes ||
      password.find('\0') != std::string_view::npos)
    return false;
  auto data = std::make_unique<crypt_data>();
  std::string pw(password), h(hash);
  const char* out = crypt_r(pw.c_str(), h.c_str(), data.get());
  if (!out || std::strlen(out) != h.size()) return false;
  return same_hash(out, h);
}

}  // namespace svckit::auth
