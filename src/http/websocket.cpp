#include "svckit/http/websocket.hpp"

#include <algorithm>
#include <atomic>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "closing_answer.hpp"
#include "connection_state.hpp"
#include "per_loop.hpp"
#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/connection.hpp"
#include "svckit/http/header_list.hpp"
#include "svckit/meter.hpp"
#include "svckit/utf8.hpp"

namespace svckit::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace bhttp = boost::beast::http;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::string_view kTokenPrefix = "bearer.";

// A Sec-WebSocket-Key is the base64 of 16 bytes: 22 characters and "==".
bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22))
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) return false;
  return true;
}

// The subprotocol to answer with: the route's first that the client offers, or, when the route
// names none, the client's first offer that is not a token.
std::string choose_protocol(const Request& req, const std::vector<std::string>& spoken) {
  auto offered = header_list(req, "Sec-WebSocket-Protocol");
  if (spoken.empty()) {
    for (auto offer : offered)
      if (!istarts_with(offer, kTokenPrefix)) return std::string(offer);
    return {};
  }
  for (const auto& mine : spoken)
    for (auto offer : offered)
      if (offer == mine) return mine;
  return {};
}

// Refuses an upgrade request that RFC 6455 §4.2.1 would not accept, or from a page of an origin
// the route does not allow, with a problem+json answer.
void check_upgrade(const Request& req, const WebSocketOptions& options) {
  if (auto origin = req.header("Origin");
      origin && !options.allowed_origins.empty() &&
      std::find(options.allowed_origins.begin(), options.allowed_origins.end(), *origin) ==
          options.allowed_origins.end())
    throw Forbidden("WebSocket connections from " + std::string(*origin) + " are not allowed");
  if (!header_lists(req, "Upgrade", "websocket"))
    throw Error(426, "about:blank", "Upgrade Required",
                "this is a WebSocket endpoint: send GET with Upgrade: websocket")
        .with_header("Upgrade", "websocket");
  if (req.method() != Method::get) throw BadRequest("a WebSocket upgrade is a GET request");
  if (!header_lists(req, "Connection", "upgrade"))
    throw BadRequest("a WebSocket upgrade needs Connection: Upgrade");
  if (req.header("Sec-WebSocket-Version").value_or("") != "13")
    throw Error(426, "about:blank", "Upgrade Required", "only WebSocket version 13 is spoken here")
        .with_header("Sec-WebSocket-Version", "13");
  if (!valid_key(req.header("Sec-WebSocket-Key").value_or("")))
    throw BadRequest("Sec-WebSocket-Key must be the base64 of 16 bytes");
}

// What one route counts into, looked up once per connection.
struct Meters {
  meter::Gauge* open = nullptr;
  meter::Counter* received = nullptr;
  meter::Counter* sent = nullptr;
  meter::Counter* slow = nullptr;

  static Meters of(meter::Meter* meter, const std::string& route) {
    if (!meter) return {};
    meter::Labels labels{{"handler", route}};
    auto& messages =
        meter->counters("websocket_messages_total", "WebSocket messages, by route and direction.");
    return {&meter->gauges("websocket_connections", "Open WebSocket connections, by route.")
                 .add(labels),
            &messages.add({{"handler", route}, {"direction", "in"}}),
            &messages.add({{"handler", route}, {"direction", "out"}}),
            &meter
                 ->counters("websocket_slow_consumers_total",
                            "WebSocket connections closed with 1013 because their send queue "
                            "filled, by route.")
                 .add(labels)};
  }
};

struct Setup {
  std::shared_ptr<const WebSocketHandler> handler;
  WebSocketOptions options;
};

}  // namespace

namespace detail {

// One connection's state, shared by the handler's WebSocket handles (and a hub's). The Beast
// stream and everything it touches are used only on the connection's loop; send() and close()
// may come from any thread and post there.
class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  struct Outgoing {
    WebSocket::Shared shared;
    std::string owned;
    bool binary = false;
    std::string_view bytes() const { return shared ? std::string_view(*shared) : owned; }
  };

