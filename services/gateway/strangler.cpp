#include "strangler.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace svckit::gateway {

namespace {

double bucket_bound(std::size_t i) {
  return 0.0001 * std::pow(1.1, static_cast<double>(i));
}

std::size_t bucket_of(double seconds) {
  for (std::size_t i = 0; i + 1 < WindowStats::kBuckets; ++i)
    if (seconds <= bucket_bound(i)) return i;
  return WindowStats::kBuckets - 1;
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double random01() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0, 1)(engine);
}

std::string shown(const nlohmann::json& v) {
  auto text = v.dump();
  return text.size() > 80 ? text.substr(0, 77) + "..." : text;
}

std::optional<std::string> differ(const nlohmann::json& a, const nlohmann::json& b,
                                  const std::vector<std::string>& ignore, const std::string& at) {
  if (a.type() != b.type()) return at + ": " + shown(a) + " vs " + shown(b);
  if (a.is_object()) {
    auto ignored = [&](const std::string& k) {
      return std::find(ignore.begin(), ignore.end(), k) != ignore.end();
    };
    for (const auto& [k, v] : a.items()) {
      if (ignored(k)) continue;
      if (!b.contains(k)) return at + "." + k + ": only in the primary answer";
      if (auto d = differ(v, b[k], ignore, at + "." + k)) return d;
    }
    for (const auto& [k, v] : b.items())
      if (!ignored(k) && !a.contains(k)) return at + "." + k + ": only in the shadow answer";
    return std::nullopt;
  }
  if (a.is_array()) {
    if (a.size() != b.size())
      return at + ": " + std::to_string(a.size()) + " items vs " + std::to_string(b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      if (auto d = differ(a[i], b[i], ignore, at + "[" + std::to_string(i) + "]")) return d;
    return std::nullopt;
  }
  if (a != b) return at + ": " + shown(a) + " vs " + shown(b);
  return std::nullopt;
}

}  // namespace

WindowStats::WindowStats(std::chrono::seconds window)
    : seconds_(static_cast<std::size_t>(std::max<long>(1, window.count()))) {}

WindowStats::Second& WindowStats::current(std::int64_t now) {
  Second& s = seconds_[static_cast<std::size_t>(now) % seconds_.size()];
  if (s.at != now) s = Second{.at = now};
  return s;
}

void WindowStats::record(double seconds, bool failed) {
  auto now = now_seconds();
  std::lock_guard lock(mutex_);
  Second& s = current(now);
  ++s.requests;
  if (failed) ++s.failures;
  ++s.latency[bucket_of(seconds)];
}

WindowStats::Summary WindowStats::summary() {
  auto now = now_seconds();
  std::array<std::uint64_t, kBuckets> latency{};
  Summary out;
  std::lock_guard lock(mutex_);
  for (const auto& s : seconds_) {
    if (s.at < 0 || now - s.at >= static_cast<std::int64_t>(seconds_.size())) continue;
    out.requests += s.requests;
    out.failures += s.failures;
    for (std::size_t i = 0; i < kBuckets; ++i) latency[i] += s.latency[i];
  }
  std::uint64_t seen = 0, rank = (out.requests * 95 + 99) / 100;
  for (std::size_t i = 0; i < kBuckets && out.requests; ++i) {
    seen += latency[i];
    if (seen >= rank) {
      out.p95 = bucket_bound(i);
      break;
    }
  }
  return out;
}

bool choose_new(const SplitConfig& split, std::string_view route, std::string_view who) {
  if (split.weight <= 0) return false;
  if (split.weight >= 100) return true;
  if (!split.sticky || who.empty()) return random01() * 100 < split.weight;
  // FNV-1a over route and user: stable across restarts and gateway replicas.
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view text) {
    for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  };
  mix(route);
  mix("\x1f");
  mix(who);
  return static_cast<double>(h % 10000) < split.weight * 100;
}

bool draw_percent(double percent) {
  return percent > 0 && random01() * 100 < percent;
}

std::optional<std::string> rollback_reason(const RollbackConfig& config,
                                           const WindowStats::Summary& fresh,
                                           const WindowStats::Summary& legacy) {
  if (fresh.requests < config.min_requests) return std::nullopt;
  if (fresh.error_rate() > config.max_error_rate)
    return "error rate " + std::to_string(fresh.error_rate() * 100) + "% over " +
           std::to_string(config.max_error_rate * 100) + "%";
  // Relative and absolute: at sub-millisecond latencies 20% is scheduling noise.
  if (legacy.requests >= config.min_requests && legacy.p95 > 0 &&
      fresh.p95 > legacy.p95 * (1 + config.max_latency_increase) &&
      fresh.p95 - legacy.p95 >= config.min_latency_increase.count() / 1000.0)
    return "p95 " + std::to_string(fresh.p95 * 1000) + " ms over the legacy side's " +
           std::to_string(legacy.p95 * 1000) + " ms by more than " +
           std::to_string(config.max_latency_increase * 100) + "%";
  return std::nullopt;
}

std::optional<std::string> first_difference(const nlohmann::json& primary,
                                            const nlohmann::json& shadow,
                                            const std::vector<std::string>& ignore) {
  return differ(primary, shadow, ignore, "$");
}

}  // namespace svckit::gateway
