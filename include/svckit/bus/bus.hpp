#pragma once
// The message bus every service publishes to and consumes from (DESIGN.md: CloudEvents 1.0,
// at-least-once). One interface, chosen by BUS_URL:
//   inproc://        the whole system in one process, no broker (the default; tests, local runs)
//   amqp://...       RabbitMQ (AMQP 0-9-1)
//
//   auto& bus = app.bus();
//   co_await bus.publish("task.created", {{"task_id", id}, ...}, &req.context());
//   bus.subscribe("analytics", "task.*", [](const bus::Event& e) -> Task<bus::Outcome> {
//     record(e.data);
//     co_return bus::Outcome::success;
//   });
//
// A group is one queue shared by its consumers: each event reaches one consumer of every group
// whose pattern matches it (work-queue semantics within a group, pub/sub across groups).
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/bus/event.hpp"
#include "svckit/error.hpp"
#include "svckit/resilience/retry_policy.hpp"
#include "svckit/task.hpp"

namespace boost::asio {
class io_context;
}
namespace svckit {
class Context;
}
namespace svckit::log {
class Logger;
}
namespace svckit::meter {
class Meter;
}

namespace svckit::bus {

// What a handler answers. success acknowledges; retry redelivers after the subscription's
// backoff and dead-letters after its last attempt; drop acknowledges without dead-lettering (and
// is logged). A handler that throws answers retry, with the exception as the reason.
enum class Outcome { success, retry, drop };
using Handler = std::function<Task<Outcome>(const Event&)>;
// Answers a request; what it returns is the reply's data. A throw becomes the requester's error.
using Responder = std::function<Task<nlohmann::json>(const Event&)>;

struct SubscribeOptions {
  RetryPolicy retry{.max_attempts = 5,
                    .initial_backoff = std::chrono::milliseconds(200),
                    .max_backoff = std::chrono::seconds(30)};
  std::size_t prefetch = 16;  // deliveries in flight at once for this consumer
  // 0: the group's queue lasts. Otherwise the broker deletes it, with its dead letters, once it
  // has had no consumer for this long: for a group of one replica (a per-replica fan-out), whose
  // queue would otherwise fill for ever after the replica is gone. In-process: no effect.
  std::chrono::milliseconds expires_unused{0};
};

// An event that used up its attempts, kept with why.
struct DeadLetter {
  Event event;
  std::string group;
  std::string reason;  // the last failure
  int attempts = 0;
  std::string dead_at;  // RFC 3339
};

// No reply within the timeout: a 504 if a handler lets it through.
class RequestTimeout : public Error {
 public:
  RequestTimeout(const std::string& type, std::chrono::milliseconds timeout);
};

struct BusOptions {
  std::string source;               // the service: every event's `source`
  meter::Meter* metrics = nullptr;  // bus_* metrics (app.metrics()); none when null
  const log::Logger* logger = nullptr;
};

class Bus {
 public:
  virtual ~Bus();
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  // Publishes `event` as it is. Completes once the bus has taken it (in-process: queued for
  // every matching group; RabbitMQ: confirmed by the broker). Throws BusError when closed.
  virtual Task<void> publish(Event event) = 0;
  // Wraps `data` in a CloudEvent from this service: new id, time now, the request's id and
  // trace (a new span) when `context` is given. `data` that already is a structured CloudEvent
  // is published as it is. Returns what was published.
  Task<Event> publish(std::string type, nlohmann::json data, const Context* context = nullptr);

  // Consumes events whose type matches `pattern` (AMQP topic rules: `task.*`, `task.#`) as a
  // member of `group`. Call before the App runs (from install()). Throws BusError for a bad
  // pattern or group name.
  virtual void subscribe(std::string group, std::string pattern, Handler handler,
                         SubscribeOptions options = {}) = 0;

  // Request/reply with a correlation id: `responder` answers requests of `type`.
  virtual void respond(std::string type, Responder responder) = 0;
  // Sends a request and waits for its reply's data. Throws RequestTimeout after `timeout`, or
  // BusError with the responder's message when it failed.
  virtual Task<Event> request(Event request, std::chrono::milliseconds timeout) = 0;
  Task<nlohmann::json> request(std::string type, nlohmann::json data,
                               std::chrono::milliseconds timeout, const Context* context = nullptr);

  // Dead-letter tooling: what is in a group's dead-letter queue, and putting one event back on
  // its group's queue (false when no such event is dead-lettered there).
  virtual Task<std::vector<DeadLetter>> dead_letters(const std::string& group) = 0;
  virtual Task<bool> replay(const std::string& group, const std::string& event_id) = 0;

  // Whether an event of `type` can reach anyone: in-process, whether a group subscribes to it;
  // over a broker always (other processes may). Lets a caller skip building an event that
  // would go nowhere.
  virtual bool wanted(std::string_view type) const {
    (void)type;
    return true;
  }

  // Queues `event` to be published from an I/O loop and returns at once: for callers that cannot
  // await (a gRPC handler answering on gRPC's thread, a C callback, Python). Events queued here
  // go out in order, in batches gathered over kSoonGather; one that fails to publish is logged
  // (it is not lost silently, but nobody waits for it). Throws BusError when the bus is closing
  // or `kMaxSoon` events already wait.
  void publish_soon(Event event);
  void publish_soon(std::string type, nlohmann::json data, const Context* context = nullptr);
  static constexpr std::size_t kMaxSoon = 100'000;
  static constexpr std::chrono::microseconds kSoonGather{1000};

  // Graceful stop: what publish_soon() queued goes out, then no new deliveries, in-flight
  // handlers finish (up to `timeout` in all), then closed.
  Task<void> close(std::chrono::milliseconds timeout);
  // Whether the bus can publish and every subscription consumes: false while the broker is
  // unreachable and until new subscriptions' queues are declared and bound (the readiness check).
  virtual bool connected() const = 0;

  const std::string& source() const { return options_.source; }
  // Where publish_soon() publishes from; open_bus sets it to the first loop.
  void set_soon_loop(boost::asio::io_context* loop);
  // The CloudEvent publish(type, data, context) would send.
  Event make_event(std::string type, nlohmann::json data, const Context* context = nullptr) const;

 protected:
  explicit Bus(BusOptions options);
  // The backend's own graceful stop (what close() does after publish_soon's queue is out).
  virtual Task<void> close_backend(std::chrono::milliseconds timeout) = 0;
  BusOptions options_;

 private:
  struct Soon;
  Task<void> drain_soon(std::chrono::milliseconds timeout, std::chrono::microseconds gather);
  std::shared_ptr<Soon> soon_;
};

// Opens the backend `url` names. Deliveries run on `loops`. Throws BusError for an unknown
// scheme or a malformed URL.
std::unique_ptr<Bus> open_bus(std::string_view url, std::vector<boost::asio::io_context*> loops,
                              BusOptions options);

}  // namespace svckit::bus