  WebSocketSession(Connection& connection, Context context, std::string protocol, std::string route,
                   const WebSocketOptions& options)
      : connection_(&connection),
        loop_(static_cast<asio::io_context&>(
                  asio::query(connection.state().socket.get_executor(), asio::execution::context))
                  .get_executor()),
        context_(std::move(context)),
        protocol_(std::move(protocol)),
        route_(std::move(route)),
        options_(options),
        meters_(Meters::of(connection.meter(), route_)) {}
  virtual ~WebSocketSession() = default;

  // Answers the handshake (101 with the chosen protocol and the request id), runs the route's
  // handler on the connection, then closes it (1000, or 1011 if the handler failed) and waits
  // until nothing of the connection is in use.
  // `self` is this session: the coroutine starts when awaited, after its caller's handle on
  // the session may be gone, and its parameters are what it holds from the start.
  Task<void> serve(std::shared_ptr<WebSocketSession> self,
                   std::shared_ptr<const WebSocketHandler> handler, Request& upgrade) {
    if (!co_await accept(upgrade)) co_return;
    connection_->on_drain([self] { self->close(close_code::going_away, "server shutting down"); });
    if (meters_.open) meters_.open->add(1);
    std::uint16_t code = close_code::normal;
    try {
      co_await (*handler)(WebSocket(self), upgrade);
    } catch (const std::exception& e) {
      context_.log(log::Level::error, "websocket handler failed", {{"error", e.what()}});
      code = close_code::internal_error;
    }
    close(code, code == close_code::normal ? "" : "internal error");
    // A drain that gave up has cancelled this coroutine (and closed the socket): the writer and
    // the handshake still finish, as their operations fail, and must before the socket goes.
    co_await asio::this_coro::reset_cancellation_state();
    co_await asio::this_coro::throw_if_cancelled(false);
    while (busy_ > 0) {  // the writer and the closing handshake
      asio::steady_timer until_idle(loop_, Clock::time_point::max());
      idle_signal_ = &until_idle;
      co_await until_idle.async_wait(kNoThrow);
      idle_signal_ = nullptr;
    }
    if (meters_.open) meters_.open->add(-1);
    ended_ = true;
    release();  // no Asio object outlives the connection, whoever keeps a handle
    connection_ = nullptr;
  }

  Task<std::optional<WebSocket::Message>> receive() {
    auto self = shared_from_this();
    if (ended_ || read_failed_ || !stream_open()) co_return std::nullopt;
    beast::flat_buffer buffer;
    auto [ec, n] = co_await read(buffer);
    if (ec) {
      // Beast has answered a protocol error with its close code (1002, 1007, 1009) and the
      // peer's close with its own; either way nothing more will be sent.
      read_failed_ = true;
      closing_ = true;
      drop_queue();
      co_return std::nullopt;
    }
    if (meters_.received) meters_.received->increment();
    WebSocket::Message message{beast::buffers_to_string(buffer.data()), got_binary()};
    // Beast checks text as it arrives but lets a sequence cut short by an empty final frame
    // through (found by fuzz/websocket_frames): the whole message is checked here.
    if (!message.binary && !is_utf8(message.data)) {
      close(1007, "text is not UTF-8");
      co_return std::nullopt;
    }
    co_return message;
  }

  // From any thread.
  bool send(Outgoing out) {
    if (closing_.load(std::memory_order_acquire)) return false;
    const std::size_t size = out.bytes().size();
    const std::size_t before = queued_bytes_.fetch_add(size, std::memory_order_acq_rel);
    if (before > 0 && before + size > options_.send_queue_bytes) {
      queued_bytes_.fetch_sub(size, std::memory_order_acq_rel);
      slow_consumer();
      return false;
    }
    if (loop_.running_in_this_thread()) {
      enqueue(std::move(out));
    } else {
      asio::post(loop_, [self = shared_from_this(), out = std::move(out)]() mutable {
        self->enqueue(std::move(out));
      });
    }
    return true;
  }

