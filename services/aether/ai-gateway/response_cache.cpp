#include "response_cache.hpp"

namespace aether::ai_gateway {

ResponseCache::ResponseCache(ResponseCacheOptions options, svckit::metrics::Registry* registry,
                             std::function<Clock::time_point()> clock)
    : options_(options), clock_(std::move(clock)) {
  if (!registry) return;
  hits_ = &registry->counter("ai_cache_hits_total", "AI answers served from the response cache.")
               .Add({});
  misses_ = &registry
                 ->counter("ai_cache_misses_total",
                           "AI questions not in the response cache (asked of the model).")
                 .Add({});
  entries_ = &registry->gauge("ai_cache_entries", "Answers in the AI response cache.").Add({});
}

std::string ResponseCache::key(std::string_view model, const ChatInput& input) {
  // Separators that cannot occur in the parts' own framing: lengths say where each part ends.
  std::string k;
  auto part = [&](std::string_view s) {
    k.append(std::to_string(s.size())).append(1, ':').append(s);
  };
  part(model);
  for (const auto& t : input.context) {
    part(t.role);
    part(t.content);
  }
  k.append(1, '|');
  part(input.message);
  for (const auto& [name, value] : input.options) {
    if (name == "cache") continue;
    part(name);
    part(value);
  }
  return k;
}

ResponseCache::Shard& ResponseCache::shard_of(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::optional<Completion> ResponseCache::find(const std::string& key) {
  if (options_.capacity == 0) return std::nullopt;
  auto& shard = shard_of(key);
  std::optional<Completion> found;
  {
    std::lock_guard lock(shard.mutex);
    auto it = shard.index.find(key);
    if (it != shard.index.end()) {
      if (clock_() < it->second->expires) {
        shard.entries.splice(shard.entries.begin(), shard.entries, it->second);
        found = it->second->answer;
      } else {
        shard.entries.erase(it->second);
        shard.index.erase(it);
        --size_;
      }
    }
  }
  if (auto* counter = found ? hits_ : misses_) counter->Increment();
  return found;
}

void ResponseCache::store(const std::string& key, const Completion& answer) {
  if (options_.capacity == 0 || key.size() + answer.text.size() > options_.max_entry_bytes) return;
  auto& shard = shard_of(key);
  std::size_t per_shard = std::max<std::size_t>(1, options_.capacity / kShards);
  {
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.index.find(key); it != shard.index.end()) {
      shard.entries.erase(it->second);
      shard.index.erase(it);
      --size_;
    }
    shard.entries.push_front({key, answer, clock_() + options_.ttl});
    shard.index.emplace(shard.entries.front().key, shard.entries.begin());
    ++size_;
    while (shard.entries.size() > per_shard) {
      shard.index.erase(shard.entries.back().key);
      shard.entries.pop_back();
      --size_;
    }
  }
  if (entries_) entries_->Set(static_cast<double>(size_.load()));
}

std::size_t ResponseCache::size() const {
  return size_.load();
}

}  // namespace aether::ai_gateway
