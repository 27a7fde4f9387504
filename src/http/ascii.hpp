#pragma once
// ASCII helpers for HTTP tokens (header names, media types), which compare case-insensitively.
#include <cctype>
#include <string_view>

namespace svckit::http::detail {

inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

}  // namespace svckit::http::detail
