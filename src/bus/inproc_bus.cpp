#include "inproc_bus.hpp"

#include <atomic>
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
#include <shared_mutex>
#include <unordered_map>

#include "bus_metrics.hpp"
#include "delivery.hpp"
#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"

// How events move (docs/bus.md#in-process):
//   publish → for each group whose patterns match: a consumer with room (an atomic credit) gets
//   it in its inbox, and its loop is woken once per batch; without room it waits in the group's
//   backlog, under the group's lock, until a settle frees credit.
//   On the consumer's loop, worker coroutines take deliveries one after another; another worker
//   is started only while one is suspended inside a handler and deliveries are waiting, so
//   handlers that finish at once cost no spawn, and the ones that wait still run `prefetch` at
//   once. Settling gives the credit back with an atomic; the group's lock is only taken when a
//   backlog is waiting, a retry is due, or an event is dead-lettered.
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

struct Group;

struct Consumer {
  Handler handler;
  SubscribeOptions options;
  Group* group = nullptr;
  asio::io_context* loop = nullptr;
  // Deliveries handed to this consumer and not settled yet; never above options.prefetch.
  std::atomic<std::size_t> taken{0};

  // Handed over by publishing threads. `posted` while a pick-up is on its way or a worker will
  // look here before it runs out of deliveries; a hand-over only wakes the loop when it is not.
  std::mutex inbox_mutex;
  std::vector<Message> inbox;
  bool posted = false;

  // Touched only on `loop`.
  std::deque<Message> local;
  std::size_t workers = 0;     // worker coroutines alive
  bool helper_posted = false;  // a check for a further worker is on its way
  std::unordered_map<std::string, const BusMetrics::DeliveryCells*> counters;  // by type

  // Takes one unit of credit, unless the consumer is full.
  bool take_credit() {
    auto used = taken.load();
    while (used < options.prefetch)
      if (taken.compare_exchange_weak(used, used + 1)) return true;
    return false;
  }
};

struct Group {
  std::string name;
  std::vector<std::string> patterns;
  std::vector<std::unique_ptr<Consumer>> consumers;  // changed under the topology lock + mutex
  std::atomic<std::size_t> next_consumer{0};

  std::mutex mutex;                          // guards what follows
  std::deque<Message> backlog;               // waiting for a consumer with credit
  std::atomic<std::size_t> backlog_size{0};  // read without the lock by settles and publishes
  std::vector<DeadLetter> dead;
  meter::Gauge* depth = nullptr;

  bool wants(const std::string& type) const {
    for (const auto& p : patterns)
      if (topic_matches(p, type)) return true;
    return false;
  }

  // A consumer with room, round-robin from where the last search ended; took its credit.
  Consumer* consumer_with_credit() {
    const std::size_t n = consumers.size();
    if (n == 0) return nullptr;
    const std::size_t start = next_consumer.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < n; ++i) {
      Consumer* c = consumers[(start + i) % n].get();
      if (c->take_credit()) return c;
    }
    return nullptr;
  }
};

// Where the events of one type go, and what publishing them counts into.
struct Route {
  std::vector<Group*> groups;
  const BusMetrics::PublishCells* counters;  // null without metrics
};

// A request waiting for its reply; woken by cancelling its timer on the requester's loop.
struct Pending {
  std::optional<Event> reply;
  std::string error;
  std::shared_ptr<asio::steady_timer> timer;
};

}  // namespace

struct InprocBus::State : std::enable_shared_from_this<InprocBus::State> {
  BusOptions options;
  std::vector<asio::io_context*> loops;
  BusMetrics metrics;

  // Groups and routes change at subscribe (rarely, and mostly before the loops run); every
  // publish reads them. Lock order: topology, then a group's mutex, then a consumer's inbox.
  mutable std::shared_mutex topology;
  std::map<std::string, std::unique_ptr<Group>, std::less<>> groups;  // stable addresses
  std::unordered_map<std::string, Route> routes;                      // by type, a cache
  std::size_t next_loop = 0;

  std::atomic<bool> closing{false};
  std::atomic<bool> closed{false};

  std::mutex pending_mutex;
  std::map<std::string, std::shared_ptr<Pending>> pending;  // by correlation id

  std::mutex timers_mutex;
  std::set<std::shared_ptr<asio::steady_timer>> retry_timers;

  State(std::vector<asio::io_context*> l, BusOptions o)
      : options(std::move(o)), loops(std::move(l)), metrics(options.metrics, "inproc") {
    if (loops.empty()) throw BusError("the bus needs at least one I/O loop");
    metrics.connected(true);
  }

