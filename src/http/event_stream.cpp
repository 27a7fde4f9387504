#include "svckit/http/event_stream.hpp"

#include <algorithm>
#include <atomic>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "connection_state.hpp"
#include "per_loop.hpp"
#include "svckit/http/connection.hpp"
#include "svckit/meter.hpp"

namespace svckit::http {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// Without CR and LF, which would end an "event:" or "id:" field early.
std::string one_line(std::string_view text) {
  std::string out;
  for (char c : text)
    if (c != '\r' && c != '\n') out.push_back(c);
  return out;
}

struct Meters {
  meter::Gauge* open = nullptr;
  meter::Counter* events = nullptr;
  meter::Counter* slow = nullptr;

  static Meters of(meter::Meter* meter, const std::string& route) {
    if (!meter) return {};
    meter::Labels labels{{"handler", route}};
    return {&meter->gauges("event_stream_connections", "Open server-sent event streams, by route.")
                 .add(labels),
            &meter->counters("event_stream_events_total", "Server-sent events written, by route.")
                 .add(labels),
            &meter
                 ->counters("event_stream_slow_consumers_total",
                            "Event streams disconnected because their send queue filled, by "
                            "route.")
                 .add(labels)};
  }
};

struct Setup {
  std::shared_ptr<const EventStreamHandler> handler;
  EventStreamOptions options;
};

using Text = std::shared_ptr<const std::string>;

}  // namespace

namespace detail {

// One stream's state, shared by the handler's EventStream handles (and a hub's). Written on the
// connection's loop; send() and close() may come from any thread and post there.
class EventStreamSession : public std::enable_shared_from_this<EventStreamSession> {
 public:
  EventStreamSession(Connection& connection, Context context, std::string last_event_id,
                     std::string route, const EventStreamOptions& options)
      : connection_(&connection),
        loop_(static_cast<asio::io_context&>(
                  asio::query(connection.state().socket.get_executor(), asio::execution::context))
                  .get_executor()),
        context_(std::move(context)),
        last_event_id_(std::move(last_event_id)),
        options_(options),
        meters_(Meters::of(connection.meter(), route)) {}

  // `self` is this session (see WebSocketSession::serve). Runs the handler, then ends the
  // stream once what is queued is written, and waits until nothing of the connection is used.
  Task<void> serve(std::shared_ptr<EventStreamSession> self,
                   std::shared_ptr<const EventStreamHandler> handler, Request& req) {
    connection_->on_drain([self] { self->close(); });
    if (meters_.open) meters_.open->add(1);
    start(watch_client(self));
    start(keep_alive(self));
    try {
      co_await (*handler)(EventStream(self), req);
    } catch (const std::exception& e) {
      context_.log(log::Level::error, "event stream handler failed", {{"error", e.what()}});
    }
    close();
    co_await asio::this_coro::reset_cancellation_state();  // see WebSocketSession::serve
    co_await asio::this_coro::throw_if_cancelled(false);
    while (busy_ > 0) co_await sleep_until_woken();
    if (meters_.open) meters_.open->add(-1);
    connection_ = nullptr;
  }

  bool send(Text text) {
    if (closing_.load(std::memory_order_acquire)) return false;
    const std::size_t size = text->size();
    const std::size_t before = queued_bytes_.fetch_add(size, std::memory_order_acq_rel);
    if (before > 0 && before + size > options_.send_queue_bytes) {
      queued_bytes_.fetch_sub(size, std::memory_order_acq_rel);
      if (!closing_.exchange(true, std::memory_order_acq_rel)) {
        if (meters_.slow) meters_.slow->increment();
        asio::dispatch(loop_, [self = shared_from_this()] {
          self->context_.log(log::Level::warning, "event stream slow consumer disconnected",
                             {{"limit_bytes", self->options_.send_queue_bytes}});
          self->end();
        });
      }
      return false;
    }
    if (loop_.running_in_this_thread()) {
      enqueue(std::move(text));
    } else {
      asio::post(loop_, [self = shared_from_this(), text = std::move(text)]() mutable {
        self->enqueue(std::move(text));
      });
    }
    return true;
  }

