#pragma once
// Text cut to a length without cutting a character: a cut UTF-8 sequence makes JSON that no
// writer will write (nlohmann's dump throws), so every prefix of outside text goes through here.
#include <string>
#include <string_view>

namespace apartment {

inline std::string utf8_prefix(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  std::size_t n = max_bytes;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // a continuation
  return std::string(text.substr(0, n));
}

}  // namespace apartment
