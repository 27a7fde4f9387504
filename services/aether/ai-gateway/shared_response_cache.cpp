#include "shared_response_cache.hpp"

#include <nlohmann/json.hpp>
#include <svckit/auth/api_key.hpp>
#include <svckit/error.hpp>

namespace aether::ai_gateway {

SharedResponseCache::SharedResponseCache(svckit::kv::Store& store, std::chrono::milliseconds ttl,
                                         svckit::metrics::Registry& registry)
    : store_(store),
      ttl_(ttl),
      hits_(&registry
                 .counters("ai_shared_cache_hits_total",
                           "AI answers another replica had stored in the shared cache.")
                 .add({})),
      misses_(&registry
                   .counters("ai_shared_cache_misses_total",
                             "AI questions the shared cache did not hold (or could not answer).")
                   .add({})) {}

std::string SharedResponseCache::slot_of(const std::string& key) {
  return "ai:cache:" + svckit::auth::sha256_hex({key});
}

svckit::Task<std::optional<Completion>> SharedResponseCache::find(const std::string& key,
                                                                  svckit::Deadline deadline) {
  std::optional<std::string> held;
  try {
    held = co_await store_.get(slot_of(key), deadline);
  } catch (const std::exception&) {  // best effort: any failure is a miss
  }
  if (held) {
    auto j = nlohmann::json::parse(*held, nullptr, /*allow_exceptions=*/false);
    if (j.is_object() && j.value("question", "") == key) {
      hits_->increment();
      co_return Completion{j.value("text", ""), j.value("input_tokens", std::int64_t{0}),
                           j.value("output_tokens", std::int64_t{0})};
    }
  }
  misses_->increment();
  co_return std::nullopt;
}

svckit::Task<void> SharedResponseCache::store(const std::string& key, const Completion& answer,
                                              svckit::Deadline deadline) {
  nlohmann::json j = {{"question", key},
                      {"text", answer.text},
                      {"input_tokens", answer.input_tokens},
                      {"output_tokens", answer.output_tokens}};
  auto text = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  try {
    co_await store_.set(slot_of(key), std::move(text), ttl_, deadline);
  } catch (const std::exception&) {  // an answer already paid for is given all the same
  }
}

}  // namespace aether::ai_gateway
