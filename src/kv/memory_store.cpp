// The in-process store: one process's memory, for a single replica and for tests. Entries
// expire lazily (a read of an expired entry finds nothing) and in sweeps as the map grows.
#include <charconv>
#include <mutex>
#include <unordered_map>

#include "stores.hpp"

namespace svckit::kv {
namespace {

using Clock = std::chrono::system_clock;

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<milliseconds>(Clock::now().time_since_epoch()).count();
}

class MemoryEntries final : public Entries {
 public:
  std::optional<std::string> get(const std::string& key) override {
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    if (expired(it->second)) {
      map_.erase(it);
      return std::nullopt;
    }
    return it->second.value;
  }
  void set(const std::string& key, std::string value, milliseconds ttl) override {
    if (map_.size() >= sweep_at_) sweep();
    map_.insert_or_assign(key,
                          Entry{std::move(value), ttl.count() > 0 ? now_ms() + ttl.count() : 0});
  }
  void erase(const std::string& key) override { map_.erase(key); }
  // A new value under the key's expiry (what Redis's INCRBY keeps).
  void replace(const std::string& key, std::string value) { map_.at(key).value = std::move(value); }
  std::int64_t now_ms() override { return epoch_ms(); }
  bool contains(const std::string& key) {
    auto it = map_.find(key);
    return it != map_.end() && !expired(it->second);
  }

 private:
  struct Entry {
    std::string value;
    std::int64_t expires_ms;  // 0: never
  };
  bool expired(const Entry& e) { return e.expires_ms != 0 && e.expires_ms <= epoch_ms(); }
  // Drops what has expired; the next sweep waits until the map has doubled since.
  void sweep() {
    std::erase_if(map_, [&](const auto& kv) { return expired(kv.second); });
    sweep_at_ = std::max<std::size_t>(1024, map_.size() * 2);
  }
  std::unordered_map<std::string, Entry> map_;
  std::size_t sweep_at_ = 1024;
};

class MemoryStore final : public Store {
 public:
  std::string_view backend() const override { return "memory"; }
  std::string shown() const override { return "memory://"; }
  Task<bool> ping(Deadline) override { co_return true; }

  Task<std::optional<std::string>> get(std::string key, Deadline) override {
    std::lock_guard lock(mutex_);
    co_return entries_.get(key);
  }
  Task<void> set(std::string key, std::string value, milliseconds ttl, Deadline) override {
    std::lock_guard lock(mutex_);
    entries_.set(key, std::move(value), ttl);
    co_return;
  }
  Task<bool> add(std::string key, std::string value, milliseconds ttl, Deadline) override {
    std::lock_guard lock(mutex_);
    if (entries_.contains(key)) co_return false;
    entries_.set(key, std::move(value), ttl);
    co_return true;
  }
  Task<bool> compare_and_set(std::string key, std::optional<std::string> expected,
                             std::string value, milliseconds ttl, Deadline) override {
    std::lock_guard lock(mutex_);
    if (entries_.get(key) != expected) co_return false;
    entries_.set(key, std::move(value), ttl);
    co_return true;
  }
  Task<std::int64_t> increment(std::string key, std::int64_t by, milliseconds ttl,
                               Deadline) override {
    std::lock_guard lock(mutex_);
    co_return add_to(key, by, ttl);
  }
  Task<bool> erase(std::string key, Deadline) override {
    std::lock_guard lock(mutex_);
    bool had = entries_.contains(key);
    entries_.erase(key);
    co_return had;
  }
  Task<Reply> run(const Script& script, std::vector<std::string> keys,
                  std::vector<std::string> args, Deadline) override {
    if (!script.local) throw std::logic_error("kv: this script has no in-process form");
    std::lock_guard lock(mutex_);
    co_return script.local(entries_, keys, args);
  }
  Task<std::vector<Reply>> run(const Batch& batch, Deadline) override {
    std::vector<Reply> replies;
    replies.reserve(batch.size());
    std::optional<std::invalid_argument> refused;  // the first, thrown after the rest ran
    std::lock_guard lock(mutex_);
    for (const auto& c : batch.commands()) {
      switch (c.kind) {
        case Batch::Kind::get:
          if (auto value = entries_.get(c.key))
            replies.push_back(Reply{std::move(*value)});
          else
            replies.push_back(Reply{});
          break;
        case Batch::Kind::set:
          entries_.set(c.key, c.value, c.ttl);
          replies.push_back(Reply{});
          break;
        case Batch::Kind::increment:
          try {
            replies.push_back(Reply{add_to(c.key, c.by, {})});
          } catch (const std::invalid_argument& e) {
            if (!refused) refused = e;
            replies.push_back(Reply{});
          }
          break;
        case Batch::Kind::erase:
          replies.push_back(Reply{std::int64_t{entries_.contains(c.key)}});
          entries_.erase(c.key);
          break;
      }
    }
    if (refused) throw *refused;
    co_return replies;
  }
  Task<void> publish(std::string channel, std::string message, Deadline) override {
    std::vector<MessageHandler> handlers;
    {
      std::lock_guard lock(subscribers_mutex_);
      auto [from, to] = subscribers_.equal_range(channel);
      for (auto it = from; it != to; ++it) handlers.push_back(it->second);
    }
    for (auto& h : handlers) h(message);
    co_return;
  }
  void subscribe(std::string channel, MessageHandler on_message, std::function<void()>) override {
    std::lock_guard lock(subscribers_mutex_);
    subscribers_.emplace(std::move(channel), std::move(on_message));
  }

 private:
  // INCRBY: `ttl` applies when it creates the key. Call holding mutex_.
  std::int64_t add_to(const std::string& key, std::int64_t by, milliseconds ttl) {
    auto current = entries_.get(key);
    std::int64_t sum = by;
    if (current) {
      std::int64_t was = 0;
      auto [end, ec] = std::from_chars(current->data(), current->data() + current->size(), was);
      if (ec != std::errc() || end != current->data() + current->size() ||
          __builtin_add_overflow(was, by, &sum))
        throw std::invalid_argument("kv: " + key + " does not hold an integer in range");
      entries_.replace(key, std::to_string(sum));
    } else {
      entries_.set(key, std::to_string(sum), ttl);
    }
    return sum;
  }

  std::mutex mutex_;
  MemoryEntries entries_;
  std::mutex subscribers_mutex_;
  std::unordered_multimap<std::string, MessageHandler> subscribers_;
};

}  // namespace

std::unique_ptr<Store> memory_store() {
  return std::make_unique<MemoryStore>();
}

}  // namespace svckit::kv
