#include "account_throttle.hpp"

#include <svckit/error.hpp>
#include <svckit/kv/store.hpp>

namespace identity {

svckit::Task<bool> AccountThrottle::over_limit(std::string account, svckit::Deadline deadline) {
  std::chrono::milliseconds lock = lock_;
  try {
    co_return co_await kv_.increment(prefix_ + ":" + account, 1, lock, deadline) > failures_;
  } catch (const svckit::ServiceUnavailable&) {
    co_return false;
  }
}

svckit::Task<void> AccountThrottle::clear(std::string account, svckit::Deadline deadline) {
  try {
    co_await kv_.erase(prefix_ + ":" + account, deadline);
  } catch (const svckit::ServiceUnavailable&) {
  }
}

}  // namespace identity
