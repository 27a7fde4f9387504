#pragma once
// Token-bucket rate limiting as middleware, configured per route or group. Every response it
// passes carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (IETF draft
// "RateLimit header fields for HTTP"), and Kong's with kong_headers; over the limit the answer
// is 429 with Retry-After.
//
// With a shared store (`.store = &app.kv()` on Redis) the buckets live in the store, so that
// every replica counts against one limit: a GCRA bucket per key, updated atomically by a script
// on the store's clock. A replica takes tokens a batch at a time (`shared_lease` of the limit,
// at least one) and remembers a refusal until the bucket has room again, so that the store is
// asked once per batch rather than per request: replicas together never admit more than the
// limit, and at most one batch each fewer. Without a store (or with the in-process one) each
// process keeps its own buckets.
// When the store cannot answer in time, `when_store_away` decides: let the request through
// (general limits), or count it in this process's own buckets (brute-force throttles, which
// must never fall to no limit at all); both count rate_limit_store_unavailable_total.
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

namespace svckit::kv {
class Store;
}
namespace svckit::meter {
class Meter;
}

namespace svckit::auth {

enum class RateKey {
  client_ip,  // the socket's peer address
  api_key,    // the API key header's value (hashed); falls back to the client IP without one
  principal,  // the authenticated principal; falls back to the client IP before bearer()
};

enum class StoreAway {
  allow,          // fail open: the request passes
  limit_locally,  // this process's buckets take over until the store is back
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
  // The shared buckets (see above); its keys are "rl:<name>:<client>", so each limiter sharing
  // a store needs a name of its own (std::logic_error without one).
  kv::Store* store = nullptr;
  std::string name;
  StoreAway when_store_away = StoreAway::allow;
  // The share of the limit a replica takes from the shared bucket at a time: N replicas stay
  // within N x this below the limit (0.5%: two within 1%), never above it.
  double shared_lease = 0.005;
  meter::Meter* meter = nullptr;  // rate_limit_store_unavailable_total{limiter, policy}
};

// One limiter: its buckets are shared by every route it is installed on.
http::Middleware rate_limit(RateLimitOptions options);

}  // namespace svckit::auth
