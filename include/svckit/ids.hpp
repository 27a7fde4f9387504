#pragma once
// Identifiers and timestamps every service needs the same way.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace svckit {

// A random (version 4) UUID: "3f2b8c1e-9d4a-4c7b-8e1f-2a3b4c5d6e7f".
std::string uuid_v4();
// Now, UTC, ISO 8601 with milliseconds: "2025-11-24T03:26:05.096Z" (the seed's log format).
std::string utc_now_iso8601();
// The same, appended to `out` (log lines: no string of its own).
void append_utc_now_iso8601(std::string& out);
// Now plus `from_now` (which may be negative), in utc_now_iso8601()'s form, so that the two
// compare as text: due times and leases kept as strings.
std::string utc_iso8601_after(std::chrono::milliseconds from_now);
// A Unix time in seconds, UTC, ISO 8601: "2025-11-24T03:26:05Z" (token expiries and the like).
std::string utc_iso8601(std::int64_t unix_seconds);
// Whether a caller's request id (X-Request-ID, x-request-id metadata) may be taken as it is:
// 1-128 of [A-Za-z0-9._-]. Anything else is replaced by one of ours.
bool sane_request_id(std::string_view id);
// ISO 8601 date or date-time ("2025-11-24", "2025-11-24T03:26:05Z", "...+02:00").
bool is_iso8601(std::string_view text);
// Its Unix time in seconds (a date alone: its midnight, UTC; no offset: UTC; a leap second: :59),
// nullopt when it is not one.
std::optional<std::int64_t> iso8601_seconds(std::string_view text);

}  // namespace svckit
