#pragma once
// Bytes as lower-case hexadecimal: digests, ids, signatures.
#include <string>
#include <string_view>

namespace svckit {

inline std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

inline std::string to_hex(const unsigned char* data, std::size_t size) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace svckit
