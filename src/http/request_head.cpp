#include "request_head.hpp"

#include <array>
#include <charconv>
#include <cstring>

#include "ascii.hpp"

namespace svckit::http::detail {
namespace {

constexpr std::size_t kMaxHeaders = 64;

// RFC 9110 tchar: the characters of methods and header names.
constexpr std::array<bool, 256> make_tchar_table() {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[c] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[c] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] = true;
  for (char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}
constexpr auto kTchar = make_tchar_table();

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (!kTchar[static_cast<unsigned char>(c)]) return false;
  return true;
}

// Visible ASCII only: obs-text and control characters go to the full parser.
bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c <= 0x20 || c >= 0x7f) return false;
  return true;
}

bool is_field_value(std::string_view s) {
  for (char c : s)
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return false;
  return true;
}

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

enum class Line { ok, incomplete, bad };

// Splits the next CRLF-terminated line (without its CRLF) off `rest`. Bad when it ends in a
// bare LF.
Line next_line(std::string_view& rest, std::string_view& line) {
  auto* lf = static_cast<const char*>(std::memchr(rest.data(), '\n', rest.size()));
  if (!lf) return Line::incomplete;
  std::size_t at = lf - rest.data();
  if (at == 0 || rest[at - 1] != '\r') return Line::bad;
  line = rest.substr(0, at - 1);
  rest.remove_prefix(at + 1);
  return Line::ok;
}

bool parse_request_line(std::string_view line, RequestHead& head) {
  auto sp1 = line.find(' ');
  if (sp1 == std::string_view::npos) return false;
  auto sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return false;
  head.method = line.substr(0, sp1);
  head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  auto version = line.substr(sp2 + 1);
  if (version == "HTTP/1.1") {
    head.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    head.minor_version = 0;
  } else {
    return false;
  }
  return is_token(head.method) && is_target(head.target);
}

// "close", "keep-alive" and others, comma-separated, any case.
void apply_connection_options(std::string_view value, bool& close, bool& keep_alive) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto option = trim_ows(value.substr(0, comma));
    if (iequals(option, "close")) close = true;
    if (iequals(option, "keep-alive")) keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

}  // namespace

// One pass over the lines; a bare CR inside a line fails the character checks.
HeadParse parse_request_head(std::string_view bytes, std::size_t max_head, RequestHead& head) {
  head.headers.clear();
  head.content_length = 0;
  std::string_view rest = bytes.substr(0, max_head), line;
  // Past the limit without a blank line: incomplete if the limit has not been reached yet,
  // else the full parser's (431).
  auto ran_out = [&] {
    return bytes.size() >= max_head ? HeadParse::declined : HeadParse::incomplete;
  };
  if (auto got = next_line(rest, line); got != Line::ok)
    return got == Line::incomplete ? ran_out() : HeadParse::declined;
  if (!parse_request_line(line, head)) return HeadParse::declined;
  bool close = false, keep_alive_option = false, has_length = false;
  for (;;) {
    if (auto got = next_line(rest, line); got != Line::ok)
      return got == Line::incomplete ? ran_out() : HeadParse::declined;
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return HeadParse::declined;
    auto name = line.substr(0, colon);
    auto value = trim_ows(line.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return HeadParse::declined;
    if (head.headers.size() == kMaxHeaders) return HeadParse::declined;
    // Other framing than a single Content-Length, and 100-continue, are the full parser's.
    if (iequals(name, "transfer-encoding") || iequals(name, "expect")) return HeadParse::declined;
    if (iequals(name, "content-length")) {
      if (has_length || value.empty() || value.size() > 15) return HeadParse::declined;
      auto [p, ec] =
          std::from_chars(value.data(), value.data() + value.size(), head.content_length);
      if (ec != std::errc() || p != value.data() + value.size()) return HeadParse::declined;
      has_length = true;
    }
    if (iequals(name, "connection")) apply_connection_options(value, close, keep_alive_option);
    head.headers.emplace_back(name, value);
  }
  head.size = rest.data() - bytes.data();
  head.keep_alive = head.minor_version == 1 ? !close : keep_alive_option && !close;
  return HeadParse::complete;
}

}  // namespace svckit::http::detail
