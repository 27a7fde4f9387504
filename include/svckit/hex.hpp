#pragma once
// Bytes as lower-case hexadecimal: digests, ids, signatures.
#include <cstdint>
#include <cstring>
#include <optional>
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

// The bytes of lower-case hex; nullopt for anything else (odd length, other characters).
inline std::optional<std::string> from_hex(std::string_view text) {
  auto digit = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  if (text.size() % 2) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int hi = digit(text[i]), lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Eight hex digits (either case; the caller has checked they are) as the number they write, a
// word at a time: trace ids are read so on every sampled or exported request.
inline std::uint32_t hex8_value(const char* digits) {
  std::uint64_t w;
  std::memcpy(&w, digits, 8);  // digit i in byte i (little-endian)
  // '0'-'9' are 0x3_, 'a'-'f' 0x6_, 'A'-'F' 0x4_: the low nibble, plus 9 for a letter (bit 6).
  w = (w & 0x0F0F0F0F0F0F0F0FULL) + 9 * ((w >> 6) & 0x0101010101010101ULL);
  w = __builtin_bswap64(w);  // the first digit the most significant
  w = (w | (w >> 4)) & 0x00FF00FF00FF00FFULL;
  w = (w | (w >> 8)) & 0x0000FFFF0000FFFFULL;
  return static_cast<std::uint32_t>(w | (w >> 16));
}

inline std::string to_hex(const unsigned char* data, std::size_t size) {
  return to_hex(std::string_view(reinterpret_cast<const char*>(data), size));
}

}  // namespace svckit
