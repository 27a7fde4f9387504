#include "svckit/ids.hpp"

#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "svckit/trace/trace_context.hpp"

namespace svckit {

std::string uuid_v4() {
  std::string hex = trace::random_hex(16);
  hex[12] = '4';                                                    // version 4
  hex[16] = "89ab"[std::stoi(hex.substr(16, 1), nullptr, 16) & 3];  // RFC 4122 variant
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20);
}

namespace {

// "2025-11-24T03:26:05" into buf; returns its length.
std::size_t format_utc_seconds(std::int64_t unix_seconds, char (&buf)[32]) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
}

}  // namespace

std::string utc_now_iso8601() {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  char buf[32];
  std::size_t n = format_utc_seconds(ms / 1000, buf);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

std::string utc_iso8601(std::int64_t unix_seconds) {
  char buf[32];
  std::size_t n = format_utc_seconds(unix_seconds, buf);
  return std::string(buf, n) + "Z";
}

bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      return false;
  return true;
}

}  // namespace svckit
