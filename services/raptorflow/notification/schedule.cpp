#include "schedule.hpp"

#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace raptorflow::notification {
namespace {

int two_digits(std::string_view text, std::size_t at) {
  if (at + 2 > text.size()) return -1;
  char a = text[at], b = text[at + 1];
  if (a < '0' || a > '9' || b < '0' || b > '9') return -1;
  return (a - '0') * 10 + (b - '0');
}

}  // namespace

std::optional<std::int64_t> parse_time(std::string_view text) {
  if (text.size() < 20 || text.size() > 40) return std::nullopt;
  std::tm tm{};
  std::string copy(text);
  const char* rest = ::strptime(copy.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!rest || rest != copy.c_str() + 19) return std::nullopt;  // a four-digit year
  std::string_view zone(rest);
  if (zone.starts_with('.')) {
    std::size_t digits = 1;
    while (digits < zone.size() && zone[digits] >= '0' && zone[digits] <= '9') ++digits;
    if (digits == 1) return std::nullopt;
    zone.remove_prefix(digits);
  }
  std::int64_t offset = 0;
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int h = two_digits(zone, 1), m = two_digits(zone, 4);
    if (h < 0 || m < 0 || h > 23 || m > 59) return std::nullopt;
    offset = (zone[0] == '-' ? -1 : 1) * (h * 60 + m);
  } else {
    return std::nullopt;
  }
  std::int64_t seconds = ::timegm(&tm);
  return (seconds - offset * 60) * 1000;
}

int minutes_of(std::string_view text) {
  return two_digits(text, 0) * 60 + two_digits(text, 3);
}

std::string hhmm(int minutes) {
  char out[16];
  std::snprintf(out, sizeof out, "%02d:%02d", minutes / 60, minutes % 60);
  return out;
}

int offset_minutes(std::string_view text) {
  int sign = text[0] == '-' ? -1 : 1;
  return sign * minutes_of(text.substr(1));
}

std::string offset_text(int minutes) {
  return (minutes < 0 ? "-" : "+") + hhmm(std::abs(minutes));
}

std::int64_t after_quiet_hours(const Recipient& r, std::int64_t t) {
  if (!r.quiet_start || !r.quiet_end || *r.quiet_start == *r.quiet_end) return t;
  std::int64_t minute = t / 60000;
  int local = static_cast<int>(((minute + r.utc_offset) % 1440 + 1440) % 1440);
  int start = *r.quiet_start, end = *r.quiet_end;
  bool quiet = start < end ? local >= start && local < end : local >= start || local < end;
  if (!quiet) return t;
  return (minute + (end - local + 1440) % 1440) * 60000;
}

}  // namespace raptorflow::notification
