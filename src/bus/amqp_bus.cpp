#include "amqp_bus.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <set>

#include "amqp_consumer.hpp"
#include "amqp_dead_letters.hpp"
#include "amqp_publisher.hpp"
#include "amqp_topology.hpp"
#include "bus_metrics.hpp"
#include "delivery.hpp"
#include "svckit/blocking_pool.hpp"
#include "svckit/ids.hpp"
#include "svckit/log/logger.hpp"

namespace svckit::bus::detail {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kMaxPending = 10000;  // queued + unconfirmed publishes before send() waits
constexpr std::size_t kMaxMessageBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxBrowse = 10000;

struct Subscription {
  std::string group;
  Handler handler;
  SubscribeOptions options;
  asio::io_context* loop = nullptr;
  std::size_t loop_index = 0;
};

struct PendingRequest {
  std::shared_ptr<Wakeup> wakeup;
  std::optional<Event> reply;
};

}  // namespace

struct AmqpBus::State : std::enable_shared_from_this<AmqpBus::State> {
  BusOptions options;
  std::vector<asio::io_context*> loops;
  AmqpAddress address;
  std::string reply_queue;
  BusMetrics metrics;
  BlockingPool tooling{1};  // dead-letter browsing and the links' final close

  std::mutex mutex;
  std::size_t next_loop = 0;
  std::map<std::string, std::shared_ptr<PendingRequest>> pending;  // by correlation id
  std::set<std::shared_ptr<asio::steady_timer>> backoffs;
  std::atomic<std::size_t> in_flight{0};
  std::atomic<bool> closing{false}, closed{false};
  std::atomic<bool> publisher_up{false}, consumer_up{false};
  // The consumer's thread only: deliveries of the current read, by loop.
  std::vector<std::vector<std::pair<std::shared_ptr<Subscription>, AmqpDelivery>>> inbox;

  // Last: stopped (threads joined) before anything above goes.
  std::unique_ptr<AmqpPublisher> publisher;
  std::unique_ptr<AmqpConsumer> consumer;

  State(std::string_view url, std::vector<asio::io_context*> l, BusOptions o)
      : options(std::move(o)),
        loops(std::move(l)),
        address(parse_amqp_url(url)),
        reply_queue("svckit.reply." + options.source + "." + uuid_v4().substr(0, 8)),
        metrics(options.metrics, "amqp") {
    if (loops.empty()) throw BusError("the bus needs at least one I/O loop");
    inbox.resize(loops.size());
    metrics.connected(false);
  }

  // After construction: the hooks hold a weak pointer to this.
  void start() {
    std::weak_ptr<State> weak = weak_from_this();
    publisher =
        std::make_unique<AmqpPublisher>(address, options.logger, kMaxPending, [this](bool up) {
          publisher_up = up;
          report_connected();
        });
    AmqpConsumer::Hooks hooks;
    hooks.reply = [this](AmqpMessage m) { answer(std::move(m)); };
    hooks.state = [this](bool up) {
      consumer_up = up;
      report_connected();
    };
    hooks.depth = [this](const std::string& group, double n) { metrics.depth(group, n); };
    hooks.delivered = [this] { hand_on(); };
    consumer = std::make_unique<AmqpConsumer>(address, options.logger, reply_queue,
                                              kMaxMessageBytes, std::move(hooks));
    publisher->start();
    consumer->start();
  }

  ~State() {
    if (consumer) consumer->stop();
    if (publisher) publisher->stop();
  }

  void report_connected() { metrics.connected(publisher_up && consumer_up); }

  void log(log::Level level, std::string_view message, log::Fields fields) const {
    if (options.logger) options.logger->write(level, message, fields);
  }

  // From the consumer's thread: a delivery for the subscription's loop, handed on with the
  // others of the same read.
  void receive(const std::shared_ptr<Subscription>& s, AmqpDelivery d) {
    ++in_flight;
    inbox[s->loop_index].push_back({s, std::move(d)});
  }

