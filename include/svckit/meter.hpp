#pragma once
// What svckit counts into, below any metrics library: the HTTP server and client, the gRPC
// server and channel and the bus all count into these cells, and the metrics module exports
// them (metrics::Registry is a Meter) — once, for all of them. A component given no Meter
// counts nothing.
//
// Every request is counted from every I/O thread at once. prometheus-cpp's Counter is one
// atomic double and its Histogram takes a mutex per Observe: two threads counting the same
// series would write the same cache line on every request and pay a transfer between cores each
// time. These cells keep a shard per thread (a thread's shard is fixed when it first counts),
// each on cache lines of its own, and sum the shards when read.
//
//   auto& calls = meter.counters("calls_total", "Calls, by peer.");
//   meter::Counter& to_b = calls.add({{"peer", "b"}});   // look a cell up once (a lock) ...
//   to_b.increment();                                    // ... then count into it (none)
#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace svckit::meter {

using Labels = std::map<std::string, std::string>;

namespace detail {
inline constexpr std::size_t kShards = 8;
std::size_t next_shard();
// In [0, kShards): inline, as every count of every request asks.
inline std::size_t this_threads_shard() {
  constinit thread_local std::size_t shard = kShards;  // kShards: not taken yet
  if (shard == kShards) [[unlikely]]
    shard = next_shard();
  return shard;
}
}  // namespace detail

// A count that only goes up.
class Counter {
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

// Observations in buckets, with their sum.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);  // upper bounds, ascending; +Inf added
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

// Whole-number observations (sizes in bytes) counted and summed, without buckets: a Prometheus
// summary with no quantiles, as Python's prometheus_client exports one.
class Summary {
 public:
  void observe(std::uint64_t value) {
    auto& cell = cells_[detail::this_threads_shard()];
    cell.count.fetch_add(1, std::memory_order_relaxed);
    cell.sum.fetch_add(value, std::memory_order_relaxed);
  }
  std::uint64_t count() const;
  std::uint64_t sum() const;

 private:
  struct alignas(64) Cell {
    std::atomic<std::uint64_t> count{0};
    std::atomic<std::uint64_t> sum{0};
  };
  std::array<Cell, detail::kShards> cells_;
};

// A value that goes up and down. Either set it (a state, a depth) or add whole steps to it
// (requests in progress, from every thread, so sharded), not both.
class Gauge {
 public:
  void set(double value) { base_.store(value, std::memory_order_relaxed); }
  void add(std::int64_t by) {
    cells_[detail::this_threads_shard()].value.fetch_add(by, std::memory_order_relaxed);
  }
  double value() const;

 private:
  struct alignas(64) Cell {
    std::atomic<std::int64_t> value{0};
  };
  std::atomic<double> base_{0};
  std::array<Cell, detail::kShards> cells_;
};

enum class Kind { counter, histogram, gauge, summary };

// One metric's cells, one per label set, made on first use and kept (at a stable address) while
// the family lives.
class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, Kind kind)
      : name_(std::move(name)), help_(std::move(help)), kind_(kind) {}
  virtual ~FamilyBase() = default;
  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  Kind kind() const { return kind_; }

 private:
  std::string name_;
  std::string help_;
  Kind kind_;
};

template <class Cell>
constexpr Kind kind_of() {
  if constexpr (std::is_same_v<Cell, Counter>) return Kind::counter;
  if constexpr (std::is_same_v<Cell, Histogram>) return Kind::histogram;
  if constexpr (std::is_same_v<Cell, Gauge>) return Kind::gauge;
  if constexpr (std::is_same_v<Cell, Summary>) return Kind::summary;
}

template <class Cell>
class Family : public FamilyBase {
 public:
  Family(std::string name, std::string help)
      : FamilyBase(std::move(name), std::move(help), kind_of<Cell>()) {}

  // The cell of `labels`; `args` make it the first time (a Histogram's bounds).
  template <class... Args>
  Cell& add(const Labels& labels, Args&&... args) {
    std::lock_guard lock(mutex_);
    auto& cell = cells_[labels];
    if (!cell) cell = std::make_unique<Cell>(std::forward<Args>(args)...);
    return *cell;
  }
  // Every cell, under the family's lock (what a scrape reads).
  void for_each(const std::function<void(const Labels&, const Cell&)>& visit) const {
    std::lock_guard lock(mutex_);
    for (const auto& [labels, cell] : cells_) visit(labels, *cell);
  }

 private:
  mutable std::mutex mutex_;
  std::map<Labels, std::unique_ptr<Cell>> cells_;
};

// Where a component's families live. One name, one family: a second call with a name returns
// the first's, and asking for it as another kind throws std::invalid_argument.
class Meter {
 public:
  virtual ~Meter() = default;
  virtual Family<Counter>& counters(const std::string& name, const std::string& help) = 0;
  virtual Family<Histogram>& histograms(const std::string& name, const std::string& help) = 0;
  virtual Family<Gauge>& gauges(const std::string& name, const std::string& help) = 0;
  virtual Family<Summary>& summaries(const std::string& name, const std::string& help) = 0;
};

// Seconds: the buckets of Python's prometheus_client, so dashboards built for the monolith keep
// working.
const std::vector<double>& latency_buckets();

}  // namespace svckit::meter
