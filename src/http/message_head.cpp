#include "message_head.hpp"

#include <cctype>
#include <charconv>
#include <cstring>

#include "svckit/http/ascii.hpp"

namespace svckit::http::detail {
namespace {

constexpr std::size_t kMaxHeaders = 64;

// Whether every byte of `s` passes `ok`, eight bytes at a time: a word in which no byte is below
// `low`, none is 0x7f or above is taken whole; any other word (rare: a tab in a value, say) is
// looked at byte by byte. A tail shorter than a word is read as the last eight bytes, some of
// them a second time: one more word rather than a loop over bytes.
template <class Ok>
bool all_bytes(std::string_view s, std::uint64_t low, Ok ok) {
  auto bytes_ok = [&](std::size_t from, std::size_t to) {
    for (std::size_t j = from; j < to; ++j)
      if (!ok(static_cast<unsigned char>(s[j]))) return false;
    return true;
  };
  auto word_ok = [&](std::size_t at) {
    std::uint64_t w = load_word(s.data() + at);
    return !(any_byte_below(w, low) | (w & kHighs) | any_byte_equal(w, 0x7f)) ||
           bytes_ok(at, at + 8);
  };
  if (s.size() < 8) return bytes_ok(0, s.size());
  std::size_t i = 0;
  for (; i + 8 <= s.size(); i += 8)
    if (!word_ok(i)) return false;
  return i == s.size() || word_ok(s.size() - 8);
}

// Visible ASCII only: obs-text and control characters go to the full parser.
bool is_target(std::string_view s) {
  return !s.empty() && all_bytes(s, 0x21, [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

bool is_field_value(std::string_view s) {
  return all_bytes(s, 0x20, [](unsigned char c) { return (c >= 0x20 || c == '\t') && c < 0x7f; });
}

enum class Line { ok, incomplete, bad };

// Splits the next CRLF-terminated line (without its CRLF) off `rest`. Bad when it ends in a
// bare LF.
Line next_line(std::string_view& rest, std::string_view& line) {
  if (rest.empty()) return Line::incomplete;  // memchr must not see an empty view's null data
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

// "close", "keep-alive" and others, comma-separated, any case. False when an option is not a
// token: Beast refuses such a head, and both paths must answer a request alike.
bool apply_connection_options(std::string_view value, bool& close, bool& keep_alive) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto option = trim_ows(value.substr(0, comma));
    if (!option.empty() && !is_token(option)) return false;
    if (iequals(option, "close")) close = true;
    if (iequals(option, "keep-alive")) keep_alive = true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return true;
}

// The status line: "HTTP/1.1 200 OK" (the reason may be empty, the space before it may not).
bool parse_status_line(std::string_view line, ResponseHead& head) {
  if (line.size() < 13 || line[8] != ' ' || line[12] != ' ') return false;
  auto version = line.substr(0, 8);
  if (version == "HTTP/1.1")
    head.minor_version = 1;
  else if (version == "HTTP/1.0")
    head.minor_version = 0;
  else
    return false;
  auto code = line.substr(9, 3);
  if (code[0] < '1' || code[0] > '9' || !std::isdigit(static_cast<unsigned char>(code[1])) ||
      !std::isdigit(static_cast<unsigned char>(code[2])))
    return false;
  head.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  return is_field_value(line.substr(13));
}

// What the header lines say about framing and the connection.
struct Framing {
  bool has_length = false;
  std::size_t content_length = 0;
  bool close = false;
  bool keep_alive_option = false;
};

// The header lines after the first line, up to the blank line. Declines Transfer-Encoding,
// Expect and anything but one numeric Content-Length.
template <class Headers>
HeadParse parse_fields(std::string_view& rest, const auto& ran_out, Headers& headers,
                       Framing& framing) {
  std::string_view line;
  for (;;) {
    if (auto got = next_line(rest, line); got != Line::ok)
      return got == Line::incomplete ? ran_out() : HeadParse::declined;
    if (line.empty()) return HeadParse::complete;
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return HeadParse::declined;
    auto name = line.substr(0, colon);
    auto value = trim_ows(line.substr(colon + 1));
    if (!is_token(name) || !is_field_value(value)) return HeadParse::declined;
    if (headers.size() == kMaxHeaders) return HeadParse::declined;
    // Proxy-Connection is a legacy Connection that Beast weighs: left to it, so both agree.
    if (iequals(name, "transfer-encoding") || iequals(name, "expect") ||
        iequals(name, "proxy-connection"))
      return HeadParse::declined;
    if (iequals(name, "content-length")) {
      if (framing.has_length || value.empty() || value.size() > 15) return HeadParse::declined;
      auto [p, ec] =
          std::from_chars(value.data(), value.data() + value.size(), framing.content_length);
      if (ec != std::errc() || p != value.data() + value.size()) return HeadParse::declined;
      framing.has_length = true;
    }
    if (iequals(name, "connection") &&
        !apply_connection_options(value, framing.close, framing.keep_alive_option))
      return HeadParse::declined;
    headers.emplace_back(name, value);
  }
}

bool keep_alive(int minor_version, const Framing& f) {
  return minor_version == 1 ? !f.close : f.keep_alive_option && !f.close;
}

// The lines of a head: the first one by `first_line`, then the fields; `size` is the head's
// length with its blank line. One pass; a bare CR inside a line fails the character checks.
template <class FirstLine, class Headers>
HeadParse parse_lines(std::string_view bytes, std::size_t max_head, FirstLine first_line,
                      Headers& headers, Framing& framing, std::size_t& size) {
  headers.clear();
  std::string_view rest = bytes.substr(0, max_head), line;
  // Past the limit without a blank line: incomplete if the limit has not been reached yet,
  // else the full parser's (431, or too large for the client).
  auto ran_out = [&] {
    return bytes.size() >= max_head ? HeadParse::declined : HeadParse::incomplete;
  };
  if (auto got = next_line(rest, line); got != Line::ok)
    return got == Line::incomplete ? ran_out() : HeadParse::declined;
  if (!first_line(line)) return HeadParse::declined;
  auto got = parse_fields(rest, ran_out, headers, framing);
  size = rest.data() - bytes.data();
  return got;
}

}  // namespace

HeadParse parse_request_head(std::string_view bytes, std::size_t max_head, RequestHead& head) {
  Framing framing;
  head.content_length = 0;
  auto request_line = [&head](std::string_view line) { return parse_request_line(line, head); };
  if (auto got = parse_lines(bytes, max_head, request_line, head.headers, framing, head.size);
      got != HeadParse::complete)
    return got;
  head.content_length = framing.content_length;
  head.keep_alive = keep_alive(head.minor_version, framing);
  return HeadParse::complete;
}

HeadParse parse_response_head(std::string_view bytes, std::size_t max_head, bool to_head,
                              ResponseHead& head) {
  Framing framing;
  head.content_length = 0;
  auto status_line = [&head](std::string_view line) {
    return parse_status_line(line, head) && head.status >= 200;  // 1xx: interim, the full parser's
  };
  if (auto got = parse_lines(bytes, max_head, status_line, head.headers, framing, head.size);
      got != HeadParse::complete)
    return got;
  bool bodiless = to_head || head.status == 204 || head.status == 304;
  if (!bodiless && !framing.has_length) return HeadParse::declined;  // read to the close
  head.content_length = bodiless ? 0 : framing.content_length;
  head.keep_alive = keep_alive(head.minor_version, framing);
  return HeadParse::complete;
}

bool says_close(std::string_view connection_value) {
  bool close = false, keep_alive = false;
  apply_connection_options(connection_value, close, keep_alive);
  return close;
}

}  // namespace svckit::http::detail
