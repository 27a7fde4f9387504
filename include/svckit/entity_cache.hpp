#pragma once
// A bounded, thread-safe cache of entities read from the service's own database, keyed by id.
//
// Reads fill it, writes invalidate it. A fill carries the cache's version from before its
// database read and is dropped if any invalidation happened since, so a slow reader can never
// put back a row that a concurrent writer has just replaced:
//
//   if (auto hit = cache.find(id)) return *hit;
//   auto seen = cache.version();
//   auto row = read_from_database(id);
//   cache.fill(id, row, seen);
//   ...
//   write_to_database(id); cache.invalidate(id);   // after the commit
//
// Valid while this process is the only writer of those rows (a service owning its SQLite
// file). Replicas sharing one database must turn it off (capacity 0).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace svckit {

template <class Entity>
class EntityCache {
 public:
  // At most `capacity` entries; when full, an arbitrary one makes room. 0 caches nothing.
  explicit EntityCache(std::size_t capacity) : capacity_(capacity) {}

  std::shared_ptr<const Entity> find(std::string_view id) const {
    if (capacity_ == 0) return nullptr;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    return it == entries_.end() ? nullptr : it->second;
  }

  std::uint64_t version() const {
    std::lock_guard lock(mutex_);
    return version_;
  }

  // Stores what a read found, unless something was invalidated after `seen_version`.
  void fill(std::string id, Entity entity, std::uint64_t seen_version) {
    if (capacity_ == 0) return;
    auto value = std::make_shared<const Entity>(std::move(entity));
    std::lock_guard lock(mutex_);
    if (version_ != seen_version) return;
    if (entries_.size() >= capacity_ && !entries_.contains(id)) entries_.erase(entries_.begin());
    entries_.insert_or_assign(std::move(id), std::move(value));
  }

  // Call after the write has committed.
  void invalidate(std::string_view id) {
    std::lock_guard lock(mutex_);
    ++version_;
    if (auto it = entries_.find(id); it != entries_.end()) entries_.erase(it);
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
  }

 private:
  // Heterogeneous lookup: find by string_view without building a string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::uint64_t version_ = 0;
  std::unordered_map<std::string, std::shared_ptr<const Entity>, Hash, std::equal_to<>> entries_;
};

}  // namespace svckit
