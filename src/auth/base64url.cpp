#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "svckit/auth/jwt.hpp"

namespace svckit::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<signed char, 256> kValues = [] {
  std::array<signed char, 256> v{};
  v.fill(-1);
  for (int i = 0; i < 64; ++i)
    v[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
  return v;
}();

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::size_t i = 0;
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 3 <= bytes.size(); i += 3) {
    unsigned v = at(i) << 16 | at(i + 1) << 8 | at(i + 2);
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (bytes.size() - i == 1) {
    unsigned v = at(i) << 16;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
  } else if (bytes.size() - i == 2) {
    unsigned v = at(i) << 16 | at(i + 1) << 8;
    out += kAlphabet[v >> 18];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

namespace {
std::size_t decoded_size(std::string_view text) {
  std::size_t tail = text.size() % 4;
  return text.size() / 4 * 3 + (tail ? tail - 1 : 0);
}
}  // namespace

// Four characters to three bytes at a time: every token part is decoded on every authenticated
// request.
std::optional<std::size_t> base64url_decode_into(std::string_view text, std::span<char> out) {
  std::size_t tail = text.size() % 4;
  if (tail == 1) return std::nullopt;  // no byte count encodes to this length
  std::size_t size = decoded_size(text);
  if (size > out.size()) return std::nullopt;
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  auto value = [](char c) { return kValues[static_cast<unsigned char>(c)]; };
  std::size_t i = 0;
  for (; i + 4 <= text.size(); i += 4) {
    int a = value(text[i]), b = value(text[i + 1]), c = value(text[i + 2]), d = value(text[i + 3]);
    if ((a | b | c | d) < 0) return std::nullopt;  // padding, '+', '/', whitespace, the rest
    unsigned v = static_cast<unsigned>(a) << 18 | static_cast<unsigned>(b) << 12 |
                 static_cast<unsigned>(c) << 6 | static_cast<unsigned>(d);
    *o++ = static_cast<unsigned char>(v >> 16);
    *o++ = static_cast<unsigned char>(v >> 8);
    *o++ = static_cast<unsigned char>(v);
  }
  if (tail) {
    int a = value(text[i]), b = value(text[i + 1]), c = tail == 3 ? value(text[i + 2]) : 0;
    if ((a | b | c) < 0) return std::nullopt;
    unsigned v = static_cast<unsigned>(a) << 18 | static_cast<unsigned>(b) << 12 |
                 static_cast<unsigned>(c) << 6;
    // The bits past the last byte must be zero: otherwise two texts decode to the same bytes.
    if (tail == 2 && (v & 0xffff)) return std::nullopt;
    if (tail == 3 && (v & 0xff)) return std::nullopt;
    *o++ = static_cast<unsigned char>(v >> 16);
    if (tail == 3) *o++ = static_cast<unsigned char>(v >> 8);
  }
  return size;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out(decoded_size(text), '\0');
  if (!base64url_decode_into(text, out)) return std::nullopt;
  return out;
}

}  // namespace svckit::auth
