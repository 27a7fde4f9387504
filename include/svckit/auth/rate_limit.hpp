#pragma once
// Token-bucket rate limiting as middleware, configured per route or group. Every response it
// passes carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (IETF draft
// "RateLimit header fields for HTTP"), and Kong's with kong_headers; over the limit the answer
// is 429 with Retry-After.
//
//   // Before bearer(): failed authentications count, and no signature is checked for a client
//   // that is already over its limit. After bearer(): one bucket per user.
//   auto api = app.http().group("/api/v1", {auth::rate_limit({.limit = 100, .key =
//   auth::RateKey::client_ip}),
//                                            auth::bearer(options),
//                                            auth::rate_limit({.limit = 600, .key =
//                                            auth::RateKey::principal})});
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include "svckit/http/handler.hpp"

namespace svckit::auth {

enum class RateKey {
  client_ip,  // the socket's peer address
  api_key,    // the API key header's value (hashed); falls back to the client IP without one
  principal,  // the authenticated principal; falls back to the client IP before bearer()
};

struct RateLimitOptions {
  std::size_t limit = 100;          // requests per window, also the burst size
  std::chrono::seconds window{60};  // the bucket refills limit/window per second
  RateKey key = RateKey::client_ip;
  std::string api_key_header = "X-API-Key";
  std::size_t max_clients = 100'000;  // buckets kept; idle full ones go first
  // Also Kong's X-RateLimit-Limit-<Period> and X-RateLimit-Remaining-<Period> (429s too), for
  // clients written against Kong. The period is the window's: Second, Minute, Hour or Day; other
  // windows have no Kong name and get none.
  bool kong_headers = false;
};

// One limiter: its buckets are shared by every route it is installed on.
http::Middleware rate_limit(RateLimitOptions options);

}  // namespace svckit::auth