  void close() {
    closing_.store(true, std::memory_order_release);
    asio::dispatch(loop_, [self = shared_from_this()] {
      if (!self->writing_) self->end();  // else the writer ends it once the queue is written
    });
  }

  Task<void> closed() {
    auto self = shared_from_this();
    while (!ended_) co_await sleep_until_woken();
  }

  bool is_open() const { return !closing_.load(std::memory_order_acquire); }
  const std::string& last_event_id() const { return last_event_id_; }
  const Context& context() const { return context_; }
  const void* loop() const { return &loop_.context(); }
  const asio::io_context::executor_type& executor() const { return loop_; }

 private:
  void start(Task<void> task) {
    ++busy_;
    asio::co_spawn(loop_, std::move(task), [self = shared_from_this()](std::exception_ptr) {
      if (--self->busy_ == 0) self->wake();
    });
  }

  void enqueue(Text text) {
    if (ended_) {
      queued_bytes_.fetch_sub(text->size(), std::memory_order_acq_rel);
      return;
    }
    if (next_ == queue_.size()) {
      queue_.clear();
      next_ = 0;
    }
    queue_.push_back(std::move(text));
    if (!writing_) {
      writing_ = true;
      start(write_queue(shared_from_this()));
    }
  }

  Task<void> write_queue(std::shared_ptr<EventStreamSession> self) {
    bool failed = false;
    while (next_ < queue_.size() && !ended_) {
      Text text = std::move(queue_[next_++]);
      bool ok = co_await connection_->write(*text);
      queued_bytes_.fetch_sub(text->size(), std::memory_order_acq_rel);
      if (!ok) {
        failed = true;
        break;
      }
      if (meters_.events && !text->starts_with(':')) meters_.events->increment();
    }
    writing_ = false;
    if (failed || closing_) {
      end();  // what is left is dropped, its bytes no longer counted
      co_return;
    }
    queue_.clear();
    queue_.shrink_to_fit();
    next_ = 0;
  }

  // The client sends nothing on an event stream; its end of the connection is how it leaves.
  Task<void> watch_client(std::shared_ptr<EventStreamSession> self) {
    char sink[256];
    while (!ended_ && co_await connection_->read_some(sink) > 0) {
    }
    end();
  }

  // A comment line now and then: proxies and load balancers close connections they see idle.
  Task<void> keep_alive(std::shared_ptr<EventStreamSession> self) {
    asio::steady_timer timer(loop_);
    heartbeat_ = &timer;
    while (!ended_) {
      timer.expires_after(options_.heartbeat);
      co_await timer.async_wait(kNoThrow);
      if (!ended_ && !writing_) send(std::make_shared<const std::string>(":\n\n"));
    }
    heartbeat_ = nullptr;
  }

  // On the loop: no more writes; what waits on the connection is cancelled.
  void end() {
    if (ended_) return;
    ended_ = true;
    closing_ = true;
    std::size_t dropped = 0;
    for (std::size_t i = next_; i < queue_.size(); ++i) dropped += queue_[i]->size();
    queue_.resize(next_);
    queued_bytes_.fetch_sub(dropped, std::memory_order_acq_rel);
    if (connection_) connection_->cancel();
    if (heartbeat_) heartbeat_->cancel();
    wake();
  }

