#include "inproc_bus.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <unordered_map>

#include "bus_metrics.hpp"
#include "delivery.hpp"
#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/metrics/registry.hpp"

namespace svckit::bus::detail {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// One published event is shared, immutable, by every group it goes to.
struct Message {
  std::shared_ptr<const Event> event;
  int attempts = 0;  // deliveries so far
};

struct Consumer {
  Handler handler;
  SubscribeOptions options;
  asio::io_context* loop = nullptr;
  std::size_t loop_index = 0;
  std::size_t in_flight = 0;
};

struct Group {
  std::string name;
  std::vector<std::string> patterns;
  std::vector<std::shared_ptr<Consumer>> consumers;
  std::deque<Message> ready;
  std::size_t next_consumer = 0;
  std::vector<DeadLetter> dead;
  // Looked up once per type instead of per event (under the bus's lock): whether the patterns
  // match it, and the metric children it counts into.
  std::unordered_map<std::string, bool> matches;
  std::unordered_map<std::string, BusMetrics::TypeCounters> counters;
  prometheus::Gauge* depth = nullptr;

  bool wants(const std::string& type) {
    auto it = matches.find(type);
    if (it != matches.end()) return it->second;
    bool match = false;
    for (const auto& p : patterns) match = match || topic_matches(p, type);
    if (matches.size() > 4096) matches.clear();  // bounded however many types appear
    return matches.emplace(type, match).first->second;
  }
};

// A request waiting for its reply; woken by cancelling its timer on the requester's loop.
struct Pending {
  std::optional<Event> reply;
  std::string error;
  std::shared_ptr<asio::steady_timer> timer;
};

struct Delivery {
  Group* group;
  std::shared_ptr<Consumer> consumer;
  Message message;
  const BusMetrics::TypeCounters* counters;  // node of Group::counters: stable
};

// Deliveries waiting for their loop to pick them up, and whether a pick-up is posted already:
// while a loop is busy, new deliveries join the waiting batch instead of waking it again.
struct Inbox {
  std::vector<Delivery> deliveries;
  bool posted = false;
};
using Wakes = std::vector<std::size_t>;  // loops to post a pick-up to

}  // namespace

struct InprocBus::State : std::enable_shared_from_this<InprocBus::State> {
  BusOptions options;
  std::vector<asio::io_context*> loops;
  std::vector<Inbox> inboxes;  // one per loop, under `mutex`
  std::size_t next_loop = 0;

  std::mutex mutex;
  std::map<std::string, std::unique_ptr<Group>, std::less<>> groups;  // stable addresses
  std::map<std::string, std::shared_ptr<Pending>> pending;            // by correlation id
  std::set<std::shared_ptr<asio::steady_timer>> retry_timers;
  std::unordered_map<std::string, BusMetrics::PublishCounters> publish_counters;
  std::size_t in_flight = 0;
  bool closing = false;
  bool closed = false;

  BusMetrics metrics;

  State(std::vector<asio::io_context*> l, BusOptions o)
      : options(std::move(o)),
        loops(std::move(l)),
        inboxes(loops.size()),
        metrics(options.metrics, "inproc") {
    if (loops.empty()) throw BusError("the bus needs at least one I/O loop");
    metrics.connected(true);
  }

  void log(log::Level level, std::string_view message, log::Fields fields) const {
    if (options.logger) options.logger->write(level, message, fields);
  }

  Group& group_locked(const std::string& name) {
    auto it = groups.find(name);
    if (it != groups.end()) return *it->second;
    auto g = std::make_unique<Group>();
    g->name = name;
    g->depth = metrics.depth_gauge(name);
    return *groups.emplace(name, std::move(g)).first->second;
  }

  void set_depth(Group& g) {
    if (g.depth) g.depth->Set(static_cast<double>(g.ready.size()));
  }

