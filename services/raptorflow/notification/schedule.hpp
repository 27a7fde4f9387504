#pragma once
// Time as the Notification Service reckons it: milliseconds since 1970 (UTC); a user's local time
// by a fixed UTC offset; quiet hours as minutes after the user's midnight.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "notification_store.hpp"

namespace raptorflow::notification {

// RFC 3339 ("2026-12-24T17:00:00Z", "2026-12-24T17:00:00.250+01:00") to milliseconds since 1970
// (the fraction ignored); nullopt for anything else.
std::optional<std::int64_t> parse_time(std::string_view text);
// "22:30" and 1350 both ways; "+02:00" and 120 both ways. The text is checked by the caller.
int minutes_of(std::string_view hhmm);
std::string hhmm(int minutes);
int offset_minutes(std::string_view text);
std::string offset_text(int minutes);
// `t`, or when it falls inside the user's quiet hours, the minute they end.
std::int64_t after_quiet_hours(const Recipient& r, std::int64_t t);

}  // namespace raptorflow::notification
