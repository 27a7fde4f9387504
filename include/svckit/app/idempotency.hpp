#pragma once
// Idempotency-Key on POST and PATCH (IETF draft "The Idempotency-Key HTTP Header Field", as
// Stripe and others use it): a client that retries a request with the same key gets the first
// answer again instead of a second order, task or payment.
//
//   auto tasks = app.http().group("/api/v1/tasks", {auth::bearer(o), idempotency(app)});
//
// The first request with a key holds it while it runs (409 with Retry-After for a retry that
// arrives meanwhile); its answer, when it is a 2xx, 3xx or 4xx, is kept for `keep_for` and
// replayed with `Idempotent-Replayed: true`. A 5xx or an exception releases the key: the retry
// runs again. The same key with another method, path or body is refused (422). Keys are scoped
// by caller (the principal, else the credentials, else the address), so one caller's key never
// replays another's answer. In app.kv(): with REDIS_URL the replicas share the keys. When the
// store cannot answer, a request with a key gets 503 (the exactly-once it asked for cannot be
// promised); requests without one are not affected.
#include <chrono>
#include <string>

#include "svckit/app/app.hpp"
#include "svckit/http/handler.hpp"

namespace svckit {

struct IdempotencyOptions {
  kv::Store* store = nullptr;  // required
  std::string scope;           // the service's name: keys of two services never meet
  std::chrono::seconds keep_for{std::chrono::hours(24)};
  std::chrono::seconds lock_for{60};  // a replica that dies mid-request frees the key by then
  std::size_t max_stored = 64 << 10;  // larger answers are not kept: a retry runs again
};

http::Middleware idempotency(IdempotencyOptions options);
// The same in app.kv(), scoped by SERVICE_NAME.
http::Middleware idempotency(App& app);

}  // namespace svckit
