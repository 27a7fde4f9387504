#pragma once
// svckit::kv — a small key-value store for state that every replica of a service must see: rate
// limits, response caches, token state, idempotency keys. In-process by default ("memory://",
// one process's memory: what a single replica needs), Redis when REDIS_URL is set.
//
//   auto& kv = app.kv();
//   co_await kv.set("greeting", "hello", 30s);               // with a time to live
//   auto value = co_await kv.get("greeting");                 // std::optional<std::string>
//   auto n = co_await kv.increment("visits", 1, 24h);         // the TTL applies when created
//   bool mine = co_await kv.add("lock:job-7", holder, 10s);   // only when absent (SET NX)
//   co_await kv.compare_and_set("config", old, updated);      // only when it still holds `old`
//   auto replies = co_await kv.run(Batch().get("a").get("b")); // many commands, one wait
//
// Every call is bounded by its deadline and by the store's timeout; a store that cannot answer
// throws ServiceUnavailable (503). Redis commands from the calls of one I/O loop share one
// connection and are written together (pipelined); a lost connection is re-made in the
// background with backoff, and while it is away calls fail at once rather than wait.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "svckit/kv/batch.hpp"
#include "svckit/resilience/deadline.hpp"
#include "svckit/task.hpp"

namespace boost::asio {
class io_context;
}
namespace svckit::meter {
class Meter;
}
namespace svckit::log {
class Logger;
}

namespace svckit::kv {

using std::chrono::milliseconds;

// What a script returns: nothing (nil), an integer, a string, or a list of those.
struct Reply {
  using List = std::vector<Reply>;
  std::variant<std::monostate, std::int64_t, std::string, List> value;

  bool is_nil() const { return std::holds_alternative<std::monostate>(value); }
  // The integer (a string of digits counts); std::invalid_argument when it is neither.
  std::int64_t integer() const;
  // The string; std::invalid_argument when the reply is not one.
  const std::string& text() const;
  // The list; std::invalid_argument when the reply is not one.
  const List& list() const;
};

// The entries of the in-process store, as a script's local form sees them (locked for it).
class Entries {
 public:
  virtual ~Entries() = default;
  virtual std::optional<std::string> get(const std::string& key) = 0;
  // ttl 0: no expiry.
  virtual void set(const std::string& key, std::string value, milliseconds ttl) = 0;
  virtual void erase(const std::string& key) = 0;
  // Milliseconds since the epoch, the clock scripts read (Redis's TIME on Redis).
  virtual std::int64_t now_ms() = 0;
};

// An atomic read-modify-write: Lua for Redis (EVALSHA, loaded on first use), the same logic in
// C++ for the in-process store. Keep the two equivalent: the kv contract tests run both.
struct Script {
  std::string lua;
  std::function<Reply(Entries&, std::span<const std::string> keys,
                      std::span<const std::string> args)>
      local;
};

struct StoreOptions {
  // Each call's longest wait when its deadline allows more (KV_TIMEOUT).
  milliseconds timeout{500};
  // The I/O loops calls come from: one Redis connection each (calls from another loop get one
  // of their own on first use).
  std::vector<boost::asio::io_context*> loops;
  // Redis connections per loop, taken in turn: more let a loop keep more commands in flight when
  // its calls outnumber what one connection's batches carry (KV_CONNECTIONS_PER_LOOP).
  std::size_t connections_per_loop = 1;
  meter::Meter* meter = nullptr;        // kv_* metrics when set
  const log::Logger* logger = nullptr;  // connection losses and recoveries
};

class Store {
 public:
  virtual ~Store() = default;

  // "memory" or "redis".
  virtual std::string_view backend() const = 0;
  // Closes its connections for good (any thread; the destructor does too): calls fail with 503
  // from then on, and nothing of it keeps an I/O loop running.
  virtual void close() {}
  // Where it lives, a password masked.
  virtual std::string shown() const = 0;
  // Whether the store answers now (Redis: PING from this loop's connection, which reconnects
  // if it was lost). The App's readiness check "kv".
  virtual Task<bool> ping(Deadline deadline = {}) = 0;

  virtual Task<std::optional<std::string>> get(std::string key, Deadline deadline = {}) = 0;
  // ttl 0: kept until erased or overwritten.
  virtual Task<void> set(std::string key, std::string value, milliseconds ttl = {},
                         Deadline deadline = {}) = 0;
  // Sets only when the key is absent; whether it did.
  virtual Task<bool> add(std::string key, std::string value, milliseconds ttl = {},
                         Deadline deadline = {}) = 0;
  // Sets only when the key holds `expected` (nullopt: when it is absent); whether it did.
  virtual Task<bool> compare_and_set(std::string key, std::optional<std::string> expected,
                                     std::string value, milliseconds ttl = {},
                                     Deadline deadline = {}) = 0;
  // Adds `by` to the integer at `key` (absent: 0) and returns the sum; `ttl` is set when this
  // call created the key. A key holding something else than an integer: std::invalid_argument.
  virtual Task<std::int64_t> increment(std::string key, std::int64_t by = 1, milliseconds ttl = {},
                                       Deadline deadline = {}) = 0;
  // Whether there was something to erase.
  virtual Task<bool> erase(std::string key, Deadline deadline = {}) = 0;
  // Runs `script` atomically over `keys` with `args`.
  virtual Task<Reply> run(const Script& script, std::vector<std::string> keys,
                          std::vector<std::string> args, Deadline deadline = {}) = 0;
  // Runs the batch's commands in order and answers one reply each (batch.hpp). `batch` must
  // live until the call returns.
  virtual Task<std::vector<Reply>> run(const Batch& batch, Deadline deadline = {}) = 0;

  // Messages to every subscriber of `channel`, in every replica connected to the same store.
  // Delivery is at most once and starts when the subscription is in place: `on_gap` runs each
  // time it is (first, and after a lost connection), so that the subscriber can load from the
  // store what it may have missed before.
  virtual Task<void> publish(std::string channel, std::string message, Deadline deadline = {}) = 0;
  using MessageHandler = std::function<void(std::string_view message)>;
  // From now until the store is destroyed; handlers run on one of the store's loops (the
  // in-process store: on the publisher's thread).
  virtual void subscribe(std::string channel, MessageHandler on_message,
                         std::function<void()> on_gap = {}) = 0;
};

// "memory://" (or "") for the in-process store, "redis://[user:password@]host[:port][/db]" for
// Redis. "rediss://" is refused: TLS to Redis is not built yet (docs/kv.md). Throws
// std::invalid_argument naming what is wrong with the URL.
std::unique_ptr<Store> open_store(const std::string& url, StoreOptions options = {});

}  // namespace svckit::kv
