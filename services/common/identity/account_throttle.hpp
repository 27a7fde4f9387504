#pragma once
// Failed logins per account, from whatever address, counted in the shared key-value store so
// that every replica counts them: an attacker spread over many addresses gets `failures` tries
// at an account, then waits `lock`. An attempt counts before its password is checked, so that
// concurrent attempts cannot all pass a check made before any of them failed; a success clears
// the count. Unknown accounts count alike, so a lock says nothing of whether one exists.
#include <chrono>
#include <cstdint>
#include <string>

#include <svckit/resilience/deadline.hpp>
#include <svckit/task.hpp>

namespace svckit::kv {
class Store;
}

namespace identity {

class AccountThrottle {
 public:
  // Keys are "<prefix>:<account>".
  AccountThrottle(svckit::kv::Store& kv, std::string prefix, std::int64_t failures,
                  std::chrono::seconds lock)
      : kv_(kv), prefix_(std::move(prefix)), failures_(failures), lock_(lock) {}

  // Counts an attempt at `account`; whether it is over the limit. With the store away the
  // throttle stands aside (the per-address limits still hold, in each replica's own buckets).
  svckit::Task<bool> over_limit(std::string account, svckit::Deadline deadline);
  svckit::Task<void> clear(std::string account, svckit::Deadline deadline);
  std::chrono::seconds lock() const { return lock_; }

 private:
  svckit::kv::Store& kv_;
  std::string prefix_;
  std::int64_t failures_;
  std::chrono::seconds lock_;
};

}  // namespace identity
