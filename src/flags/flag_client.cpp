#include "svckit/flags/flag_client.hpp"

namespace svckit::flags {

using nlohmann::json;

FlagClient::FlagClient() : held_(std::make_shared<const Held>(Held{FlagSet::empty(), 0})) {}

void FlagClient::replace(std::shared_ptr<const FlagSet> set, std::int64_t version) {
  // Versions only go up: the newer of two racing writers wins, whichever stores last.
  auto next = std::make_shared<const Held>(Held{std::move(set), version});
  auto held = held_.load(std::memory_order_acquire);
  do {
    if (version <= held->version) return;
  } while (!held_.compare_exchange_weak(held, next, std::memory_order_acq_rel));
}

namespace {

bool same_type(const json& value, const json& fallback) {
  if (fallback.is_number()) return value.is_number();
  if (fallback.is_structured()) return value.is_structured();
  return value.type() == fallback.type();
}

}  // namespace

Details FlagClient::details(std::string_view key, const json& fallback, const json& context) const {
  const auto set = snapshot();
  const auto e = set->evaluate(key, context);
  Details d{.value = fallback,
            .variant = std::string(e.variant),
            .reason = e.reason,
            .error_code = e.error_code,
            .error_details = e.error_details};
  if (!e.ok() || !e.value) return d;
  if (!same_type(*e.value, fallback)) {
    d.reason = Reason::kError;
    d.error_code = ErrorCode::kTypeMismatch;
    d.error_details = "flag \"" + std::string(key) + "\" is " + std::string(set->type_of(key));
    return d;
  }
  d.value = *e.value;
  d.from_default = false;
  return d;
}

bool FlagClient::boolean(std::string_view key, bool fallback, const json& context) const {
  const auto set = snapshot();
  const auto e = set->evaluate(key, context);
  return e.ok() && e.value && e.value->is_boolean() ? e.value->get<bool>() : fallback;
}

std::string FlagClient::text(std::string_view key, std::string fallback,
                             const json& context) const {
  const auto set = snapshot();
  const auto e = set->evaluate(key, context);
  return e.ok() && e.value && e.value->is_string() ? e.value->get<std::string>() : fallback;
}

double FlagClient::number(std::string_view key, double fallback, const json& context) const {
  const auto set = snapshot();
  const auto e = set->evaluate(key, context);
  return e.ok() && e.value && e.value->is_number() ? e.value->get<double>() : fallback;
}

json FlagClient::object(std::string_view key, json fallback, const json& context) const {
  const auto set = snapshot();
  const auto e = set->evaluate(key, context);
  return e.ok() && e.value && e.value->is_structured() ? *e.value : fallback;
}

}  // namespace svckit::flags
