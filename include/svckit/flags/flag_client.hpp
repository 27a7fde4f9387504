#pragma once
// What a service asks of its feature flags: typed answers from the flag set it holds, evaluated
// in-process, with the caller's default whenever the flag cannot answer (no set yet, the flag
// unknown or disabled, a value of another type, a targeting error). Swapping in a new set is one
// atomic pointer store, so evaluations on every thread go on while it changes.
//
//   if (flags.boolean("new-checkout", false, {{"targetingKey", user_id}, {"plan", plan}})) ...
//
// Where its sets come from is someone else's: svckit/app/feature_flags.hpp follows the
// Configuration service (poll and config.flag.changed events), or a flagd file.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/flags/flag_set.hpp"

namespace svckit::flags {

// The value answered and why: the OpenFeature evaluation details, owning what they hold.
struct Details {
  nlohmann::json value;
  std::string variant;
  Reason reason = Reason::kError;
  ErrorCode error_code = ErrorCode::kNone;
  std::string error_details;
  bool from_default = true;  // the caller's default was answered
};

class FlagClient {
 public:
  FlagClient();

  // A new set replaces the one held (a version older than the one held is ignored, so events
  // and polls arriving out of order cannot roll flags back). Thread-safe.
  void replace(std::shared_ptr<const FlagSet> set, std::int64_t version);
  std::shared_ptr<const FlagSet> snapshot() const {
    auto held = held_.load(std::memory_order_acquire);
    return {held, held->set.get()};  // shares the Held: one count, not two
  }
  std::int64_t version() const { return held_.load(std::memory_order_acquire)->version; }
  bool loaded() const { return version() > 0; }

  bool boolean(std::string_view key, bool fallback, const nlohmann::json& context = nullptr) const;
  std::string text(std::string_view key, std::string fallback,
                   const nlohmann::json& context = nullptr) const;
  double number(std::string_view key, double fallback,
                const nlohmann::json& context = nullptr) const;
  nlohmann::json object(std::string_view key, nlohmann::json fallback,
                        const nlohmann::json& context = nullptr) const;
  // `fallback`'s JSON type is the type asked for: a variant of another type is TYPE_MISMATCH.
  Details details(std::string_view key, const nlohmann::json& fallback,
                  const nlohmann::json& context = nullptr) const;

 private:
  // The set and its version swapped together: a set and another's version never meet.
  struct Held {
    std::shared_ptr<const FlagSet> set;
    std::int64_t version = 0;
  };
  std::atomic<std::shared_ptr<const Held>> held_;
};

}  // namespace svckit::flags
