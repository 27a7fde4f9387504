#pragma once
// A point in time by which a piece of work must be done. A handler's deadline bounds every call
// it makes and travels with them, so an upstream never works on an answer nobody waits for.
#include <algorithm>
#include <chrono>

namespace svckit {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  // No deadline.
  Deadline() = default;
  static Deadline at(Clock::time_point when) { return Deadline(when); }
  static Deadline after(std::chrono::milliseconds timeout) {
    return Deadline(Clock::now() + timeout);
  }

  bool is_set() const { return when_ != Clock::time_point::max(); }
  Clock::time_point when() const { return when_; }
  bool expired() const { return expired(Clock::now()); }
  // What is left, never negative; milliseconds::max() when no deadline is set.
  std::chrono::milliseconds remaining() const { return remaining(Clock::now()); }
  // The same as of `now`, for a caller that has just read the clock (a read is not free).
  bool expired(Clock::time_point now) const { return is_set() && now >= when_; }
  std::chrono::milliseconds remaining(Clock::time_point now) const {
    if (!is_set()) return std::chrono::milliseconds::max();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(when_ - now);
    return std::max(left, std::chrono::milliseconds(0));
  }
  // The earlier of the two.
  Deadline min(Deadline other) const { return Deadline(std::min(when_, other.when_)); }

 private:
  explicit Deadline(Clock::time_point when) : when_(when) {}
  Clock::time_point when_ = Clock::time_point::max();
};

}  // namespace svckit
