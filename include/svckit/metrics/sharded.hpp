#pragma once
// Counters and histograms for what every request counts, from every I/O thread at once.
// prometheus-cpp's Counter is one atomic double and its Histogram takes a mutex per Observe:
// two threads counting the same series write the same cache lines on every request and pay a
// transfer between cores each time. These keep a shard per thread (a thread's shard is fixed
// when it first counts), each on cache lines of its own, and sum the shards when scraped.
// Registry::sharded_counter() and Registry::sharded_histogram() make their families.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <prometheus/collectable.h>

namespace svckit::metrics {

using Labels = std::map<std::string, std::string>;

namespace detail {
inline constexpr std::size_t kShards = 8;
std::size_t this_threads_shard();  // in [0, kShards)
}  // namespace detail

class ShardedCounter {
 public:
  void increment(std::uint64_t by = 1) {
    cells_[detail::this_threads_shard()].value.fetch_add(by, std::memory_order_relaxed);
  }
  std::uint64_t value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> value{0};
  };
  std::array<Cell, detail::kShards> cells_;
};

class ShardedHistogram {
 public:
  explicit ShardedHistogram(std::vector<double> bounds);  // upper bounds, ascending; +Inf added
  void observe(double value);

  struct Totals {
    std::vector<std::uint64_t> counts;  // per bucket, not cumulative; the last is +Inf's
    double sum = 0;
  };
  Totals totals() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  struct alignas(64) Line {
    std::array<std::atomic<std::uint64_t>, 8> words{};
  };
  // Word i of a shard: the sum (a double's bits) at 0, then one count per bucket.
  std::atomic<std::uint64_t>& word(std::size_t shard, std::size_t i) const {
    return lines_[shard * lines_per_shard_ + i / 8].words[i % 8];
  }

  std::vector<double> bounds_;
  std::size_t lines_per_shard_;
  std::unique_ptr<Line[]> lines_;
};

// A family of sharded series, one per label set, made on first use and kept (with a stable
// address) while the family lives: look a series up once, then count into it.
template <class Series>
class ShardedFamily : public prometheus::Collectable {
 public:
  ShardedFamily(std::string name, std::string help)
      : name_(std::move(name)), help_(std::move(help)) {}

  template <class... Args>
  Series& add(const Labels& labels, Args&&... args) {
    std::lock_guard lock(mutex_);
    auto& series = series_[labels];
    if (!series) series = std::make_unique<Series>(std::forward<Args>(args)...);
    return *series;
  }

  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string name_;
  std::string help_;
  mutable std::mutex mutex_;
  std::map<Labels, std::unique_ptr<Series>> series_;
};

extern template class ShardedFamily<ShardedCounter>;
extern template class ShardedFamily<ShardedHistogram>;

}  // namespace svckit::metrics
