#include "svckit/meter.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

namespace svckit::meter {
namespace detail {

// Threads take shards in turn: the first kShards threads to count each have one of their own.
std::size_t next_shard() {
  static std::atomic<std::size_t> next{0};
  return next.fetch_add(1, std::memory_order_relaxed) % kShards;
}

}  // namespace detail

std::uint64_t Counter::value() const {
  std::uint64_t total = 0;
  for (const auto& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
  return total;
}

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      lines_per_shard_((bounds_.size() + 2 + 7) / 8),  // the sum, the buckets, +Inf
      lines_(std::make_unique<Line[]>(detail::kShards * lines_per_shard_)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("a histogram's bucket bounds must ascend");
}

void Histogram::observe(double value) {
  const std::size_t shard = detail::this_threads_shard();
  std::size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  word(shard, 1 + bucket).fetch_add(1, std::memory_order_relaxed);
  // Only this thread (or the few that share its shard) writes this sum: the loop rarely turns.
  auto& sum = word(shard, 0);
  std::uint64_t seen = sum.load(std::memory_order_relaxed);
  while (!sum.compare_exchange_weak(
      seen, std::bit_cast<std::uint64_t>(std::bit_cast<double>(seen) + value),
      std::memory_order_relaxed)) {
  }
}

Histogram::Totals Histogram::totals() const {
  Totals t;
  t.counts.assign(bounds_.size() + 1, 0);
  for (std::size_t shard = 0; shard < detail::kShards; ++shard) {
    t.sum += std::bit_cast<double>(word(shard, 0).load(std::memory_order_relaxed));
    for (std::size_t b = 0; b < t.counts.size(); ++b)
      t.counts[b] += word(shard, 1 + b).load(std::memory_order_relaxed);
  }
  return t;
}

double Gauge::value() const {
  std::int64_t steps = 0;
  for (const auto& cell : cells_) steps += cell.value.load(std::memory_order_relaxed);
  return base_.load(std::memory_order_relaxed) + static_cast<double>(steps);
}

std::uint64_t Summary::count() const {
  std::uint64_t total = 0;
  for (const auto& cell : cells_) total += cell.count.load(std::memory_order_relaxed);
  return total;
}

std::uint64_t Summary::sum() const {
  std::uint64_t total = 0;
  for (const auto& cell : cells_) total += cell.sum.load(std::memory_order_relaxed);
  return total;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> kBuckets = {0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25,
                                               0.5,   0.75, 1.0,   2.5,  5.0,   7.5, 10.0};
  return kBuckets;
}

}  // namespace svckit::meter