  void log(log::Level level, std::string_view message, log::Fields fields) const {
    if (options.logger) options.logger->write(level, message, fields);
  }

  // --- publishing side -------------------------------------------------------------------------

  // Runs `use(route)` with the route of `type` under the shared topology lock.
  template <class Use>
  void with_route(const std::string& type, Use use) {
    {
      std::shared_lock lock(topology);
      if (auto it = routes.find(type); it != routes.end()) return use(it->second);
    }
    std::unique_lock lock(topology);
    auto it = routes.find(type);
    if (it == routes.end()) {
      if (routes.size() > 4096) routes.clear();  // bounded however many types appear
      Route route{{}, metrics.publish_cells(type)};
      for (auto& [name, g] : groups)
        if (g->wants(type)) route.groups.push_back(g.get());
      it = routes.emplace(type, std::move(route)).first;
    }
    use(it->second);
  }

  // Hands `m` to a consumer of `g` with credit, or queues it in the group's backlog. A backlog
  // is drained first, so one publisher's events reach a consumer in publish order.
  void offer(Group& g, Message m) {
    if (!closing.load() && g.backlog_size.load() == 0)
      if (Consumer* c = g.consumer_with_credit()) return hand(*c, std::move(m));
    std::lock_guard lock(g.mutex);
    g.backlog.push_back(std::move(m));
    g.backlog_size.store(g.backlog.size());
    drain_locked(g);
  }

  // Moves backlog to consumers with credit. With g.mutex held. The backlog size is stored before
  // credit is looked at, and a settle frees credit before it looks at the size (both
  // sequentially consistent), so one of the two always sees the other: no event waits forever.
  void drain_locked(Group& g) {
    while (!g.backlog.empty() && !closing.load()) {
      Consumer* c = g.consumer_with_credit();
      if (!c) break;
      hand(*c, std::move(g.backlog.front()));
      g.backlog.pop_front();
      g.backlog_size.store(g.backlog.size());
    }
    if (g.depth) g.depth->set(static_cast<double>(g.backlog.size()));
  }

  // Into the consumer's inbox; its loop is woken once for however many arrive meanwhile.
  void hand(Consumer& c, Message m) {
    bool wake;
    {
      std::lock_guard lock(c.inbox_mutex);
      c.inbox.push_back(std::move(m));
      wake = !c.posted;
      c.posted = true;
    }
    if (wake) asio::post(*c.loop, [self = shared_from_this(), &c] { self->pick_up(c); });
  }

  // --- consuming side (on the consumer's loop) ------------------------------------------------

  // Posted by hand() when the consumer had said it was idle.
  void pick_up(Consumer& c) {
    take_inbox(c);
    // Workers alive now are all suspended inside handlers (a worker only yields there).
    if (!c.local.empty() && c.workers < c.options.prefetch) spawn_worker(c);
  }

  // Moves what publishers handed over into the loop's own queue. When there was nothing, the
  // consumer is idle from the publishers' point of view: the next hand-over posts a pick-up.
  // While a worker keeps finding deliveries here no pick-up is posted at all.
  void take_inbox(Consumer& c) {
    std::vector<Message> batch;
    {
      std::lock_guard lock(c.inbox_mutex);
      batch.swap(c.inbox);
      if (batch.empty()) c.posted = false;
    }
    for (auto& m : batch) c.local.push_back(std::move(m));
  }

  void spawn_worker(Consumer& c) {
    ++c.workers;
    asio::co_spawn(*c.loop, work(shared_from_this(), c), asio::detached);
  }

  // Posted, so it runs only once the current worker has suspended or run out of deliveries: a
  // further worker only when one is waiting inside its handler and deliveries are still queued.
  void maybe_add_worker(Consumer& c) {
    if (c.helper_posted || c.workers >= c.options.prefetch) return;
    c.helper_posted = true;
    asio::post(*c.loop, [self = shared_from_this(), &c] {
      c.helper_posted = false;
      if (!c.local.empty() && c.workers < c.options.prefetch) self->spawn_worker(c);
    });
  }

  // One worker: deliveries one after another, without a stack that grows with the backlog. The
  // inbox is looked at before the last queued delivery starts, so a handler that waits long
  // does not hold back what arrives meanwhile (a pick-up then starts another worker).
  static Task<void> work(std::shared_ptr<State> self, Consumer& c) {
    while (!c.local.empty()) {
      Message m = std::move(c.local.front());
      c.local.pop_front();
      if (c.local.empty()) self->take_inbox(c);
      if (!c.local.empty()) self->maybe_add_worker(c);
      co_await self->deliver(c, std::move(m));
    }
    --c.workers;
  }