  BusMetrics::PublishCounters publish_counters_locked(const std::string& type) {
    auto it = publish_counters.find(type);
    if (it == publish_counters.end())
      it = publish_counters.emplace(type, metrics.publish_counters(type)).first;
    return it->second;
  }

  const BusMetrics::TypeCounters* counters_locked(Group& g, const std::string& type) {
    auto it = g.counters.find(type);
    if (it == g.counters.end()) it = g.counters.emplace(type, metrics.counters(g.name, type)).first;
    return &it->second;
  }

  // Hands ready events to consumers with room, round-robin. Called with the lock held; the
  // deliveries start after it is released (a handler may finish before its spawn returns).
  void pump_locked(Group& g, Wakes& wakes) {
    if (closing || g.consumers.empty()) return;
    while (!g.ready.empty()) {
      std::shared_ptr<Consumer> chosen;
      for (std::size_t i = 0; i < g.consumers.size() && !chosen; ++i) {
        auto& c = g.consumers[(g.next_consumer + i) % g.consumers.size()];
        if (c->in_flight < c->options.prefetch) {
          chosen = c;
          g.next_consumer = (g.next_consumer + i + 1) % g.consumers.size();
        }
      }
      if (!chosen) break;
      ++chosen->in_flight;
      ++in_flight;
      auto* counters = counters_locked(g, g.ready.front().event->type);
      Inbox& inbox = inboxes[chosen->loop_index];
      inbox.deliveries.push_back({&g, chosen, std::move(g.ready.front()), counters});
      g.ready.pop_front();
      if (!inbox.posted) {
        inbox.posted = true;
        wakes.push_back(chosen->loop_index);
      }
    }
    set_depth(g);
  }

  // Posted, never spawned in place: co_spawn may run a handler inline, and a handler that
  // finishes without suspending would start the next delivery inside this one, nesting deeper
  // with every queued event until the stack overflows.
  void start(const Wakes& wakes) {
    for (std::size_t i : wakes)
      asio::post(*loops[i], [self = shared_from_this(), i] { self->pick_up(i); });
  }

  void pick_up(std::size_t i) {
    std::vector<Delivery> batch;
    {
      std::lock_guard lock(mutex);
      batch.swap(inboxes[i].deliveries);
      inboxes[i].posted = false;
    }
    auto self = shared_from_this();
    for (auto& d : batch) asio::co_spawn(*loops[i], deliver(self, std::move(d)), asio::detached);
  }

  // The hot path: one coroutine frame of its own per delivery (plus the handler's); settling is
  // a plain call unless a retry has to wait.
  static Task<void> deliver(std::shared_ptr<State> self, Delivery d) {
    auto started = Clock::now();
    HandlerResult result;
    try {
      result.outcome = co_await d.consumer->handler(*d.message.event);
    } catch (const std::exception& e) {
      result = {Outcome::retry, e.what()};
    }
    if (result.outcome == Outcome::retry && result.reason.empty())
      result.reason = "the handler asked for a retry";
    ++d.message.attempts;
    BusMetrics::consumed(*d.counters, result.outcome,
                         std::chrono::duration<double>(Clock::now() - started).count());
    if (auto backoff = self->settle(d, result))
      co_await self->requeue_after(std::move(d), *backoff);
  }

  // After a delivery: acknowledge, drop or dead-letter; or the backoff to wait before requeueing.
  std::optional<std::chrono::milliseconds> settle(const Delivery& d, const HandlerResult& result) {
    const auto& e = *d.message.event;
    Verdict verdict = judge(result.outcome, d.message.attempts, d.consumer->options.retry);
    Wakes next;
    {
      std::lock_guard lock(mutex);
      --d.consumer->in_flight;
      --in_flight;
      if (verdict.kind == Verdict::dead_letter)
        d.group->dead.push_back(
            {e, d.group->name, result.reason, d.message.attempts, utc_now_iso8601()});
      pump_locked(*d.group, next);
    }
    start(next);
    if (result.outcome == Outcome::drop)
      log(log::Level::info, "event dropped by its handler",
          {{"group", d.group->name}, {"type", e.type}, {"event_id", e.id}});
    if (verdict.kind == Verdict::dead_letter) {
      metrics.dead_lettered(d.group->name);
      log(log::Level::warning, "event dead-lettered",
          {{"group", d.group->name},
           {"type", e.type},
           {"event_id", e.id},
           {"attempts", d.message.attempts},
           {"reason", result.reason}});
    }
    if (verdict.kind != Verdict::retry) return std::nullopt;
    metrics.retried(d.group->name);
    return verdict.backoff;
  }

