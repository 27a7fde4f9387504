#pragma once
// Percent-encoding (RFC 3986 §2.1), the inverse of percent_decode (request.hpp): RFC 3986's
// unreserved characters (A-Z a-z 0-9 - . _ ~) and those in `keep` as they are, every other byte
// as %XX. A query component as it is; a path with keep "/".
//
//   "?state=" + http::percent_encode(state)          "/files/" + http::percent_encode(key, "/")
#include <string>
#include <string_view>

namespace svckit::http {

inline std::string percent_encode(std::string_view text, std::string_view keep = {}) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved || keep.find(static_cast<char>(c)) != std::string_view::npos) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace svckit::http
