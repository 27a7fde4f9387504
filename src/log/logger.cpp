#include "svckit/log/logger.hpp"

#include "svckit/ids.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace svckit::log {
namespace {

void append_value(std::string& out, const Field::Value& value) {
  if (auto* s = std::get_if<std::string_view>(&value)) {
    append_json_string(out, *s);
  } else if (auto* i = std::get_if<std::int64_t>(&value)) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *i);
    out.append(buf, end);
  } else if (auto* d = std::get_if<double>(&value)) {
    if (!std::isfinite(*d)) {
      out += "null";
    } else {
      char buf[32];
      auto [end, ec] = std::to_chars(buf, buf + sizeof buf, *d, std::chars_format::fixed, 3);
      out.append(buf, end);
    }
  } else {
    out += std::get<bool>(value) ? "true" : "false";
  }
}

}  // namespace

namespace {

// True when one of the eight bytes in `w` must be escaped: a control byte (< 0x20), '"', '\\'
// or DEL. Word-at-a-time "has zero byte" tests; a false answer is always exact, which is all
// the fast path needs (a true answer sends the block to the byte loop).
bool block_needs_escape(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;
  auto has_zero = [](std::uint64_t v) { return (v - kOnes) & ~v & kHighs; };
  std::uint64_t below_space = (w - kOnes * 0x20) & ~w & kHighs;
  return (below_space | has_zero(w ^ (kOnes * '"')) | has_zero(w ^ (kOnes * '\\')) |
          has_zero(w ^ (kOnes * 0x7f)) | (w & kHighs)) != 0;  // and any byte >= 0x80: UTF-8
}

bool byte_needs_escape(unsigned char c) {
  return c < 0x20 || c == '"' || c == '\\' || c == 0x7f;
}

void append_escaped(std::string& out, unsigned char c) {
  static constexpr char kHex[] = "0123456789abcdef";
  switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
  }
}

}  // namespace

// Response bodies are mostly ids, timestamps and plain words: clean eight-byte blocks are
// skipped a word at a time and every clean run is copied in one append.
// The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF); 0 when it is not one.
std::size_t utf8_sequence(const unsigned char* p, std::size_t n) {
  auto continuation = [&](std::size_t k) { return k < n && (p[k] & 0xC0) == 0x80; };
  if (p[0] >= 0xC2 && p[0] <= 0xDF) return continuation(1) ? 2 : 0;
  if (p[0] >= 0xE0 && p[0] <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (p[0] == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (p[0] == 0xED && p[1] >= 0xA0) return 0;  // a surrogate
    return 3;
  }
  if (p[0] >= 0xF0 && p[0] <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (p[0] == 0xF0 && p[1] < 0x90) return 0;   // overlong
    if (p[0] == 0xF4 && p[1] >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void append_json_string(std::string& out, std::string_view text) {
  // Checked here: reserve() itself is a call into the library even when there is room.
  if (out.capacity() < out.size() + text.size() + 2) out.reserve(out.size() + text.size() + 2);
  out += '"';
  const char* data = text.data();
  std::size_t run = 0, i = 0;
  while (i < text.size()) {
    // A short tail is padded with spaces, which never need escaping.
    std::uint64_t w = 0x2020202020202020ULL;
    std::size_t block = std::min<std::size_t>(8, text.size() - i);
    if (block == 8) {
      std::memcpy(&w, data + i, 8);  // a fixed size: one load, no call
    } else {  // byte by byte: short keys and values are most, and memcpy would be a call
      auto* bytes = reinterpret_cast<unsigned char*>(&w);
      for (std::size_t k = 0; k < block; ++k) bytes[k] = static_cast<unsigned char>(data[i + k]);
    }
    if (!block_needs_escape(w)) {
      i += block;
      continue;
    }
    auto c = static_cast<unsigned char>(data[i]);
    if (c >= 0x80) {
      // Text from a subprocess, a file or a truncation may not be UTF-8; JSON must be. A byte
      // that starts no well-formed sequence becomes U+FFFD, as nlohmann's `replace` does.
      auto length =
          utf8_sequence(reinterpret_cast<const unsigned char*>(data + i), text.size() - i);
      if (length > 0) {
        i += length;
        continue;
      }
      out.append(data + run, i - run);
      out += "\xEF\xBF\xBD";
      run = i + 1;
    } else if (byte_needs_escape(c)) {
      out.append(data + run, i - run);
      append_escaped(out, c);
      run = i + 1;
    }
    ++i;
  }
  out.append(data + run, text.size() - run);
  out += '"';
}

Logger::Logger(std::string service, Level min_level, std::FILE* out)
    : service_(std::move(service)), min_level_(min_level), out_(out) {}

std::string Logger::format(Level level, std::string_view message, Fields fields,
                           Fields more_fields) const {
  std::string line;
  line.reserve(256);
  line += "{\"timestamp\":\"";
  append_utc_now_iso8601(line);
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"service\":";
  append_json_string(line, service_);
  line += ",\"message\":";
  append_json_string(line, message);
  for (Fields list : {fields, more_fields}) {
    for (const Field& f : list) {
      line += ',';
      append_json_string(line, f.key);
      line += ':';
      append_value(line, f.value);
    }
  }
  line += "}\n";
  return line;
}

void Logger::write(Level level, std::string_view message, Fields fields, Fields more_fields) const {
  if (!enabled(level)) return;
  std::string line = format(level, message, fields, more_fields);
  // One fwrite per line: stdio locks the stream, so lines from threads never interleave.
  std::fwrite(line.data(), 1, line.size(), out_);
  if (level >= Level::warning || out_ != stdout) std::fflush(out_);
}

}  // namespace svckit::log
