#include "risk_features.hpp"

#include <algorithm>
#include <sstream>

#include <svckit/ids.hpp>

namespace apartment::ai {
namespace {

template <std::size_t N>
int index_of(const std::array<std::string_view, N>& list, std::string_view value) {
  return static_cast<int>(std::find(list.begin(), list.end(), value) - list.begin());
}

int word_count(const std::string& text) {
  std::istringstream in(text);
  int n = 0;
  for (std::string w; in >> w;) ++n;
  return n;
}

}  // namespace

int unit_floor(const std::string& unit) {
  std::size_t i = 0;
  while (i < unit.size() && !std::isdigit(static_cast<unsigned char>(unit[i]))) ++i;
  if (i == unit.size() || i > 2) return 1;  // "B-12" still reads 12; "Penthouse 1" does not
  int number = 0, digits = 0;
  for (; i < unit.size() && std::isdigit(static_cast<unsigned char>(unit[i])) && digits < 6; ++i)
    number = number * 10 + (unit[i] - '0'), ++digits;
  if (digits >= 3) number /= 100;
  return std::max(number, 1);
}

const char* risk_band(double p) {
  if (p < 0.3) return "low";
  if (p < 0.6) return "medium";
  if (p < 0.8) return "high";
  return "critical";
}

FeatureRow risk_features(const RiskInput& in, int severity_terms, std::int64_t now) {
  std::int64_t when = now;
  if (in.submitted_at)
    if (auto parsed = svckit::iso8601_seconds(*in.submitted_at)) when = *parsed;
  std::int64_t day = when >= 0 ? when / 86400 : (when - 86399) / 86400;
  int hour = static_cast<int>((when - day * 86400) / 3600);
  int weekday = static_cast<int>(((day % 7) + 7 + 3) % 7);  // 1970-01-01 was a Thursday: 0 Monday
  return {static_cast<float>(index_of(kCategories, in.category)),
          static_cast<float>(index_of(kUrgencies, in.urgency)),
          static_cast<float>(in.confidence),
          static_cast<float>(severity_terms),
          static_cast<float>(word_count(in.message)),
          static_cast<float>(in.prior_requests_90d),
          static_cast<float>(in.open_requests_unit),
          static_cast<float>(hour),
          weekday >= 5 ? 1.0f : 0.0f,
          static_cast<float>(in.unit ? unit_floor(*in.unit) : 1)};
}

}  // namespace apartment::ai
