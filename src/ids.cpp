#include "svckit/ids.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "svckit/trace/trace_context.hpp"

namespace svckit {

std::string uuid_v4() {
  std::string hex = trace::random_hex(16);
  hex[12] = '4';  // version 4
  auto nibble = hex[16] <= '9' ? hex[16] - '0' : hex[16] - 'a' + 10;
  hex[16] = "89ab"[nibble & 3];  // RFC 4122 variant
  std::string id;
  id.reserve(36);
  id.append(hex, 0, 8).append(1, '-').append(hex, 8, 4).append(1, '-').append(hex, 12, 4);
  id.append(1, '-').append(hex, 16, 4).append(1, '-').append(hex, 20, 12);
  return id;
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

void append_utc_now_iso8601(std::string& out) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  // The seconds are formatted once per second per thread: gmtime and strftime cost more than
  // the rest of a log line's or an event's timestamp.
  thread_local std::int64_t cached_second = -1;
  thread_local char cached[32];
  thread_local std::size_t cached_size = 0;
  if (ms / 1000 != cached_second) {
    cached_second = ms / 1000;
    cached_size = format_utc_seconds(cached_second, cached);
  }
  int millis = static_cast<int>(ms % 1000);
  out.append(cached, cached_size);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
}

std::string utc_now_iso8601() {
  std::string out;
  out.reserve(24);
  append_utc_now_iso8601(out);
  return out;
}

std::string utc_iso8601_after(std::chrono::milliseconds from_now) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch() + from_now).count();
  std::int64_t seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
  char buf[32];
  std::size_t n = format_utc_seconds(seconds, buf);
  std::string out(buf, n);
  int millis = static_cast<int>(ms - seconds * 1000);
  out += '.';
  out += static_cast<char>('0' + millis / 100);
  out += static_cast<char>('0' + millis / 10 % 10);
  out += static_cast<char>('0' + millis % 10);
  out += 'Z';
  return out;
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

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

bool valid_date(int y, int m, int d) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1 || m < 1 || m > 12 || d < 1) return false;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= kDays[m - 1] + (m == 2 && leap);
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  std::int64_t yoe = y - era * 400;
  std::int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

}  // namespace

std::optional<std::int64_t> iso8601_seconds(std::string_view s) {
  int y, mo, d, h = 0, mi = 0, sec = 0;
  if (!digits(s, 0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || !valid_date(y, mo, d))
    return std::nullopt;
  std::int64_t days = days_from_civil(y, mo, d);
  if (s.size() == 10) return days * 86400;
  if (s[10] != 'T' && s[10] != 't' && s[10] != ' ') return std::nullopt;
  if (!digits(s, 11, 2, h) || s.size() < 16 || s[13] != ':' || !digits(s, 14, 2, mi) || h > 23 ||
      mi > 59)
    return std::nullopt;
  std::size_t pos = 16;
  if (pos < s.size() && s[pos] == ':') {
    if (!digits(s, pos + 1, 2, sec) || sec > 60) return std::nullopt;
    pos += 3;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      std::size_t start = ++pos;
      while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
      if (pos == start || pos - start > 9) return std::nullopt;
    }
  }
  std::int64_t local = days * 86400 + h * 3600 + mi * 60 + std::min(sec, 59);
  if (pos == s.size()) return local;  // no offset: taken as UTC
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return local;
  if (s[pos] != '+' && s[pos] != '-') return std::nullopt;
  int oh, om = 0;
  if (!digits(s, pos + 1, 2, oh) || oh > 23) return std::nullopt;
  if (pos + 3 != s.size()) {
    std::size_t mpos = pos + 3 + (s[pos + 3] == ':');
    if (!digits(s, mpos, 2, om) || om > 59 || mpos + 2 != s.size()) return std::nullopt;
  }
  std::int64_t offset = (oh * 3600 + om * 60) * (s[pos] == '-' ? -1 : 1);
  return local - offset;
}

bool is_iso8601(std::string_view s) {
  return iso8601_seconds(s).has_value();
}

}  // namespace svckit
