#include "svckit/auth/rate_limit.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>

#include "svckit/auth/api_key.hpp"
#include "svckit/auth/principal.hpp"
#include "svckit/error.hpp"
#include "svckit/http/request.hpp"
#include "svckit/http/route_doc.hpp"
#include "svckit/kv/store.hpp"
#include "svckit/meter.hpp"

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

// The shared bucket: GCRA ("generic cell rate algorithm"), a token bucket kept as one number,
// the theoretical arrival time (TAT) of the next request, in microseconds of the store's clock.
// A token may be taken while that leaves the TAT no more than a full bucket (limit x interval)
// ahead of now. ARGV: the limit, the interval between tokens (us), how many tokens are wanted,
// how many of a lease the replica gives back unused (they move the TAT back).
// Returns {tokens granted (as many as there is room for, up to those wanted), how far ahead of
// now the TAT is afterwards, us}.
const kv::Script kGcra{
    R"lua(
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[1]) * interval
local tat = tonumber(redis.call('GET', KEYS[1]) or now) - tonumber(ARGV[4]) * interval
if tat < now then tat = now end
local room = math.floor((burst - (tat - now)) / interval)
if room < 1 then return {0, tat - now} end
local granted = math.min(tonumber(ARGV[3]), room)
local ahead = tat + granted * interval - now
redis.call('SET', KEYS[1], string.format('%d', now + ahead), 'PX', math.ceil(ahead / 1000) + 1)
return {granted, ahead}
)lua",
    [](kv::Entries& e, std::span<const std::string> keys, std::span<const std::string> args) {
      std::int64_t now = e.now_ms() * 1000;
      std::int64_t interval = std::stoll(args[1]);
      std::int64_t burst = std::stoll(args[0]) * interval;
      auto stored = e.get(keys[0]);
      std::int64_t given_back = std::stoll(args[3]) * interval;
      std::int64_t tat =
          std::max<std::int64_t>((stored ? std::stoll(*stored) : now) - given_back, now);
      std::int64_t room = (burst - (tat - now)) / interval;
      if (room < 1) return kv::Reply{kv::Reply::List{kv::Reply{0}, kv::Reply{tat - now}}};
      std::int64_t granted = std::min<std::int64_t>(std::stoll(args[2]), room);
      std::int64_t ahead = tat + granted * interval - now;
      e.set(keys[0], std::to_string(now + ahead), std::chrono::milliseconds(ahead / 1000 + 1));
      return kv::Reply{kv::Reply::List{kv::Reply{granted}, kv::Reply{ahead}}};
    }};

// What a replica took from the shared buckets and hands out itself: tokens leased a batch at a
// time (so that the store is asked once per batch, not per request), and refusals remembered
// until the bucket has room again (so that a client over its limit costs no store call either).
// Leased tokens are taken from the shared bucket: replicas together never admit more than the
// limit; each may leave its unused lease behind, at most a lease's worth.
class Leases {
 public:
  explicit Leases(std::size_t max_clients)
      : max_per_shard_(std::max<std::size_t>(1, max_clients / kShards)) {}

  // One token of `key`'s lease (or its remembered refusal); otherwise how many tokens to ask the
  // store for: a batch, or one while another request of this replica is asking for a batch
  // (hundreds of requests finding the lease spent at once must not take hundreds of batches).
  // What to ask the store for: tokens wanted, and the unused ones of an expired lease given
  // back (so that a client slower than its leases does not drain its bucket with them).
  struct Ask {
    std::int64_t tokens;
    std::int64_t given_back;
  };
  std::variant<Decision, Ask> take(const std::string& key, std::int64_t batch,
                                   Clock::time_point now) {
    Shard& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto it = shard.leases.find(key);
    if (it != shard.leases.end()) {
      Lease& l = it->second;
      if (now < l.refused_until) return Decision{false, l.shared_tokens};
      if (l.tokens > 0 && now < l.expires) {
        --l.tokens;
        return Decision{true, l.shared_tokens + static_cast<double>(l.tokens)};
      }
      if (l.asking) return Ask{1, 0};
      l.asking = true;
      Ask ask{batch, l.tokens};  // what is left of an expired lease
      l.tokens = 0;
      return ask;
    }
    if (shard.leases.size() >= max_per_shard_) shard.leases.erase(shard.leases.begin());
    shard.leases.emplace(key, Lease{.asking = true});
    return Ask{batch, 0};
  }

  // The store could not be asked.
  void unanswered(const std::string& key) {
    lease_of(key, [](Lease& l) { l.asking = false; });
  }

  // The store granted `tokens` (one of them for the request that asked).
  Decision granted(const std::string& key, std::int64_t tokens, double shared_tokens,
                   Clock::time_point now) {
    Lease l = lease_of(key, [&](Lease& l) {
      l.tokens = (now < l.expires ? l.tokens : 0) + tokens - 1;
      l.shared_tokens = shared_tokens;
      l.expires = now + std::chrono::seconds(1);
      l.refused_until = {};
      l.asking = false;
    });
    return Decision{true, shared_tokens + static_cast<double>(l.tokens)};
  }

  void refused(const std::string& key, double shared_tokens, Clock::time_point until) {
    lease_of(key, [&](Lease& l) {
      l.tokens = 0;
      l.shared_tokens = shared_tokens;
      l.refused_until = until;
      l.asking = false;
    });
  }

