#include "svckit/auth/rate_limit.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <mutex>
#include <unordered_map>

#include "svckit/auth/api_key.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"

namespace svckit::auth {
namespace {

using Clock = std::chrono::steady_clock;

struct Bucket {
  double tokens;
  Clock::time_point updated;
};

struct Decision {
  bool allowed;
  double tokens;  // left after this request
};

// Buckets in shards so that threads rarely wait for one another.
class Buckets {
 public:
  explicit Buckets(const RateLimitOptions& o)
      : capacity_(static_cast<double>(o.limit)),
        per_second_(static_cast<double>(o.limit) /
                    static_cast<double>(std::max<std::int64_t>(1, o.window.count()))),
        max_per_shard_(std::max<std::size_t>(1, o.max_clients / kShards)) {}

  Decision take(const std::string& key) {
    auto now = Clock::now();
    Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
    std::lock_guard lock(shard.mutex);
    auto it = shard.buckets.find(key);
    if (it == shard.buckets.end()) {
      if (shard.buckets.size() >= max_per_shard_) evict(shard, now);
      it = shard.buckets.emplace(key, Bucket{capacity_, now}).first;
    }
    Bucket& b = it->second;
    refill(b, now);
    if (b.tokens < 1.0) return {false, b.tokens};
    b.tokens -= 1.0;
    return {true, b.tokens};
  }

  double capacity() const { return capacity_; }
  double per_second() const { return per_second_; }

 private:
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Bucket> buckets;
  };

  void refill(Bucket& b, Clock::time_point now) const {
    double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(capacity_, b.tokens + elapsed * per_second_);
    b.updated = now;
  }

  // Buckets that have refilled are the same as no bucket: drop those; if none, drop any one.
  void evict(Shard& shard, Clock::time_point now) {
    for (auto it = shard.buckets.begin(); it != shard.buckets.end();) {
      refill(it->second, now);
      it = it->second.tokens >= capacity_ ? shard.buckets.erase(it) : std::next(it);
    }
    if (shard.buckets.size() >= max_per_shard_) shard.buckets.erase(shard.buckets.begin());
  }

  double capacity_;
  double per_second_;
  std::size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

std::string key_of(const http::Request& req, const RateLimitOptions& o) {
  if (o.key == RateKey::principal)
    if (const Principal* who = principal(req)) return "p:" + who->id;
  if (o.key == RateKey::api_key)
    if (auto key = req.header(o.api_key_header); key && !key->empty())
      return "k:" + api_key_hash(*key);  // never the key itself in memory longer than needed
  return "ip:" + req.remote_address();
}

// With limiters nested (per client, then per route), the response reports the one closest to
// refusing: the fewest requests remaining.
void set_headers(std::vector<std::pair<std::string, std::string>>& headers,
                 const std::string& limit, double tokens, int reset) {
  auto remaining = static_cast<long>(std::floor(tokens));
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].first != "RateLimit-Remaining") continue;
    if (std::stol(headers[i].second) <= remaining) return;  // an inner limiter is tighter
    for (auto& [name, value] : headers) {
      if (name == "RateLimit-Limit") value = limit;
      if (name == "RateLimit-Remaining") value = std::to_string(remaining);
      if (name == "RateLimit-Reset") value = std::to_string(reset);
    }
    return;
  }
  headers.emplace_back("RateLimit-Limit", limit);
  headers.emplace_back("RateLimit-Remaining", std::to_string(remaining));
  headers.emplace_back("RateLimit-Reset", std::to_string(reset));
}

// Kong's names for the headers of a window, empty when Kong has none for it.
std::pair<std::string, std::string> kong_names(std::chrono::seconds window) {
  const char* period = window.count() == 1       ? "Second"
                       : window.count() == 60    ? "Minute"
                       : window.count() == 3600  ? "Hour"
                       : window.count() == 86400 ? "Day"
                                                 : nullptr;
  if (!period) return {};
  return {std::string("X-RateLimit-Limit-") + period,
          std::string("X-RateLimit-Remaining-") + period};
}

// Kong's pair beside the IETF headers; like those, the tighter of two limiters' wins.
void set_kong_headers(std::vector<std::pair<std::string, std::string>>& headers,
                      const std::pair<std::string, std::string>& names, const std::string& limit,
                      long remaining) {
  if (names.first.empty()) return;
  for (std::size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].first != names.second) continue;
    if (std::stol(headers[i].second) <= remaining) return;
    for (auto& [name, value] : headers) {
      if (name == names.first) value = limit;
      if (name == names.second) value = std::to_string(remaining);
    }
    return;
  }
  headers.emplace_back(names.first, limit);
  headers.emplace_back(names.second, std::to_string(remaining));
}

// One limiter's state, shared by every request through it.
struct Limiter {
  explicit Limiter(RateLimitOptions o)
      : buckets(o),
        limit(std::to_string(o.limit)),
        kong(o.kong_headers ? kong_names(o.window) : std::pair<std::string, std::string>{}),
        options(std::move(o)) {}

  // The headers of an error answer: the IETF three and, when asked for, Kong's two.
  void add_headers(Error& e, const std::string& remaining, int reset) const {
    e.with_header("RateLimit-Limit", limit);
    e.with_header("RateLimit-Remaining", remaining);
    e.with_header("RateLimit-Reset", std::to_string(reset));
    if (!kong.first.empty()) {
      e.with_header(kong.first, limit);
      e.with_header(kong.second, remaining);
    }
  }

  Buckets buckets;
  std::string limit;                         // formatted once
  std::pair<std::string, std::string> kong;  // Kong's header names, empty without them
  RateLimitOptions options;
};

}  // namespace

http::Middleware rate_limit(RateLimitOptions options) {
  auto limiter = std::make_shared<Limiter>(std::move(options));
  return [limiter](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    Limiter& l = *limiter;
    auto decision = l.buckets.take(key_of(req, l.options));
    double missing = l.buckets.capacity() - decision.tokens;
    auto reset = static_cast<int>(std::ceil(missing / l.buckets.per_second()));
    if (!decision.allowed) {
      int retry_after = std::max(
          1, static_cast<int>(std::ceil((1.0 - decision.tokens) / l.buckets.per_second())));
      TooManyRequests e("rate limit of " + l.limit + " requests per " +
                            std::to_string(l.options.window.count()) + " s exceeded",
                        retry_after);
      l.add_headers(e, "0", reset);
      throw e;
    }
    auto remaining = static_cast<long>(std::floor(decision.tokens));
    http::Response response;
    try {
      response = co_await next(req);
    } catch (Error& e) {  // an error answer (a failed login, say) carries the headers too
      bool inner_limit = std::any_of(e.headers().begin(), e.headers().end(),
                                     [](const auto& h) { return h.first == "RateLimit-Limit"; });
      if (!inner_limit) l.add_headers(e, std::to_string(remaining), reset);
      throw;
    }
    set_headers(response.headers, l.limit, decision.tokens, reset);
    set_kong_headers(response.headers, l.kong, l.limit, remaining);
    co_return response;
  };
}

}  // namespace svckit::auth
