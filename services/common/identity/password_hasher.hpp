#pragma once
// Password hashing (bcrypt) on a pool of its own: its size is the concurrency cap, so logins
// cannot take every blocking thread from other requests, and past a bounded queue a login is
// refused at once (503 with Retry-After) rather than waiting behind thousands of others.
#include <atomic>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include <svckit/blocking_pool.hpp>
#include <svckit/task.hpp>

namespace identity {

class PasswordHasher {
 public:
  // `threads` hashes at once, at bcrypt `cost` for new hashes; at most `max_waiting` queued.
  PasswordHasher(std::size_t threads, int cost, std::size_t max_waiting = 256);

  // A new hash of `password`. std::invalid_argument (a 422 by the caller) for an empty or
  // over-long one.
  svckit::Task<std::string> hash(std::string password);
  // Whether `password` matches `hash`. Without a hash (an unknown account) a dummy hash is
  // checked, so that an unknown email takes as long as a wrong password.
  svckit::Task<bool> verify(std::string password, std::optional<std::string> hash);
  int cost() const { return cost_; }

 private:
  template <class F>
  svckit::Task<std::invoke_result_t<F&>> on_pool(F work);

  int cost_;
  std::size_t max_waiting_;
  std::atomic<std::size_t> waiting_{0};
  std::unique_ptr<svckit::BlockingPool> pool_;
  std::string dummy_hash_;
};

}  // namespace identity
