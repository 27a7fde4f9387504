#include "svckit/metrics/sharded.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <stdexcept>

#include <prometheus/metric_family.h>

namespace svckit::metrics {
namespace detail {

// Threads take shards in turn: the first kShards threads to count each have one of their own.
std::size_t this_threads_shard() {
  static std::atomic<std::size_t> next{0};
  thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shard;
}

}  // namespace detail

std::uint64_t ShardedCounter::value() const {
  std::uint64_t total = 0;
  for (const auto& cell : cells_) total += cell.value.load(std::memory_order_relaxed);
  return total;
}

ShardedHistogram::ShardedHistogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)),
      lines_per_shard_((bounds_.size() + 2 + 7) / 8),  // the sum, the buckets, +Inf
      lines_(std::make_unique<Line[]>(detail::kShards * lines_per_shard_)) {
  if (!std::is_sorted(bounds_.begin(), bounds_.end()))
    throw std::invalid_argument("a histogram's bucket bounds must ascend");
}

void ShardedHistogram::observe(double value) {
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

ShardedHistogram::Totals ShardedHistogram::totals() const {
  Totals t;
  t.counts.assign(bounds_.size() + 1, 0);
  for (std::size_t shard = 0; shard < detail::kShards; ++shard) {
    t.sum += std::bit_cast<double>(word(shard, 0).load(std::memory_order_relaxed));
    for (std::size_t b = 0; b < t.counts.size(); ++b)
      t.counts[b] += word(shard, 1 + b).load(std::memory_order_relaxed);
  }
  return t;
}

namespace {

prometheus::ClientMetric series_metric(const Labels& labels) {
  prometheus::ClientMetric m;
  for (const auto& [name, value] : labels) m.label.push_back({name, value});
  return m;
}

void fill(prometheus::ClientMetric& m, const ShardedCounter& c) {
  m.counter.value = static_cast<double>(c.value());
}

void fill(prometheus::ClientMetric& m, const ShardedHistogram& h) {
  auto t = h.totals();
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < t.counts.size(); ++i) {
    cumulative += t.counts[i];
    prometheus::ClientMetric::Bucket b;
    b.cumulative_count = cumulative;
    b.upper_bound = i < h.bounds().size() ? h.bounds()[i] : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(b);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum = t.sum;
}

constexpr prometheus::MetricType type_of(const ShardedCounter*) {
  return prometheus::MetricType::Counter;
}
constexpr prometheus::MetricType type_of(const ShardedHistogram*) {
  return prometheus::MetricType::Histogram;
}

}  // namespace

template <class Series>
std::vector<prometheus::MetricFamily> ShardedFamily<Series>::Collect() const {
  prometheus::MetricFamily family{name_, help_, type_of(static_cast<const Series*>(nullptr)), {}};
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_) {
    auto m = series_metric(labels);
    fill(m, *series);
    family.metric.push_back(std::move(m));
  }
  return {std::move(family)};
}

template class ShardedFamily<ShardedCounter>;
template class ShardedFamily<ShardedHistogram>;

}  // namespace svckit::metrics