  Task<void> requeue_after(Delivery d, std::chrono::milliseconds wait) {
    auto timer = std::make_shared<asio::steady_timer>(*d.consumer->loop, wait);
    {
      std::lock_guard lock(mutex);
      if (closing) co_return;
      retry_timers.insert(timer);
    }
    auto [ec] = co_await timer->async_wait(kNoThrow);
    Wakes next;
    {
      std::lock_guard lock(mutex);
      retry_timers.erase(timer);
      // Cancelled by close(): the event stays queued (in-process, gone at exit).
      d.group->ready.push_back(std::move(d.message));
      if (!ec) pump_locked(*d.group, next);
      set_depth(*d.group);
    }
    start(next);
  }

  void answer(const std::string& correlation, std::optional<Event> reply, std::string error) {
    std::lock_guard lock(mutex);
    auto it = pending.find(correlation);
    if (it == pending.end()) return;  // the requester gave up already
    auto p = it->second;
    p->reply = std::move(reply);
    p->error = std::move(error);
    if (p->error.empty() && !p->reply) p->error = "empty reply";
    asio::post(p->timer->get_executor(), [p] { p->timer->cancel(); });
  }
};

InprocBus::InprocBus(std::vector<asio::io_context*> loops, BusOptions options)
    : Bus(options), state_(std::make_shared<State>(std::move(loops), std::move(options))) {}

InprocBus::~InprocBus() = default;

Task<void> InprocBus::publish(Event event) {
  if (event.id.empty() || event.source.empty() || event.type.empty())
    throw BusError("an event needs an id, a source and a type");
  auto shared = std::make_shared<const Event>(std::move(event));
  Wakes deliveries;
  BusMetrics::PublishCounters counters;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->closed) throw BusError("the bus is closed");
    for (auto& [name, group] : state_->groups) {
      if (!group->wants(shared->type)) continue;
      group->ready.push_back(Message{shared, 0});
      state_->pump_locked(*group, deliveries);
    }
    counters = state_->publish_counters_locked(shared->type);
  }
  if (counters.published) {
    counters.published->Increment();
    counters.confirmed->Increment();
  }
  state_->start(deliveries);
  co_return;
}

void InprocBus::subscribe(std::string group, std::string pattern, Handler handler,
                          SubscribeOptions options) {
  check_group(group);
  check_pattern(pattern);
  if (!handler) throw BusError("subscribe needs a handler");
  options.prefetch = std::max<std::size_t>(1, options.prefetch);
  options.retry.max_attempts = std::max(1, options.retry.max_attempts);
  auto consumer = std::make_shared<Consumer>();
  consumer->handler = std::move(handler);
  consumer->options = options;
  Wakes deliveries;
  {
    std::lock_guard lock(state_->mutex);
    consumer->loop_index = state_->next_loop++ % state_->loops.size();
    consumer->loop = state_->loops[consumer->loop_index];
    Group& g = state_->group_locked(group);
    if (std::find(g.patterns.begin(), g.patterns.end(), pattern) == g.patterns.end()) {
      g.patterns.push_back(pattern);
      g.matches.clear();
    }
    g.consumers.push_back(consumer);
    state_->pump_locked(g, deliveries);
  }
  state_->start(deliveries);
}

