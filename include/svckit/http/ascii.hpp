#pragma once
// ASCII helpers for HTTP tokens (header names, methods, media types), which compare without
// case: header names are case-insensitive (RFC 9110 §5.1); and the check that a field value is
// safe to write.
#include <array>
#include <string_view>

namespace svckit::http {

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

constexpr bool istarts_with(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && iequals(text.substr(0, prefix.size()), prefix);
}

namespace detail {
// RFC 9110 tchar: the characters of methods and header names.
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
inline constexpr auto kTchar = make_tchar_table();
}  // namespace detail

// RFC 9110 §5.6.2: a method or header name is a non-empty token.
constexpr bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!detail::kTchar[static_cast<unsigned char>(c)]) return false;
  return true;
}

// No CR, LF or NUL: text that cannot end or split the header (or request line) it is written
// into. No early exit, so that the compiler checks many bytes at a time: this runs on every
// header of every message.
constexpr bool is_field_safe(std::string_view s) {
  bool unsafe = false;
  for (char c : s) unsafe |= (c == '\r') | (c == '\n') | (c == '\0');
  return !unsafe;
}

}  // namespace svckit::http
