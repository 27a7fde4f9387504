#pragma once
// The response cache's second tier, shared by every replica (svckit::kv on Redis): a question
// one replica paid a provider for is answered by the others from Redis. Consulted only when
// this replica's own cache misses and the provider would be asked; the local model answers at
// once and skips it. Stored under a hash of the question with the whole question beside the
// answer, and compared on the way out, so that a collision can never hand one user another's
// answer. Redis away: a miss, and the answer is not stored (the provider is asked, as with no
// cache); kv_unavailable_total counts it. Counts ai_shared_cache_hits_total and _misses_total.
#include <optional>
#include <string>

#include <svckit/kv/store.hpp>
#include <svckit/metrics/registry.hpp>

#include "providers.hpp"

namespace aether::ai_gateway {

class SharedResponseCache {
 public:
  SharedResponseCache(svckit::kv::Store& store, std::chrono::milliseconds ttl,
                      svckit::metrics::Registry& registry);

  svckit::Task<std::optional<Completion>> find(const std::string& key, svckit::Deadline deadline);
  svckit::Task<void> store(const std::string& key, const Completion& answer,
                           svckit::Deadline deadline);

 private:
  static std::string slot_of(const std::string& key);

  svckit::kv::Store& store_;
  std::chrono::milliseconds ttl_;
  svckit::meter::Counter* hits_ = nullptr;
  svckit::meter::Counter* misses_ = nullptr;
};

}  // namespace aether::ai_gateway