 private:
  struct Lease {
    std::int64_t tokens = 0;
    double shared_tokens = 0;  // the shared bucket's, when last asked
    Clock::time_point expires{};
    Clock::time_point refused_until{};
    bool asking = false;  // a request of this replica is asking the store for a batch
  };
  static constexpr std::size_t kShards = 16;
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Lease> leases;
  };
  Shard& shard_of(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % kShards];
  }

  template <class Change>
  Lease lease_of(const std::string& key, Change change) {
    Shard& shard = shard_of(key);
    std::lock_guard lock(shard.mutex);
    auto it = shard.leases.find(key);
    if (it == shard.leases.end()) {
      if (shard.leases.size() >= max_per_shard_) shard.leases.erase(shard.leases.begin());
      it = shard.leases.emplace(key, Lease{}).first;
    }
    change(it->second);
    return it->second;
  }

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
        interval_us(std::max<std::int64_t>(
            1, std::chrono::duration_cast<std::chrono::microseconds>(o.window).count() /
                   static_cast<std::int64_t>(std::max<std::size_t>(1, o.limit)))),
        lease_size(std::max<std::int64_t>(
            1, static_cast<std::int64_t>(static_cast<double>(o.limit) * o.shared_lease))),
        interval_text(std::to_string(interval_us)),
        leases(o.max_clients),
        key_prefix("rl:" + o.name + ":"),
        options(std::move(o)) {
    if (options.meter)
      store_unavailable =
          &options.meter
               ->counters("rate_limit_store_unavailable_total",
                          "Requests a shared rate limit decided without its store (which was "
                          "away): allowed, or limited by this process alone.")
               .add({{"limiter", options.name},
                     {"policy", options.when_store_away == StoreAway::allow ? "allow" : "local"}});
  }

  // The shared bucket's answer, kept in the leases, as the local buckets give theirs.
  Decision decision_of(const std::string& key, const kv::Reply& reply) const {
    const auto& r = reply.list();
    auto granted = r.at(0).integer();
    auto ahead = r.at(1).integer();
    double shared_tokens =
        buckets.capacity() - static_cast<double>(ahead) / static_cast<double>(interval_us);
    auto now = Clock::now();
    if (granted > 0) return leases.granted(key, granted, shared_tokens, now);
    // Room again once the TAT is less than a bucket minus one token ahead.
    auto wait = std::chrono::microseconds(ahead + interval_us -
                                          static_cast<std::int64_t>(options.limit) * interval_us);
    leases.refused(key, shared_tokens, now + wait);
    return Decision{false, shared_tokens};
  }

  // Answers 429 or puts the headers on the request's answer.
  void apply(http::Request& req, const Decision& decision) const {
    double missing = buckets.capacity() - decision.tokens;
    auto reset = static_cast<int>(std::ceil(missing / buckets.per_second()));
    report(req, decision.allowed ? static_cast<long>(std::floor(decision.tokens)) : 0, reset);
    if (!decision.allowed) {
      int retry_after =
          std::max(1, static_cast<int>(std::ceil((1.0 - decision.tokens) / buckets.per_second())));
      throw TooManyRequests("rate limit of " + limit + " requests per " +
                                std::to_string(options.window.count()) + " s exceeded",
                            retry_after);
    }
  }

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

  mutable Buckets buckets;
  std::string limit;                // formatted once
  std::optional<HeaderNames> kong;  // Kong's header names for the window, if it has any
  std::int64_t interval_us;         // between two tokens
  std::int64_t lease_size;          // tokens taken from the shared bucket at a time
  std::string interval_text;
  mutable Leases leases;
  std::string key_prefix;
  meter::Counter* store_unavailable = nullptr;
  RateLimitOptions options;
};

// The shared limit when the lease is spent: one script on the store for the next batch.
Task<http::Response> check_shared(std::shared_ptr<const Limiter> l, std::string key,
                                  Leases::Ask ask, http::Request& req, const http::Handler& next) {
  std::optional<Decision> decision;
  try {
    std::vector<std::string> keys{l->key_prefix + key};
    std::vector<std::string> args{l->limit, l->interval_text, std::to_string(ask.tokens),
                                  std::to_string(ask.given_back)};
    auto reply =
        co_await l->options.store->run(kGcra, std::move(keys), std::move(args), req.deadline());
    decision = l->decision_of(key, reply);
  } catch (const ServiceUnavailable&) {  // away, or a server-state error reply
    l->leases.unanswered(key);
    if (l->store_unavailable) l->store_unavailable->increment();
  }
  if (!decision && l->options.when_store_away == StoreAway::limit_locally)
    decision = l->buckets.take(key);
  if (decision) l->apply(req, *decision);
  co_return co_await next(req);
}

}  // namespace

// Checks and passes the request on: the route's own task is returned, no frame of its own (the
// headers go on the request's answer, not on a response this would have to wait for).
http::Middleware rate_limit(RateLimitOptions options) {
  auto document = [](http::RouteDoc& doc) { doc.errors.insert(429); };
  if (options.store && options.store->backend() == "memory") options.store = nullptr;
  if (options.store && options.name.empty())
    throw std::logic_error("a rate limit in a shared store needs a name of its own");
  auto limiter = std::make_shared<const Limiter>(std::move(options));
  if (limiter->options.store)
    return http::Middleware(
        [limiter](http::Request& req, const http::Handler& next) -> Task<http::Response> {
          auto key = key_of(req, limiter->options);
          auto leased = limiter->leases.take(key, limiter->lease_size, Clock::now());
          if (auto* decision = std::get_if<Decision>(&leased)) {
            limiter->apply(req, *decision);
            return next(req);
          }
          return check_shared(limiter, std::move(key), std::get<Leases::Ask>(leased), req, next);
        },
        document);
  auto check = [limiter](http::Request& req, const http::Handler& next) -> Task<http::Response> {
    limiter->apply(req, limiter->buckets.take(key_of(req, limiter->options)));
    return next(req);
  };
  return http::Middleware(std::move(check), document);
}

}  // namespace svckit::auth
