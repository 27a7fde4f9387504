#pragma once
// What the Configuration service's APIs (flags, secrets, settings) share: how a version travels
// (an ETag "v<version>", If-Match), how a service is named in a path, the clock its rows keep,
// and the isolation its writers take.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <svckit/error.hpp>
#include <svckit/http/request.hpp>
#include <svckit/ids.hpp>
#include <svckit/sql/database.hpp>

namespace raptorflow::configuration {

// Writers that read the newest version then store the next: two at once cannot both succeed
// (a serialization failure runs the loser again, which then sees the winner's version).
inline const svckit::sql::TransactionOptions kSerializable{
    .isolation = svckit::sql::Isolation::serializable};

inline std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline std::string iso8601(std::int64_t ms) {
  return svckit::utc_iso8601(ms / 1000);
}

// A version as a client writes it: 3, v3, "v3" or W/"v3"; nullopt for anything else.
inline std::optional<std::int64_t> parse_version(std::string_view text) {
  if (text.starts_with("W/")) text.remove_prefix(2);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
    text = text.substr(1, text.size() - 2);
  if (!text.empty() && text.front() == 'v') text.remove_prefix(1);
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < 0) return std::nullopt;
  return v;
}

// The version If-Match asks for; nullopt when it asks nothing (absent, or "*"); 400 when it is
// not a version.
inline std::optional<std::int64_t> if_match_version(const svckit::http::Request& req) {
  auto match = req.header("If-Match");
  if (!match || *match == "*") return std::nullopt;
  auto version = parse_version(*match);
  if (!version) throw svckit::BadRequest("If-Match: expected \"v<version>\", the ETag a GET gave");
  return version;
}

// The {service} of a path: 1-64 of a-z 0-9 - (422 otherwise).
inline std::string service_param(const svckit::http::Request& req) {
  auto service = req.param("service");
  const bool ok = !service.empty() && service.size() <= 64 &&
                  std::all_of(service.begin(), service.end(), [](char c) {
                    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                  });
  if (!ok) throw svckit::ValidationError("service", "must be 1-64 of a-z 0-9 -");
  return service;
}

}  // namespace raptorflow::configuration
