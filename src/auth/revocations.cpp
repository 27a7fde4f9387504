#include "svckit/auth/revocations.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <mutex>

#include "svckit/error.hpp"
#include "svckit/kv/store.hpp"

namespace svckit::auth {
namespace {

const char* const kKey = "svckit:revoked";  // a sorted set: token id by expiry (ms)
const char* const kChannel = "svckit:revocations";

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             Revocations::Clock::now().time_since_epoch())
      .count();
}

// Keeps the id until its expiry, drops what has expired, and tells every replica: one atomic
// step, so no replica can hear of a revocation the set does not hold.
const kv::Script kRevoke{R"lua(
local t = redis.call('TIME')
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t[1] * 1000)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[1] .. ' ' .. ARGV[2])
return 1
)lua",
                         {}};

// What is still revoked: {id, expiry, id, expiry, ...}.
const kv::Script kLoad{R"lua(
local t = redis.call('TIME')
return redis.call('ZRANGEBYSCORE', KEYS[1], t[1] * 1000, '+inf', 'WITHSCORES')
)lua",
                       {}};

std::int64_t number(std::string_view text) {
  double value = 0;  // Redis writes scores as doubles ("1.7e12" is possible)
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return 0;
  return static_cast<std::int64_t>(value);
}

}  // namespace

// What the subscription holds: cleared when the Revocations goes, before the store does.
struct Revocations::Shared {
  std::mutex mutex;
  Revocations* owner = nullptr;
  std::atomic<bool> gap{false};
};

Revocations::Revocations(kv::Store& store) : store_(store) {
  if (store_.backend() == "memory") return;
  shared_ = std::make_shared<Shared>();
  shared_->owner = this;
  store_.subscribe(
      kChannel,
      [shared = shared_](std::string_view message) {
        auto space = message.rfind(' ');  // the id may hold spaces; the expiry does not
        if (space == std::string_view::npos) return;
        std::lock_guard lock(shared->mutex);
        if (shared->owner)
          shared->owner->add(std::string(message.substr(0, space)),
                             number(message.substr(space + 1)));
      },
      [shared = shared_] { shared->gap = true; });
}

Revocations::~Revocations() {
  if (!shared_) return;
  std::lock_guard lock(shared_->mutex);
  shared_->owner = nullptr;
}

void Revocations::add(std::string jti, std::int64_t until_ms) {
  auto now = now_ms();
  if (until_ms <= now) return;  // expired: the signature check refuses it anyway
  std::unique_lock lock(mutex_);
  until_ms_.insert_or_assign(std::move(jti), until_ms);
  if (until_ms_.size() > 1024 && until_ms_.size() % 1024 == 0)
    std::erase_if(until_ms_, [now](const auto& e) { return e.second <= now; });
  count_.store(until_ms_.size(), std::memory_order_relaxed);
}

bool Revocations::revoked(std::string_view jti) const {
  if (count_.load(std::memory_order_relaxed) == 0) return false;
  std::shared_lock lock(mutex_);
  return until_ms_.find(std::string(jti)) != until_ms_.end();
}

Task<void> Revocations::revoke(std::string jti, Clock::time_point until, Deadline deadline) {
  auto until_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(until.time_since_epoch()).count();
  add(jti, until_ms);
  if (!shared_) co_return;
  std::vector<std::string> keys{kKey};
  std::vector<std::string> args{std::move(jti), std::to_string(until_ms), kChannel};
  co_await store_.run(kRevoke, std::move(keys), std::move(args), deadline);
}

Task<void> Revocations::reload() {
  std::vector<std::string> keys{kKey};
  auto reply = co_await store_.run(kLoad, std::move(keys), {});
  const auto& list = reply.list();
  for (std::size_t i = 0; i + 1 < list.size(); i += 2)
    add(list[i].text(), number(list[i + 1].text()));
}

Task<void> Revocations::keep_fresh(std::chrono::milliseconds every) {
  if (!shared_) co_return;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  auto last = std::chrono::steady_clock::time_point::min();
  bool loaded = false;
  for (;;) {
    bool gap = shared_->gap.exchange(false);
    auto now = std::chrono::steady_clock::now();
    if (!loaded || gap || now - last >= every) {
      try {
        co_await reload();
        loaded = true;
        last = now;
      } catch (const std::exception&) {
        loaded = false;  // Redis is away, or answered something unreadable: again in a second
      }
    }
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(boost::asio::use_awaitable);  // cancelled at shutdown: ends
  }
}

}  // namespace svckit::auth
