#include "svckit/auth/rate_limit.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "svckit/auth/api_key.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/route_doc.hpp"

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

// The limiter's header names, literals (http::HeaderName): nothing to allocate per request.
struct HeaderNames {
  http::HeaderName limit, remaining;
};
constexpr HeaderNames kIetf{"RateLimit-Limit", "RateLimit-Remaining"};
constexpr http::HeaderName kReset = "RateLimit-Reset";

// Kong's names for the headers of a window; none when Kong has none for it.
std::optional<HeaderNames> kong_names(std::chrono::seconds window) {
  switch (window.count()) {
    case 1:
      return HeaderNames{"X-RateLimit-Limit-Second", "X-RateLimit-Remaining-Second"};
    case 60:
      return HeaderNames{"X-RateLimit-Limit-Minute", "X-RateLimit-Remaining-Minute"};
    case 3600:
      return HeaderNames{"X-RateLimit-Limit-Hour", "X-RateLimit-Remaining-Hour"};
    case 86400:
      return HeaderNames{"X-RateLimit-Limit-Day", "X-RateLimit-Remaining-Day"};
    default:
      return std::nullopt;
  }
}

// Whether a limiter that leaves `remaining` should report itself under `names`: with limiters
// nested (per client, then per route), the answer reports the one closest to refusing.
bool tighter(const http::Request& req, const HeaderNames& names, long remaining) {
  auto current = req.answer_header(names.remaining.view());
  long reported = 0;
  return !current ||
         std::from_chars(current->data(), current->data() + current->size(), reported).ec !=
             std::errc() ||
         remaining < reported;
}

// One limiter's state, shared by every request through it.
struct Limiter {
  explicit Limiter(RateLimitOptions o)
      : buckets(o),
        limit(std::to_string(o.limit)),
        kong(o.kong_headers ? kong_names(o.window) : std::nullopt),
        options(std::move(o)) {}

  // The IETF three and, when asked for, Kong's two, on whatever answer the request gets (the
  // route's, a 401 from bearer() after this limiter, this limiter's own 429).
  void report(http::Request& req, long remaining, int reset) const {
    if (tighter(req, kIetf, remaining)) {
      req.set_answer_header(kIetf.limit, limit);
      req.set_answer_header(kIetf.remaining, std::to_string(remaining));
      req.set_answer_header(kReset, std::to_string(reset));
    }
    if (kong && tighter(req, *kong, remaining)) {
      req.set_answer_header(kong->limit, limit);
      req.set_answer_header(kong->remaining, std::to_string(remaining));
    }
  }

  Buckets buckets;
  std::string limit;                // formatted once
  std::optional<HeaderNames> kong;  // Kong's header names for the window, if it has any
  RateLimitOptions options;
};

}  // namespace

// Checks and passes the request on: the route's own task is returned, no frame of its own (the
// headers go on the request's answer, not on a response this would have to wait for).
http::Middleware rate_limit(RateLimitOptions options) {
  auto limiter = std::make_shared<Limiter>(std::move(options));
  auto check = [limiter](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    const Limiter& l = *limiter;
    auto decision = limiter->buckets.take(key_of(req, l.options));
    double missing = l.buckets.capacity() - decision.tokens;
    auto reset = static_cast<int>(std::ceil(missing / l.buckets.per_second()));
    l.report(req, decision.allowed ? static_cast<long>(std::floor(decision.tokens)) : 0, reset);
    if (!decision.allowed) {
      int retry_after = std::max(
          1, static_cast<int>(std::ceil((1.0 - decision.tokens) / l.buckets.per_second())));
      throw TooManyRequests("rate limit of " + l.limit + " requests per " +
                                std::to_string(l.options.window.count()) + " s exceeded",
                            retry_after);
    }
    return next(req);
  };
  return http::Middleware(std::move(check), [](http::RouteDoc& doc) { doc.errors.insert(429); });
}

}  // namespace svckit::auth