  // From the consumer's thread after each read: one post per loop runs its handlers, in order.
  void hand_on() {
    for (std::size_t i = 0; i < inbox.size(); ++i) {
      if (inbox[i].empty()) continue;
      asio::post(*loops[i], [weak = weak_from_this(), loop = loops[i],
                             batch = std::exchange(inbox[i], {})]() mutable {
        auto self = weak.lock();
        if (!self) return;  // the bus is gone; the broker redelivers
        for (auto& [s, d] : batch)
          asio::co_spawn(*loop, handle(self, std::move(s), std::move(d)), asio::detached);
      });
    }
  }

  static Task<void> handle(std::shared_ptr<State> self, std::shared_ptr<Subscription> s,
                           AmqpDelivery d) {
    struct Done {
      State* state;
      ~Done() { --state->in_flight; }
    } done{self.get()};
    auto settle = [&](AmqpConsumer::Settle how) {
      self->consumer->settle(d.generation, d.tag, how);
    };
    if (self->closing) co_return settle(AmqpConsumer::Settle::requeue);
    std::optional<Event> event;
    try {
      if (d.oversize) throw BusError("the message is over the 16 MiB limit");
      event = decode_event(d.message, d.routing_key);
    } catch (const BusError& e) {  // poison: the broker moves it to the dead-letter queue
      self->log(log::Level::warning, "undecodable message dead-lettered",
                {{"group", s->group}, {"routing_key", d.routing_key}, {"error", e.what()}});
      self->metrics.dead_lettered(s->group);
      co_return settle(AmqpConsumer::Settle::reject);
    }
    int attempts = header_count(d.message, kAttemptsHeader) + 1;
    event->attempt = attempts;
    auto started = Clock::now();
    const bool traced_delivery = traced(*event);
    HandlerResult result = co_await run_handler(s->handler, *event, "rabbitmq", traced_delivery);
    self->metrics.consumed(s->group, event->type, result.outcome,
                           std::chrono::duration<double>(Clock::now() - started).count());
    Verdict verdict = judge(result.outcome, attempts, s->options.retry);
    if (verdict.kind == Verdict::acknowledge) {
      if (result.outcome == Outcome::drop)
        self->log(log::Level::info, "event dropped by its handler",
                  {{"group", s->group}, {"type", event->type}, {"event_id", event->id}});
      co_return settle(AmqpConsumer::Settle::ack);
    }
    d.message.set_header(kAttemptsHeader, std::to_string(attempts));
    std::string exchange;
    if (verdict.kind == Verdict::retry) {
      self->metrics.retried(s->group);
      // Held unacknowledged meanwhile: if this process dies, the broker redelivers it.
      if (!co_await self->sleep(verdict.backoff, *s->loop))
        co_return settle(AmqpConsumer::Settle::requeue);
    } else {
      exchange = kDeadExchange;
      d.message.set_header(kReasonHeader, result.reason);
      d.message.set_header(kGroupHeader, s->group);
      d.message.set_header(kDeadAtHeader, utc_now_iso8601());
    }
    try {  // the copy is confirmed before the original is acknowledged: nothing is lost between
      co_await self->publisher->send(exchange, s->group, std::move(d.message));
    } catch (const BusError&) {
      co_return settle(AmqpConsumer::Settle::requeue);
    }
    settle(AmqpConsumer::Settle::ack);
    if (verdict.kind == Verdict::dead_letter) {
      self->metrics.dead_lettered(s->group);
      self->log(log::Level::warning, "event dead-lettered",
                {{"group", s->group},
                 {"type", event->type},
                 {"event_id", event->id},
                 {"attempts", attempts},
                 {"reason", result.reason}});
    }
  }

  // False when close() cut the wait short.
  Task<bool> sleep(std::chrono::milliseconds wait, asio::io_context& loop) {
    auto timer = std::make_shared<asio::steady_timer>(loop, wait);
    {
      std::lock_guard lock(mutex);
      if (closing) co_return false;
      backoffs.insert(timer);
    }
    auto [ec] = co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
    std::lock_guard lock(mutex);
    backoffs.erase(timer);
    co_return !ec && !closing;
  }