  // From any thread: the closing handshake once what is queued is sent.
  void close(std::uint16_t code, std::string reason) {
    if (closing_.exchange(true, std::memory_order_acq_rel)) return;
    asio::dispatch(loop_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason));
    });
  }

  bool is_open() const { return !closing_.load(std::memory_order_acquire); }
  const Context& context() const { return context_; }
  const std::string& protocol() const { return protocol_; }
  const std::string& route() const { return route_; }
  const void* loop() const { return &loop_.context(); }
  const asio::io_context::executor_type& executor() const { return loop_; }

 protected:
  // The handshake's answer; false when the client went away meanwhile.
  virtual Task<bool> accept(const Request& upgrade) = 0;
  // Beast's operations as they are, not coroutines of their own: a frame fewer each, and the
  // read is what every idle connection waits in.
  using ReadResult = std::tuple<beast::error_code, std::size_t>;
  virtual Task<ReadResult> read(beast::flat_buffer& buffer) = 0;
  virtual bool got_binary() const = 0;
  virtual Task<ReadResult> write(const Outgoing& out) = 0;
  virtual Task<std::tuple<beast::error_code>> close_handshake(
      const websocket::close_reason& reason) = 0;
  virtual bool stream_open() const = 0;
  virtual void release() = 0;

  // The response decorator: what every 101 of svckit carries.
  void decorate(websocket::response_type& res) const {
    res.set(bhttp::field::server, "svckit");
    if (!context_.request_id().empty()) res.set("X-Request-ID", context_.request_id());
    if (!protocol_.empty()) res.set(bhttp::field::sec_websocket_protocol, protocol_);
  }

  websocket::stream_base::timeout timeouts() const {
    websocket::stream_base::timeout t;
    t.handshake_timeout = options_.close_timeout;
    t.idle_timeout = options_.idle_timeout;
    t.keep_alive_pings = true;
    return t;
  }

  const WebSocketOptions& options() const { return options_; }

 private:
  // On the loop.
  void enqueue(Outgoing out) {
    if (close_started_ || ended_ || read_failed_) {
      queued_bytes_.fetch_sub(out.bytes().size(), std::memory_order_acq_rel);
      return;
    }
    if (next_ == queue_.size()) {  // all sent: start over (a vector, not a deque: an idle
      queue_.clear();              // connection holds no block)
      next_ = 0;
    }
    queue_.push_back(std::move(out));
    if (!writing_) {
      writing_ = true;
      ++busy_;
      asio::co_spawn(loop_, write_queue(shared_from_this()), asio::detached);
    }
  }

  Task<void> write_queue(std::shared_ptr<WebSocketSession> self) {
    while (next_ < queue_.size() && !read_failed_) {
      Outgoing out = std::move(queue_[next_++]);
      auto [ec, n] = co_await write(out);
      queued_bytes_.fetch_sub(out.bytes().size(), std::memory_order_acq_rel);
      if (ec) {
        closing_ = true;
        drop_queue();
        break;
      }
      if (meters_.sent) meters_.sent->increment();
    }
    writing_ = false;
    queue_.clear();
    queue_.shrink_to_fit();
    next_ = 0;
    if (close_pending_) start_close();
    done();
  }

  void slow_consumer() {
    if (closing_.exchange(true, std::memory_order_acq_rel)) return;
    if (meters_.slow) meters_.slow->increment();
    asio::dispatch(loop_, [self = shared_from_this()] {
      self->context_.log(
          log::Level::warning, "websocket slow consumer closed",
          {{"route", self->route_}, {"limit_bytes", self->options_.send_queue_bytes}});
      self->drop_queue();  // what it did not take in time is not sent
      self->begin_close(close_code::try_again_later, "slow consumer");
    });
  }

  // On the loop.
  void begin_close(std::uint16_t code, std::string reason) {
    if (ended_ || close_pending_ || close_started_) return;
    close_pending_ = true;
    close_reason_.code = code;
    close_reason_.reason = websocket::reason_string(reason.substr(0, 123));  // a frame's room
    // A peer that reads nothing more is cut: the sweeper cancels what still waits then.
    if (connection_) connection_->give_up_at(Clock::now() + options_.close_timeout);
    if (!writing_) start_close();
  }

  void start_close() {
    close_pending_ = false;
    if (close_started_ || read_failed_ || !stream_open()) return;
    close_started_ = true;
    ++busy_;
    asio::co_spawn(loop_, closing(shared_from_this()), asio::detached);
  }

  Task<void> closing(std::shared_ptr<WebSocketSession> self) {
    co_await close_handshake(close_reason_);
    done();
  }

  void drop_queue() {
    std::size_t dropped = 0;
    for (std::size_t i = next_; i < queue_.size(); ++i) dropped += queue_[i].bytes().size();
    queue_.resize(next_);  // the one being written, if any, stays where the writer holds it
    queued_bytes_.fetch_sub(dropped, std::memory_order_acq_rel);
  }

  void done() {
    if (--busy_ == 0 && idle_signal_) idle_signal_->cancel();
  }

  Connection* connection_;  // while run() runs
  asio::io_context::executor_type loop_;
  Context context_;
  std::string protocol_;
  std::string route_;
  const WebSocketOptions& options_;  // the route's, which outlives its connections
  Meters meters_;

  std::atomic<bool> closing_{false};  // no more sends accepted
  std::atomic<std::size_t> queued_bytes_{0};
  // The loop's own.
  std::vector<Outgoing> queue_;  // queue_[next_] is the next to write
  std::size_t next_ = 0;
  bool writing_ = false;
  bool close_pending_ = false;
  bool close_started_ = false;
  bool read_failed_ = false;
  bool ended_ = false;
  websocket::close_reason close_reason_;
  int busy_ = 0;  // the writer and the closing handshake, while they run
  asio::steady_timer* idle_signal_ = nullptr;
};

}  // namespace detail

