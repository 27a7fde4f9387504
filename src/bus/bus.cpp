#include "svckit/bus/bus.hpp"

#include "svckit/trace/span.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <mutex>

#include "amqp_bus.hpp"
#include "inproc_bus.hpp"
#include "svckit/context.hpp"
#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::bus {

RequestTimeout::RequestTimeout(const std::string& type, std::chrono::milliseconds timeout)
    : Error(504, "about:blank", "Gateway Timeout",
            "no reply to " + type + " within " + std::to_string(timeout.count()) + " ms") {}

// What publish_soon() queued, and whether a drain is on its way to the loop (the loop is woken
// only when the queue goes from empty to not, however many events arrive meanwhile).
struct Bus::Soon {
  std::mutex mutex;
  std::deque<Event> queue;
  bool draining = false;
  bool closed = false;
  boost::asio::io_context* loop = nullptr;
};

Bus::Bus(BusOptions options) : options_(std::move(options)), soon_(std::make_shared<Soon>()) {}

Bus::~Bus() = default;

void Bus::set_soon_loop(boost::asio::io_context* loop) {
  std::lock_guard lock(soon_->mutex);
  soon_->loop = loop;
}

void Bus::publish_soon(std::string type, nlohmann::json data, const Context* context) {
  publish_soon(make_event(std::move(type), std::move(data), context));
}

void Bus::publish_soon(Event event) {
  if (event.id.empty() || event.source.empty() || event.type.empty())
    throw BusError("an event needs an id, a source and a type");
  boost::asio::io_context* start_on;
  {
    std::lock_guard lock(soon_->mutex);
    if (soon_->closed) throw BusError("the bus is closed");
    if (!soon_->loop) throw BusError("publish_soon needs an I/O loop (open the bus with open_bus)");
    if (soon_->queue.size() >= kMaxSoon)
      throw BusError("the bus's queue for later publishing is full (" + std::to_string(kMaxSoon) +
                     " events): the broker is slower than what is published");
    soon_->queue.push_back(std::move(event));
    if (soon_->draining) return;
    soon_->draining = true;
    start_on = soon_->loop;
  }
  // Not under the lock: called on that loop's own thread, co_spawn runs the drain inline, and the
  // drain takes the lock (a deadlock the first time a handler on loop 0 used it).
  boost::asio::co_spawn(*start_on, drain_soon(std::chrono::milliseconds::max(), kSoonGather),
                        boost::asio::detached);
}

// Publishes what is queued, in order, until the queue is empty (or `timeout` passed: close()).
// First waits `gather`, so that events queued meanwhile go out in one batch: a loop woken for
// every event costs a thread switch each (a quarter of the AI Gateway's gRPC throughput).
Task<void> Bus::drain_soon(std::chrono::milliseconds timeout, std::chrono::microseconds gather) {
  auto soon = soon_;
  if (gather.count() > 0) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor, gather);
    co_await wait.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  auto deadline = timeout == std::chrono::milliseconds::max()
                      ? std::chrono::steady_clock::time_point::max()
                      : std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::deque<Event> batch;
    {
      std::lock_guard lock(soon->mutex);
      if (soon->queue.empty() || std::chrono::steady_clock::now() >= deadline) {
        soon->draining = false;
        co_return;
      }
      batch.swap(soon->queue);
    }
    for (auto& e : batch) {
      std::string type = e.type, id = e.id;  // for the log line: the event itself moves on
      try {
        co_await publish(std::move(e));
      } catch (const std::exception& error) {
        if (options_.logger)
          options_.logger->error("an event queued with publish_soon could not be published",
                                 {{"type", type}, {"event_id", id}, {"error", error.what()}});
      }
    }
  }
}

Task<void> Bus::close(std::chrono::milliseconds timeout) {
  auto started = std::chrono::steady_clock::now();
  bool run_here = false;
  {
    std::lock_guard lock(soon_->mutex);
    soon_->closed = true;
    if (!soon_->draining && !soon_->queue.empty()) soon_->draining = run_here = true;
  }
  // What publish_soon() queued goes out first: drained here, or by the drain already running.
  if (run_here) co_await drain_soon(timeout, std::chrono::microseconds(0));
  boost::asio::steady_timer poll(co_await boost::asio::this_coro::executor);
  for (;;) {
    {
      std::lock_guard lock(soon_->mutex);
      if (!soon_->draining) break;
    }
    if (std::chrono::steady_clock::now() - started >= timeout) break;
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
  }
  std::size_t left;
  {
    std::lock_guard lock(soon_->mutex);
    left = soon_->queue.size();
  }
  if (left > 0 && options_.logger)
    options_.logger->warning("the bus closed with events queued by publish_soon unpublished",
                             {{"events", left}});
  auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  co_await close_backend(std::max(std::chrono::milliseconds(0), timeout - spent));
}

Event Bus::make_event(std::string type, nlohmann::json data, const Context* context) const {
  if (Event::is_cloud_event(data)) return Event::from_json(data);
  Event e;
  e.id = uuid_v4();
  e.source = options_.source;
  e.type = std::move(type);
  e.time = utc_now_iso8601();
  e.data = std::move(data);
  if (context && trace::recording(context->trace())) {
    // A PRODUCER span, the moment the event is made: its consumers' spans are its children.
    auto span =
        trace::Span::child_of(context->trace(), e.type + " publish", trace::SpanKind::producer);
    span.set("messaging.operation", std::string("publish"))
        .set("messaging.destination.name", e.type)
        .set("messaging.message.id", e.id);
    span.end();
    e.extensions["traceparent"] = span.traceparent();
    trace::record(std::move(span));
  } else if (context) {
    e.extensions["traceparent"] = context->trace().child_traceparent();
  }
  if (context) {
    if (!context->trace().tracestate.empty())
      e.extensions["tracestate"] = context->trace().tracestate;
    if (!context->request_id().empty()) e.extensions["requestid"] = context->request_id();
  }
  return e;
}

Task<Event> Bus::publish(std::string type, nlohmann::json data, const Context* context) {
  Event e = make_event(std::move(type), std::move(data), context);
  co_await publish(e);
  co_return e;
}

Task<nlohmann::json> Bus::request(std::string type, nlohmann::json data,
                                  std::chrono::milliseconds timeout, const Context* context) {
  Event e = make_event(std::move(type), std::move(data), context);
  Event reply = co_await request(std::move(e), timeout);
  co_return std::move(reply.data);
}

std::unique_ptr<Bus> open_bus(std::string_view url, std::vector<boost::asio::io_context*> loops,
                              BusOptions options) {
  auto* first = loops.empty() ? nullptr : loops.front();
  std::unique_ptr<Bus> bus;
  if (url.empty() || url == "inproc://" || url == "inproc")
    bus = std::make_unique<detail::InprocBus>(std::move(loops), std::move(options));
  else if (url.starts_with("amqp://") || url.starts_with("amqps://"))
    bus = std::make_unique<detail::AmqpBus>(url, std::move(loops), std::move(options));
  if (bus) {
    bus->set_soon_loop(first);
    return bus;
  }
  throw BusError("BUS_URL: expected inproc:// or amqp://user:pass@host:5672/vhost, got '" +
                 std::string(url.substr(0, 64)) + "'");
}

}  // namespace svckit::bus