  // From the consumer's thread: a reply to one of our requests.
  void answer(AmqpMessage m) {
    std::shared_ptr<PendingRequest> p;
    {
      std::lock_guard lock(mutex);
      auto it = pending.find(m.correlation_id);
      if (it == pending.end()) return;  // the requester gave up already
      p = it->second;
    }
    std::string error;
    if (const std::string* e = m.header(kReplyErrorHeader)) {
      error = e->empty() ? "the responder failed" : *e;
    } else {
      try {
        p->reply = decode_event(m, "");
      } catch (const BusError& e) {
        error = std::string("malformed reply: ") + e.what();
      }
    }
    p->wakeup->fire(error);
  }

  Task<void> publish(Event event) {
    if (event.id.empty() || event.source.empty() || event.type.empty())
      throw BusError("an event needs an id, a source and a type");
    if (event.type.size() > 255) throw BusError("an event type is at most 255 characters");
    if (closed) throw BusError("the bus is closed");
    metrics.published(event.type);
    co_await publisher->send(kEventsExchange, event.type, encode_event(event));
    metrics.confirmed(event.type);
  }
};

AmqpBus::AmqpBus(std::string_view url, std::vector<asio::io_context*> loops, BusOptions options)
    : Bus(options), state_(std::make_shared<State>(url, std::move(loops), std::move(options))) {
  state_->start();
}

AmqpBus::~AmqpBus() = default;

Task<void> AmqpBus::publish(Event event) {
  return state_->publish(std::move(event));
}

void AmqpBus::subscribe(std::string group, std::string pattern, Handler handler,
                        SubscribeOptions options) {
  check_group(group);
  check_pattern(pattern);
  if (!handler) throw BusError("subscribe needs a handler");
  options.prefetch = std::clamp<std::size_t>(options.prefetch, 1, 65535);
  options.retry.max_attempts = std::max(1, options.retry.max_attempts);
  state_->metrics.subscribed(group);
  auto s = std::make_shared<Subscription>();
  s->group = group;
  s->handler = std::move(handler);
  s->options = options;
  {
    std::lock_guard lock(state_->mutex);
    s->loop_index = state_->next_loop++ % state_->loops.size();
    s->loop = state_->loops[s->loop_index];
  }
  std::weak_ptr<State> weak = state_;
  state_->consumer->add(group, pattern, options.prefetch, options.expires_unused.count(),
                        [weak, s](AmqpDelivery d) {
                          if (auto self = weak.lock()) self->receive(s, std::move(d));
                        });
}

void AmqpBus::respond(std::string type, Responder responder) {
  check_pattern(type);
  auto shared_responder = std::make_shared<Responder>(std::move(responder));
  std::weak_ptr<State> weak = state_;
  subscribe(
      "rpc." + type, type,
      [weak, shared_responder](const Event& request) -> Task<Outcome> {
        const std::string& correlation = request.extension("correlationid");
        const std::string& reply_to = request.extension("replyto");
        if (correlation.empty() || reply_to.empty()) co_return Outcome::drop;
        Event reply;
        reply.id = uuid_v4();
        reply.type = request.type + ".reply";
        reply.time = utc_now_iso8601();
        reply.extensions["correlationid"] = correlation;
        std::string error;
        try {
          reply.data = co_await (*shared_responder)(request);
        } catch (const std::exception& e) {
          error = *e.what() ? e.what() : "the responder failed";
        }
        auto self = weak.lock();
        if (!self) co_return Outcome::retry;
        reply.source = self->options.source;
        AmqpMessage message = encode_event(reply);
        message.persistent = false;  // a reply outliving its requester is useless
        if (!error.empty()) message.set_header(kReplyErrorHeader, error);
        co_await self->publisher->send("", reply_to, std::move(message));
        co_return Outcome::success;
      },
      SubscribeOptions{.retry = RetryPolicy::none(), .prefetch = 64});
}