namespace {

// The request as Beast's handshake reads it.
bhttp::request<bhttp::empty_body> beast_request(const Request& req) {
  bhttp::request<bhttp::empty_body> out;
  out.method(bhttp::verb::get);
  out.target(req.target());
  out.version(11);
  for (const auto& [name, value] : req.headers()) out.insert(name, value);
  return out;
}

// The session over a plain or a TLS connection.
template <class Next>
class BeastWebSocket final : public detail::WebSocketSession {
 public:
  BeastWebSocket(Next& next, Connection& connection, Context context, std::string protocol,
                 std::string route, const WebSocketOptions& options)
      : WebSocketSession(connection, std::move(context), std::move(protocol), std::move(route),
                         options) {
    ws_.emplace(next);
    ws_->read_message_max(options.max_message);
    ws_->auto_fragment(false);
  }

 protected:
  Task<bool> accept(const Request& upgrade) override {
    ws_->set_option(websocket::stream_base::decorator(
        [this](websocket::response_type& res) { decorate(res); }));
    ws_->set_option(timeouts());
    auto request = beast_request(upgrade);
    auto [ec] = co_await ws_->async_accept(request, kNoThrow);
    co_return !ec;
  }
  Task<ReadResult> read(beast::flat_buffer& buffer) override {
    return ws_->async_read(buffer, kNoThrow);
  }
  bool got_binary() const override { return ws_->got_binary(); }
  Task<ReadResult> write(const Outgoing& out) override {
    ws_->binary(out.binary);
    auto bytes = out.bytes();
    return ws_->async_write(asio::buffer(bytes.data(), bytes.size()), kNoThrow);
  }
  Task<std::tuple<beast::error_code>> close_handshake(
      const websocket::close_reason& reason) override {
    return ws_->async_close(reason, kNoThrow);
  }
  bool stream_open() const override { return ws_ && ws_->is_open(); }
  void release() override { ws_.reset(); }