void InprocBus::respond(std::string type, Responder responder) {
  check_pattern(type);
  std::weak_ptr<State> weak = state_;
  auto shared_responder = std::make_shared<Responder>(std::move(responder));
  subscribe(
      "rpc." + type, type,
      [weak, shared_responder](const Event& request) -> Task<Outcome> {
        const auto& correlation = request.extension("correlationid");
        if (correlation.empty()) co_return Outcome::drop;  // not a request: nobody to answer
        std::optional<Event> reply;
        std::string error;
        try {
          Event r;
          r.id = uuid_v4();
          r.type = request.type + ".reply";
          r.time = utc_now_iso8601();
          r.data = co_await (*shared_responder)(request);
          r.extensions["correlationid"] = correlation;
          reply = std::move(r);
        } catch (const std::exception& e) {
          error = e.what();
          if (error.empty()) error = "the responder failed";
        }
        if (auto state = weak.lock())
          state->answer(correlation, std::move(reply), std::move(error));
        co_return Outcome::success;
      },
      SubscribeOptions{.retry = RetryPolicy::none(), .prefetch = 64});
}

Task<Event> InprocBus::request(Event request, std::chrono::milliseconds timeout) {
  auto pending = std::make_shared<Pending>();
  pending->timer =
      std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, timeout);
  std::string correlation = uuid_v4();
  request.extensions["correlationid"] = correlation;
  request.extensions["replyto"] = "inproc";
  {
    std::lock_guard lock(state_->mutex);
    state_->pending.emplace(correlation, pending);
  }
  std::string type = request.type;
  try {
    co_await publish(std::move(request));
  } catch (...) {
    std::lock_guard lock(state_->mutex);
    state_->pending.erase(correlation);
    throw;
  }
  co_await pending->timer->async_wait(kNoThrow);  // woken early by the reply
  {
    std::lock_guard lock(state_->mutex);
    state_->pending.erase(correlation);
  }
  if (!pending->error.empty())
    throw BusError("the responder to " + type + " failed: " + pending->error);
  if (!pending->reply) throw RequestTimeout(type, timeout);
  co_return std::move(*pending->reply);
}

Task<std::vector<DeadLetter>> InprocBus::dead_letters(const std::string& group) {
  std::lock_guard lock(state_->mutex);
  auto it = state_->groups.find(group);
  if (it == state_->groups.end()) co_return std::vector<DeadLetter>{};
  co_return it->second->dead;
}

Task<bool> InprocBus::replay(const std::string& group, const std::string& event_id) {
  Wakes deliveries;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->groups.find(group);
    if (it == state_->groups.end()) co_return false;
    auto& dead = it->second->dead;
    auto letter = std::find_if(dead.begin(), dead.end(),
                               [&](const DeadLetter& d) { return d.event.id == event_id; });
    if (letter == dead.end()) co_return false;
    it->second->ready.push_back(
        Message{std::make_shared<const Event>(std::move(letter->event)), 0});
    dead.erase(letter);
    state_->pump_locked(*it->second, deliveries);
  }
  state_->start(deliveries);
  co_return true;
}

Task<void> InprocBus::close(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(state_->mutex);
    state_->closing = true;
    for (const auto& t : state_->retry_timers) asio::post(t->get_executor(), [t] { t->cancel(); });
  }
  auto deadline = Clock::now() + timeout;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (;;) {
    {
      std::lock_guard lock(state_->mutex);
      if (state_->in_flight == 0 || Clock::now() >= deadline) {
        if (state_->in_flight > 0)
          state_->log(log::Level::warning, "bus closed with handlers still running",
                      {{"in_flight", state_->in_flight}});
        state_->closed = true;
        break;
      }
    }
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(kNoThrow);
  }
  state_->metrics.connected(false);
}

bool InprocBus::connected() const {
  std::lock_guard lock(state_->mutex);
  return !state_->closed;
}

}  // namespace svckit::bus::detail