  Task<void> deliver(Consumer& c, Message m) {
    const bool traced_delivery = traced(*m.event);  // once: a copy is made for what it writes
    if (m.attempts > 0 || traced_delivery) {
      // A retry, or a traced delivery (its span's id is written on it): a copy of its own (the
      // first delivery otherwise shares the published event).
      auto own = std::make_shared<Event>(*m.event);
      own->attempt = m.attempts + 1;
      m.event = std::move(own);
    }
    const BusMetrics::DeliveryCells* counters = counters_for(c, m.event->type);
    auto started = counters ? Clock::now() : Clock::time_point{};
    // Shared (and const) only when untraced, and then run_handler writes nothing to it.
    auto& event = const_cast<Event&>(*m.event);
    HandlerResult result = co_await run_handler(c.handler, event, "inproc", traced_delivery);
    ++m.attempts;
    if (counters)
      counters->record(result.outcome,
                       std::chrono::duration<double>(Clock::now() - started).count());
    settle(c, std::move(m), result);
  }

  // This consumer's own series (no cache line shared with other consumers), by type.
  const BusMetrics::DeliveryCells* counters_for(Consumer& c, const std::string& type) {
    auto it = c.counters.find(type);
    if (it == c.counters.end()) {
      if (c.counters.size() > 4096) c.counters.clear();  // the series stay; only the cache goes
      it = c.counters.emplace(type, metrics.delivery_cells(c.group->name, type)).first;
    }
    return it->second;
  }

  // After a delivery: acknowledge, drop, dead-letter or schedule a retry; then give the credit
  // back and, if events are waiting for it, hand them on.
  void settle(Consumer& c, Message m, const HandlerResult& result) {
    Group& g = *c.group;
    const auto& e = *m.event;
    Verdict verdict = judge(result.outcome, m.attempts, c.options.retry);
    if (result.outcome == Outcome::drop)
      log(log::Level::info, "event dropped by its handler",
          {{"group", g.name}, {"type", e.type}, {"event_id", e.id}});
    if (verdict.kind == Verdict::dead_letter) {
      {
        std::lock_guard lock(g.mutex);
        g.dead.push_back({e, g.name, result.reason, m.attempts, utc_now_iso8601()});
      }
      metrics.dead_lettered(g.name);
      log(log::Level::warning, "event dead-lettered",
          {{"group", g.name},
           {"type", e.type},
           {"event_id", e.id},
           {"attempts", m.attempts},
           {"reason", result.reason}});
    }
    if (verdict.kind == Verdict::retry) {
      metrics.retried(g.name);
      asio::co_spawn(*c.loop, requeue_after(shared_from_this(), g, std::move(m), verdict.backoff),
                     asio::detached);
    }
    c.taken.fetch_sub(1);
    if (g.backlog_size.load() > 0) {
      std::lock_guard lock(g.mutex);
      drain_locked(g);
    }
  }

  static Task<void> requeue_after(std::shared_ptr<State> self, Group& g, Message m,
                                  std::chrono::milliseconds wait) {
    auto timer = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, wait);
    {
      std::lock_guard lock(self->timers_mutex);
      if (self->closing) co_return;
      self->retry_timers.insert(timer);
    }
    co_await timer->async_wait(kNoThrow);
    {
      std::lock_guard lock(self->timers_mutex);
      self->retry_timers.erase(timer);
    }
    // Cancelled by close(): the event stays queued (in-process, gone at exit).
    std::lock_guard lock(g.mutex);
    g.backlog.push_back(std::move(m));
    g.backlog_size.store(g.backlog.size());
    self->drain_locked(g);
  }

  // Deliveries handed out and not settled, over every consumer.
  std::size_t in_flight() const {
    std::shared_lock lock(topology);
    std::size_t n = 0;
    for (const auto& [name, g] : groups)
      for (const auto& c : g->consumers) n += c->taken.load();
    return n;
  }

  // --- request/reply ---------------------------------------------------------------------------

  void answer(const std::string& correlation, std::optional<Event> reply, std::string error) {
    std::lock_guard lock(pending_mutex);
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
  if (state_->closed) throw BusError("the bus is closed");
  auto shared = std::make_shared<const Event>(std::move(event));
  state_->with_route(shared->type, [&](const Route& route) {
    const std::size_t n = route.groups.size();
    for (std::size_t i = 0; i + 1 < n; ++i) state_->offer(*route.groups[i], Message{shared, 0});
    if (route.counters) {  // taken at once: in-process, published is confirmed
      route.counters->published->increment();
      route.counters->confirmed->increment();
    }
    if (n > 0) state_->offer(*route.groups[n - 1], Message{std::move(shared), 0});
  });
  co_return;
}

