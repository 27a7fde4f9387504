#pragma once
// ASCII helpers for HTTP tokens (header names, media types), which compare case-insensitively.
#include <string_view>

namespace svckit::http::detail {

// ASCII only, never the locale: HTTP tokens are ASCII, and std::tolower is a call per byte.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

}  // namespace svckit::http::detail