  Task<void> sleep_until_woken() {
    asio::steady_timer timer(loop_, Clock::time_point::max());
    sleepers_.push_back(&timer);
    co_await timer.async_wait(kNoThrow);
    sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), &timer));
  }

  void wake() {
    for (auto* timer : sleepers_) timer->cancel();
  }

  Connection* connection_;  // while serve() runs
  asio::io_context::executor_type loop_;
  Context context_;
  std::string last_event_id_;
  const EventStreamOptions& options_;  // the route's, which outlives its streams
  Meters meters_;

  std::atomic<bool> closing_{false};  // no more sends accepted
  std::atomic<std::size_t> queued_bytes_{0};
  // The loop's own.
  std::vector<Text> queue_;  // queue_[next_] is the next to write
  std::size_t next_ = 0;
  bool writing_ = false;
  bool ended_ = false;
  int busy_ = 0;  // the writer, the client's watch and the heartbeat, while they run
  asio::steady_timer* heartbeat_ = nullptr;
  std::vector<asio::steady_timer*> sleepers_;  // serve() and closed(), waiting for a change
};

}  // namespace detail

namespace {

Task<void> take_over(const Setup& setup, Connection& connection, Request& req) {
  connection.take_buffered();  // a request pipelined behind it is not served on a stream
  auto session = std::make_shared<detail::EventStreamSession>(
      connection, req.context(), std::string(req.header("Last-Event-ID").value_or("")),
      std::string(req.route()), setup.options);
  auto& serving = *session;
  return serving.serve(std::move(session), setup.handler, req);
}

}  // namespace

EventStream::EventStream(std::shared_ptr<detail::EventStreamSession> session)
    : session_(std::move(session)) {}

bool EventStream::send(const ServerEvent& event) const {
  return session_->send(std::make_shared<const std::string>(format_event(event)));
}

bool EventStream::send_formatted(std::shared_ptr<const std::string> text) const {
  return text && session_->send(std::move(text));
}

void EventStream::close() const {
  session_->close();
}

bool EventStream::is_open() const {
  return session_->is_open();
}

Task<void> EventStream::closed() const {
  return session_->closed();
}

const std::string& EventStream::last_event_id() const {
  return session_->last_event_id();
}

const Context& EventStream::context() const {
  return session_->context();
}

const void* EventStream::loop() const {
  return session_->loop();
}

std::size_t EventStream::send_all(const std::vector<EventStream>& streams, const Text& text) {
  if (!text) return 0;
  std::vector<std::shared_ptr<detail::EventStreamSession>> open;
  open.reserve(streams.size());
  for (const auto& stream : streams)
    if (stream.session_->is_open()) open.push_back(stream.session_);
  const std::size_t count = open.size();
  detail::on_each_loop(std::move(open),
                       [text](detail::EventStreamSession& session) { session.send(text); });
  return count;
}

std::string format_event(const ServerEvent& event) {
  std::string out;
  out.reserve(event.data.size() + event.event.size() + event.id.size() + 32);
  if (!event.id.empty()) out.append("id: ").append(one_line(event.id)).append("\n");
  if (!event.event.empty()) out.append("event: ").append(one_line(event.event)).append("\n");
  if (event.retry) out.append("retry: ").append(std::to_string(event.retry->count())).append("\n");
  // One data line per line of the data, whichever line break it uses.
  std::string_view rest = event.data;
  for (;;) {
    auto end = rest.find_first_of("\r\n");
    out.append("data: ").append(rest.substr(0, end)).append("\n");
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + (rest.substr(end, 2) == "\r\n" ? 2 : 1));
  }
  return out.append("\n");
}

Handler event_stream_route(EventStreamHandler handler, EventStreamOptions options) {
  auto setup = std::make_shared<const Setup>(
      Setup{std::make_shared<const EventStreamHandler>(std::move(handler)), std::move(options)});
  return [setup](Request&) {
    auto response = Response::stream(200, "text/event-stream",
                                     [setup](Connection& connection, Request& request) {
                                       return take_over(*setup, connection, request);
                                     });
    response.set_header("Cache-Control", "no-cache");
    response.set_header("X-Accel-Buffering", "no");  // nginx in front: do not buffer it
    return ready(std::move(response));
  };
}

}  // namespace svckit::http