void InprocBus::subscribe(std::string group, std::string pattern, Handler handler,
                          SubscribeOptions options) {
  check_group(group);
  check_pattern(pattern);
  if (!handler) throw BusError("subscribe needs a handler");
  options.prefetch = std::max<std::size_t>(1, options.prefetch);
  options.retry.max_attempts = std::max(1, options.retry.max_attempts);
  auto consumer = std::make_unique<Consumer>();
  consumer->handler = std::move(handler);
  consumer->options = options;
  std::unique_lock topology(state_->topology);
  consumer->loop = state_->loops[state_->next_loop++ % state_->loops.size()];
  auto it = state_->groups.find(group);
  if (it == state_->groups.end()) {
    auto g = std::make_unique<Group>();
    g->name = group;
    g->depth = state_->metrics.depth_gauge(group);
    state_->metrics.subscribed(group);
    it = state_->groups.emplace(group, std::move(g)).first;
  }
  Group& g = *it->second;
  consumer->group = &g;
  std::lock_guard lock(g.mutex);
  if (std::find(g.patterns.begin(), g.patterns.end(), pattern) == g.patterns.end()) {
    g.patterns.push_back(pattern);
    state_->routes.clear();
  }
  g.consumers.push_back(std::move(consumer));
  state_->drain_locked(g);
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
    std::lock_guard lock(state_->pending_mutex);
    state_->pending.emplace(correlation, pending);
  }
  std::string type = request.type;
  try {
    co_await publish(std::move(request));
  } catch (...) {
    std::lock_guard lock(state_->pending_mutex);
    state_->pending.erase(correlation);
    throw;
  }
  co_await pending->timer->async_wait(kNoThrow);  // woken early by the reply
  {
    std::lock_guard lock(state_->pending_mutex);
    state_->pending.erase(correlation);
  }
  if (!pending->error.empty())
    throw BusError("the responder to " + type + " failed: " + pending->error);
  if (!pending->reply) throw RequestTimeout(type, timeout);
  co_return std::move(*pending->reply);
}

Task<std::vector<DeadLetter>> InprocBus::dead_letters(const std::string& group) {
  std::shared_lock topology(state_->topology);
  auto it = state_->groups.find(group);
  if (it == state_->groups.end()) co_return std::vector<DeadLetter>{};
  std::lock_guard lock(it->second->mutex);
  co_return it->second->dead;
}

Task<bool> InprocBus::replay(const std::string& group, const std::string& event_id) {
  std::shared_lock topology(state_->topology);
  auto it = state_->groups.find(group);
  if (it == state_->groups.end()) co_return false;
  Group& g = *it->second;
  std::lock_guard lock(g.mutex);
  auto letter = std::find_if(g.dead.begin(), g.dead.end(),
                             [&](const DeadLetter& d) { return d.event.id == event_id; });
  if (letter == g.dead.end()) co_return false;
  letter->event.attempt = 1;  // a replay starts again
  g.backlog.push_back(Message{std::make_shared<const Event>(std::move(letter->event)), 0});
  g.backlog_size.store(g.backlog.size());
  g.dead.erase(letter);
  state_->drain_locked(g);
  co_return true;
}

Task<void> InprocBus::close_backend(std::chrono::milliseconds timeout) {
  state_->closing = true;
  {
    std::lock_guard lock(state_->timers_mutex);
    for (const auto& t : state_->retry_timers) asio::post(t->get_executor(), [t] { t->cancel(); });
  }
  auto deadline = Clock::now() + timeout;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  for (;;) {
    auto in_flight = state_->in_flight();
    if (in_flight == 0 || Clock::now() >= deadline) {
      if (in_flight > 0)
        state_->log(log::Level::warning, "bus closed with handlers still running",
                    {{"in_flight", in_flight}});
      state_->closed = true;
      break;
    }
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(kNoThrow);
  }
  state_->metrics.connected(false);
}

bool InprocBus::connected() const {
  return !state_->closed;
}

bool InprocBus::wanted(std::string_view type) const {
  bool wanted = false;
  state_->with_route(std::string(type),
                     [&](const Route& route) { wanted = !route.groups.empty(); });
  return wanted;
}

}  // namespace svckit::bus::detail