 private:
  std::optional<websocket::stream<Next&>> ws_;
};

// A plain answer on a connection the handshake did not switch.
Task<void> refuse(Connection& connection, int status, std::string_view detail) {
  auto answer = svckit::http::detail::closing_answer(status, detail, /*retry_after=*/false);
  co_await connection.write(answer);
}

template <class Next>
Task<void> start_session(Next& next, Connection& connection, Request& req, const Setup& setup) {
  auto session = std::make_shared<BeastWebSocket<Next>>(
      next, connection, req.context(), choose_protocol(req, setup.options.protocols),
      std::string(req.route()), setup.options);
  auto& serving = *session;
  return serving.serve(std::move(session), setup.handler, req);
}

// Not a coroutine, nor what it calls up to the session's serve(): each frame on the way would
// live as long as the connection.
Task<void> take_over(const Setup& setup, Connection& connection, Request& req) {
  // A client sends nothing before the 101 (RFC 6455 §4.1); bytes already here would be lost.
  if (!connection.take_buffered().empty())
    return refuse(connection, 400, "data sent before the WebSocket handshake ended");
  if (connection.draining()) return refuse(connection, 503, "the server is shutting down");
  auto& state = connection.state();
  if (state.tls) return start_session(*state.tls, connection, req, setup);
  return start_session(state.socket, connection, req, setup);
}

}  // namespace

WebSocket::WebSocket(std::shared_ptr<detail::WebSocketSession> session)
    : session_(std::move(session)) {}

Task<std::optional<WebSocket::Message>> WebSocket::receive() {
  return session_->receive();
}

bool WebSocket::send(std::string text) const {
  return session_->send({nullptr, std::move(text), false});
}

bool WebSocket::send(Shared text) const {
  if (!text) return false;
  return session_->send({std::move(text), {}, false});
}

bool WebSocket::send_binary(std::string data) const {
  return session_->send({nullptr, std::move(data), true});
}

void WebSocket::close(std::uint16_t code, std::string reason) const {
  session_->close(code, std::move(reason));
}

bool WebSocket::is_open() const {
  return session_->is_open();
}

const Context& WebSocket::context() const {
  return session_->context();
}

const std::string& WebSocket::protocol() const {
  return session_->protocol();
}

const std::string& WebSocket::route() const {
  return session_->route();
}

const void* WebSocket::loop() const {
  return session_->loop();
}

std::size_t WebSocket::send_all(const std::vector<WebSocket>& sockets, const Shared& message) {
  if (!message) return 0;
  std::vector<std::shared_ptr<detail::WebSocketSession>> open;
  open.reserve(sockets.size());
  for (const auto& ws : sockets)
    if (ws.session_->is_open()) open.push_back(ws.session_);
  const std::size_t count = open.size();
  detail::on_each_loop(std::move(open), [message](detail::WebSocketSession& session) {
    session.send({message, {}, false});
  });
  return count;
}

Handler websocket_route(WebSocketHandler handler, WebSocketOptions options) {
  auto setup = std::make_shared<const Setup>(
      Setup{std::make_shared<const WebSocketHandler>(std::move(handler)), std::move(options)});
  return [setup](Request& req) -> Task<Response> {
    check_upgrade(req, setup->options);  // thrown before a task exists: seen as a thrown error
    return ready(Response::upgrade([setup](Connection& connection, Request& request) {
      return take_over(*setup, connection, request);
    }));
  };
}

std::optional<std::string_view> websocket_bearer_token(const Request& req) {
  if (!req.header("Sec-WebSocket-Key")) return std::nullopt;
  for (auto offer : header_list(req, "Sec-WebSocket-Protocol"))
    if (istarts_with(offer, kTokenPrefix) && offer.size() > kTokenPrefix.size())
      return offer.substr(kTokenPrefix.size());
  return std::nullopt;
}

}  // namespace svckit::http
