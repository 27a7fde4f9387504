#pragma once
// Access tokens revoked before they expire (a logout, a token known to be stolen). A JWT is
// checked by its signature alone, so a revocation must reach every replica of every service
// that accepts the token; and it must cost nothing per request. So: each process holds the
// revoked token ids in memory, and bearer() looks them up there (a hash lookup, none at all
// while nothing is revoked). With a shared store (REDIS_URL) a revocation is kept in Redis
// until the token would have expired anyway and announced on a channel, which every replica
// hears within milliseconds; a replica that was cut off from Redis reloads the whole list when
// it is back, and every minute. With the in-process store it reaches this process only.
//
//   auto& revoked = auth::revocations(app);          // svckit/app: one per App
//   co_await revoked.revoke(jti, expires_at);         // in the Security Service's logout
//   options.revocations = &revoked;                   // what bearer() consults
#include <atomic>
#include <chrono>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "svckit/resilience/deadline.hpp"
#include "svckit/task.hpp"

namespace svckit::kv {
class Store;
}

namespace svckit::auth {

class Revocations {
 public:
  using Clock = std::chrono::system_clock;

  // Subscribes to the store's announcements when the store is shared. Call keep_fresh() in the
  // background for the reloads.
  explicit Revocations(kv::Store& store);
  ~Revocations();
  Revocations(const Revocations&) = delete;
  Revocations& operator=(const Revocations&) = delete;

  // Revokes the token with id `jti` until `until` (its exp): here at once, everywhere else when
  // the announcement arrives. Throws ServiceUnavailable when the shared store cannot keep it
  // (then it is revoked in this process only).
  Task<void> revoke(std::string jti, Clock::time_point until, Deadline deadline = {});
  // Whether `jti` is revoked, from memory. Any thread.
  bool revoked(std::string_view jti) const;
  std::size_t size() const { return count_.load(std::memory_order_relaxed); }

  // Loads what the store holds now, then again every `every` and whenever the subscription was
  // interrupted; returns only when cancelled. Nothing to do for the in-process store.
  Task<void> keep_fresh(std::chrono::milliseconds every = std::chrono::minutes(1));

 private:
  struct Shared;
  void add(std::string jti, std::int64_t until_ms);
  Task<void> reload();

  kv::Store& store_;
  std::shared_ptr<Shared> shared_;  // the subscription's view of this object
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, std::int64_t> until_ms_;  // by token id
  std::atomic<std::size_t> count_{0};
};

}  // namespace svckit::auth
