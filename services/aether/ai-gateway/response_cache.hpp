#pragma once
// The AI Gateway's response cache: the same question to the same model with the same options
// gets the answer it got before, until `ttl` passes. A least-recently-used bound on entries and
// a bound on an entry's size keep its memory small; sharded, so calls on different threads
// rarely meet on a lock. Counts ai_cache_hits_total, ai_cache_misses_total, ai_cache_entries.
// Keys are the whole question, not a hash of it: a collision would hand one user another's
// answer.
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <svckit/metrics/registry.hpp>

#include "providers.hpp"

namespace aether::ai_gateway {

struct ResponseCacheOptions {
  std::size_t capacity = 1000;  // entries; 0 turns the cache off
  std::chrono::milliseconds ttl{std::chrono::minutes(5)};
  std::size_t max_entry_bytes = 64 * 1024;  // question and answer together
};

class ResponseCache {
 public:
  using Clock = std::chrono::steady_clock;
  ResponseCache(ResponseCacheOptions options, svckit::metrics::Registry* registry,
                std::function<Clock::time_point()> clock = Clock::now);

  // What identifies a question to `model`.
  static std::string key(std::string_view model, const ChatInput& input);
  // A fresh answer for `key` (counted as a hit), or nullopt (a miss).
  std::optional<Completion> find(const std::string& key);
  void store(const std::string& key, const Completion& answer);
  std::size_t size() const;

 private:
  struct Entry {
    std::string key;
    Completion answer;
    Clock::time_point expires;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Entry> entries;  // most recently used first
    std::unordered_map<std::string_view, std::list<Entry>::iterator> index;  // views into entries
  };
  static constexpr std::size_t kShards = 8;
  Shard& shard_of(const std::string& key);

  ResponseCacheOptions options_;
  std::function<Clock::time_point()> clock_;
  std::array<Shard, kShards> shards_;
  std::atomic<std::size_t> size_{0};
  prometheus::Counter* hits_ = nullptr;
  prometheus::Counter* misses_ = nullptr;
  prometheus::Gauge* entries_ = nullptr;
};

}  // namespace aether::ai_gateway
