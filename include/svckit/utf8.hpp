#pragma once
// UTF-8 text: whether bytes are UTF-8 as RFC 3629 has it: no overlong forms, no surrogates, nothing
// past U+10FFFF, no sequence cut short. WebSocket text must be (RFC 6455 §8.1), so must S3 keys.
#include <cstdint>
#include <string_view>

namespace svckit {

inline bool is_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if ((lead >> 5) == 0x6) {
      n = 2, cp = lead & 0x1F;
    } else if ((lead >> 4) == 0xE) {
      n = 3, cp = lead & 0x0F;
    } else if ((lead >> 3) == 0x1E) {
      n = 4, cp = lead & 0x07;
    } else {
      return false;
    }
    if (i + n > text.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c >> 6) != 0x2) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    static constexpr std::uint32_t kLeast[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kLeast[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

// The longest start of UTF-8 `text` of at most `max_chars` characters (code points): what a
// length limit cuts without splitting a character. (`text` is taken to be UTF-8.)
inline std::string_view utf8_prefix(std::string_view text, std::size_t max_chars) {
  std::size_t i = 0;
  for (std::size_t chars = 0; i < text.size() && chars < max_chars; ++chars) {
    ++i;
    while (i < text.size() && (static_cast<unsigned char>(text[i]) >> 6) == 0x2) ++i;
  }
  return text.substr(0, i);
}

}  // namespace svckit