Task<Event> AmqpBus::request(Event request, std::chrono::milliseconds timeout) {
  auto executor = co_await asio::this_coro::executor;
  auto p = std::make_shared<PendingRequest>();
  p->wakeup = Wakeup::on(executor, Clock::now() + timeout);
  std::string correlation = uuid_v4();
  request.extensions["correlationid"] = correlation;
  request.extensions["replyto"] = state_->reply_queue;
  std::string type = request.type;
  {
    std::lock_guard lock(state_->mutex);
    state_->pending.emplace(correlation, p);
  }
  // Published on the side: a broker that is away counts against the timeout, not beyond it.
  asio::co_spawn(
      executor,
      [](std::shared_ptr<State> state, Event e, std::shared_ptr<Wakeup> w) -> Task<void> {
        try {
          co_await state->publish(std::move(e));
        } catch (const std::exception& error) {
          w->fire(std::string("could not publish the request: ") + error.what());
        }
      }(state_, std::move(request), p->wakeup),
      asio::detached);
  bool answered = co_await p->wakeup->wait();
  {
    std::lock_guard lock(state_->mutex);
    state_->pending.erase(correlation);
  }
  if (!answered) throw RequestTimeout(type, timeout);
  if (!p->wakeup->error().empty())
    throw BusError("the responder to " + type + " failed: " + p->wakeup->error());
  co_return std::move(*p->reply);
}

Task<std::vector<DeadLetter>> AmqpBus::dead_letters(const std::string& group) {
  check_group(group);
  const AmqpAddress& address = state_->address;
  try {
    co_return co_await state_->tooling.run(
        [&] { return browse_dead_letters(address, group, kMaxBrowse); });
  } catch (const AmqpFailure& e) {
    throw BusError(std::string("listing dead letters: ") + e.what());
  }
}

Task<bool> AmqpBus::replay(const std::string& group, const std::string& event_id) {
  check_group(group);
  const AmqpAddress& address = state_->address;
  try {
    co_return co_await state_->tooling.run(
        [&] { return replay_dead_letter(address, group, event_id); });
  } catch (const AmqpFailure& e) {
    throw BusError(std::string("replaying a dead letter: ") + e.what());
  }
}

Task<void> AmqpBus::close_backend(std::chrono::milliseconds timeout) {
  auto& s = *state_;
  if (s.closing.exchange(true)) co_return;
  s.consumer->cancel_all();
  {
    std::lock_guard lock(s.mutex);
    for (const auto& t : s.backoffs) asio::post(t->get_executor(), [t] { t->cancel(); });
  }
  // Handlers finish, their acks and re-publishes go out, what was published is confirmed.
  auto deadline = Clock::now() + timeout;
  asio::steady_timer poll(co_await asio::this_coro::executor);
  while (Clock::now() < deadline &&
         (s.in_flight > 0 || s.publisher->pending() > 0 || s.consumer->unsent_settlements() > 0)) {
    poll.expires_after(std::chrono::milliseconds(5));
    co_await poll.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (s.in_flight > 0 || s.publisher->pending() > 0)
    s.log(log::Level::warning, "bus closed before its work was done",
          {{"handlers_running", s.in_flight.load()}, {"unconfirmed", s.publisher->pending()}});
  s.closed = true;
  co_await s.tooling.run([&s] {
    s.consumer->stop();
    s.publisher->stop();
  });
  s.publisher->abandon("the bus is closed");
  {
    std::lock_guard lock(s.mutex);
    for (auto& [id, p] : s.pending) p->wakeup->fire("the bus is closed");
  }
  s.metrics.connected(false);
}

bool AmqpBus::connected() const {
  return !state_->closed && state_->publisher_up && state_->consumer->consuming();
}

}  // namespace svckit::bus::detail
