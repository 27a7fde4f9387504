#pragma once
// The strangler-fig controls of one route (seed 000 §8.2-8.3): which side a request goes to
// (weighted, sticky per user), how each side has been doing over a sliding window, whether the
// new side must be rolled back, and how a shadowed answer differs from the primary one.
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "routes.hpp"

namespace svckit::gateway {

// Requests, failures and a latency histogram per second, for the last `window` seconds.
class WindowStats {
 public:
  explicit WindowStats(std::chrono::seconds window);
  void record(double seconds, bool failed);
  struct Summary {
    std::uint64_t requests = 0;
    std::uint64_t failures = 0;
    double p95 = 0;  // seconds, from the histogram's buckets (upper bound)
    double error_rate() const { return requests ? double(failures) / double(requests) : 0; }
  };
  Summary summary();

  // 0.1 ms × 1.1^i, up to ~100 s: a bucket is 10% wide, finer than the 20% being judged.
  static constexpr std::size_t kBuckets = 146;

 private:
  struct Second {
    std::int64_t at = -1;
    std::uint64_t requests = 0, failures = 0;
    std::array<std::uint32_t, kBuckets> latency{};
  };
  Second& current(std::int64_t now);
  std::mutex mutex_;
  std::vector<Second> seconds_;
};

// Whether this request goes to the new side: a stable hash of the route and `who` (sticky) or a
// random draw, against the weight.
bool choose_new(const SplitConfig& split, std::string_view route, std::string_view who);
// Whether to shadow this request (a random draw against the percent).
bool draw_percent(double percent);

// Why the new side must go back to 0, or nullopt: the seed's triggers.
std::optional<std::string> rollback_reason(const RollbackConfig& config,
                                           const WindowStats::Summary& fresh,
                                           const WindowStats::Summary& legacy);

// The first difference between two JSON answers, leaving out members named in `ignore` at any
// depth ("$.task.status: \"done\" vs \"open\""), nullopt when they agree.
std::optional<std::string> first_difference(const nlohmann::json& primary,
                                            const nlohmann::json& shadow,
                                            const std::vector<std::string>& ignore);

}  // namespace svckit::gateway
