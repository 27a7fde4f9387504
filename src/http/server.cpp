#include "svckit/http/server.hpp"

#include "svckit/ids.hpp"

#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "closing_answer.hpp"
#include "connection_limit_key.hpp"
#include "connection_state.hpp"
#include "keep_alive.hpp"
#include "message_head.hpp"
#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/body_stream.hpp"
#include "svckit/http/connection.hpp"
#include "svckit/trace/trace_context.hpp"
#include "tls.hpp"

namespace svckit::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket&>;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// RFC 9110 Date, cached per thread: it changes once a second.
const std::string& http_date() {
  thread_local std::string cached;
  thread_local std::time_t cached_at = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = buf;
    cached_at = now;
  }
  return cached;
}

// X-Request-Timeout-Ms: 1 to 86,400,000 digits-only milliseconds; anything else is ignored, as
// a malformed traceparent is.
std::optional<std::chrono::milliseconds> parse_timeout_ms(std::string_view text) {
  if (text.empty() || text.size() > 8) return std::nullopt;
  std::int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  if (value < 1 || value > 86'400'000) return std::nullopt;
  return std::chrono::milliseconds(value);
}

// What a failed read means for the client: a status to answer with, or 0 to just close.
int status_for_read_error(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit) return 431;
  if (ec == bhttp::error::body_limit) return 413;
  if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
      ec == asio::error::operation_aborted || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == bhttp::error::partial_message)
    return 0;
  if (ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category()) return 400;
  return 0;
}

const char* detail_for_status(int status) {
  switch (status) {
    case 431:
      return "request header block exceeds the server's limit";
    case 413:
      return "request body exceeds the server's limit";
    default:
      return "malformed HTTP request";
  }
}

using Clock = std::chrono::steady_clock;

// The body of a request to a route that streams bodies (body_stream.hpp), read on demand with
// Beast's parser, which decodes chunked framing and enforces the route's limit.
template <class Stream>
class StreamedBody final : public BodyStream {
 public:
  StreamedBody(Stream& stream, beast::flat_buffer& buffer, Clock::time_point& deadline,
               std::chrono::milliseconds stall_timeout,
               bhttp::request_parser<bhttp::string_body>&& head, std::uint64_t limit)
      : stream_(stream),
        buffer_(buffer),
        deadline_(deadline),
        stall_timeout_(stall_timeout),
        expects_continue_(iequals(head.get()[bhttp::field::expect], "100-continue")),
        parser_(std::move(head)) {  // the head as it was read, the body still to come
    parser_.body_limit(limit);
    if (auto length = parser_.content_length(); length && !parser_.chunked()) left_ = *length;
  }
  bhttp::request<bhttp::buffer_body>& message() { return parser_.get(); }

  Task<std::size_t> read_some(std::span<char> into) override {
    if (parser_.is_done() || into.empty()) co_return 0;
    if (failed_) throw BadRequest("the request body could not be read");
    if (expects_continue_) {  // the handler wants the body: now the client may send it
      expects_continue_ = false;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      co_await asio::async_write(stream_, asio::buffer(kContinue), kNoThrow);
    }
    if (left_) co_return co_await read_counted(into);
    auto& body = parser_.get().body();
    std::size_t got = 0;
    while (got == 0 && !parser_.is_done()) {  // a chunk's framing yields no body bytes
      body.data = into.data();
      body.size = into.size();
      deadline_ = Clock::now() + stall_timeout_;  // a client that stops sending is cut
      auto [ec, n] = co_await bhttp::async_read_some(stream_, buffer_, parser_, kNoThrow);
      deadline_ = Clock::time_point::max();
      got = into.size() - body.size;
      if (ec == bhttp::error::need_buffer) ec = {};  // `into` is full
      if (ec == bhttp::error::body_limit) {
        failed_ = true;
        throw PayloadTooLarge("the request body is larger than this route takes");
      }
      if (ec) {
        failed_ = true;
        throw BadRequest("the request body ended early or its framing is malformed");
      }
    }
    co_return got;
  }
  std::optional<std::uint64_t> length() const override {
    auto length = parser_.content_length();
    return length ? std::optional<std::uint64_t>(*length) : std::nullopt;
  }
  bool finished() const override { return left_ ? *left_ == 0 : parser_.is_done(); }

 private:
  // A Content-Length body needs no parser: what is buffered past the head, then reads straight
  // into the caller's buffer, never past the body's end (the next request stays unread). Through
  // Beast's parser every byte was copied once more, and reads were the buffer's size.
  Task<std::size_t> read_counted(std::span<char> into) {
    std::uint64_t& left = *left_;
    if (left == 0) co_return 0;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(into.size(), left));
    if (buffer_.size() > 0) {
      auto n = asio::buffer_copy(asio::buffer(into.data(), want), buffer_.data());
      buffer_.consume(n);
      left -= n;
      co_return n;
    }
    deadline_ = Clock::now() + stall_timeout_;  // a client that stops sending is cut
    auto [ec, n] = co_await stream_.async_read_some(asio::buffer(into.data(), want), kNoThrow);
    deadline_ = Clock::time_point::max();
    if (ec) {
      failed_ = true;
      throw BadRequest("the request body ended early");
    }
    left -= n;
    co_return n;
  }

  Stream& stream_;
  beast::flat_buffer& buffer_;
  Clock::time_point& deadline_;
  std::chrono::milliseconds stall_timeout_;
  bool expects_continue_;
  bhttp::request_parser<bhttp::buffer_body> parser_;
  std::optional<std::uint64_t> left_;  // of a Content-Length body
  bool failed_ = false;
};

// A request read off the wire, with what its framing says about the connection.
struct Incoming {
  std::optional<Request> request;  // made in place: a default one moved over cost ~400 instructions
  std::unique_ptr<BodyStream> streamed;  // its body, still to come, for a route that streams
  bool too_large = false;                // its declared length is over the route's limit
  bool keep_alive = true;
  bool head_only = false;  // HEAD: the response gets no body
  bool http10 = false;
};

enum class ReadOutcome { request, declined, closed };
// After a request: serve the next, half-close (the answer said Connection: close), or close.
// A taken-over connection (a WebSocket) closes when its takeover returns.
enum class Next { keep_alive, shut_down, close, take_over };
constexpr std::size_t kReadChunk = 4096;  // what one read of a request's first bytes takes

struct LoopState;

// A request whose answer takes the connection over, kept while the takeover runs: handle()'s
// frame, which held it, is gone by then (its size, per long-lived connection, counts).
struct PendingTakeover {
  Request request;
  std::shared_ptr<const Takeover> takeover;
  Response response;       // its head, when the server writes it
  bool head_only = false;  // HEAD: the head is the whole answer
};

// One client connection. Its coroutine and everything touching it run on its loop's thread.
struct Session {
  Session(tcp::socket s, LoopState& l) : socket(std::move(s)), loop(l) {}
  tcp::socket socket;
  std::unique_ptr<TlsStream> tls;  // over `socket` when the server serves TLS
  std::shared_ptr<const ClientCertificate> client_certificate;  // verified, for mTLS
  LoopState& loop;
  beast::flat_buffer buffer;
  std::string head;        // the response head, reused across requests
  std::string remote;      // the peer's address (Request::peer_address())
  std::string counted_as;  // its key in the per-address connection count; empty: not counted
  detail::RequestHead request_head;  // the parsed request head, its vector reused likewise
  // When the current wait gives up; checked by the loop's sweeper, so arming it costs a store.
  Clock::time_point deadline = Clock::time_point::max();
  // When the last request was answered (or the connection opened): what the wait for the next
  // one counts from, without a clock read of its own.
  Clock::time_point last_answered = Clock::now();
  bool idle = false;                 // waiting for the first byte of the next request
  bool timed_out = false;            // the sweeper cancelled the pending wait
  asio::cancellation_signal cancel;  // stops the handler too when a drain gives up on it
  std::function<void()> on_drain;    // a taken-over connection's goodbye (Connection::on_drain)
  std::unique_ptr<PendingTakeover> pending;  // set by handle() for serve_requests()
};

// Per event loop: its connections and the sweeper that enforces their deadlines. Touched only
// from the loop's own thread.
struct LoopState {
  explicit LoopState(asio::io_context& io) : io(io) {}
  asio::io_context& io;
  std::unordered_set<Session*> sessions;
};

void append_header(std::string& head, std::string_view name, std::string_view value) {
  using namespace std::string_view_literals;  // literals as string_views: no strlen per call
  head.append(name).append(": "sv).append(value).append("\r\n"sv);
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(std::vector<asio::io_context*> loop_list, ServerOptions opts, const log::Logger& log)
      : io(*loop_list.at(0)), options(std::move(opts)), logger(log) {
    for (auto* l : loop_list) loops.push_back(std::make_unique<LoopState>(*l));
  }

  asio::io_context& io;  // loops[0]: accepts and drains
  std::vector<std::unique_ptr<LoopState>> loops;
  std::size_t next_loop = 0;
  ServerOptions options;
  const log::Logger& logger;
  Router router;
  std::vector<Middleware> middleware;
  std::vector<std::shared_ptr<RequestObserver>> observers;
  Handler root;
  std::optional<tcp::acceptor> acceptor;
  std::unique_ptr<asio::ssl::context> tls_context;  // set when options.tls is enabled
  std::uint16_t bound_port = 0;
  std::atomic<std::size_t> connections{0};
  // Open connections per peer address, when max_connections_per_ip is set. Touched once per
  // connection, from the accepting loop and the loops closing them: a mutex is enough.
  std::mutex per_address_mutex;
  std::unordered_map<std::string, std::size_t> per_address;
  std::atomic<std::size_t> inflight{0};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopped{false};  // the sweepers end, so the loops can run out of work

  std::chrono::milliseconds sweep_period() const {
    auto shortest = std::min(options.header_timeout, options.idle_timeout);
    return std::clamp(shortest / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(250));
  }

  // Not a coroutine: the route's own task is returned as it is, one frame fewer per request.
  // What it throws reaches the caller as a thrown error would from inside the task.
  Task<Response> dispatch(Request& req) {
    if (const Route* route = req.matched_route()) return route->handler(req);
    auto match = router.match(req.method(), req.path());
    if (match.outcome == Router::Outcome::method_not_allowed)
      throw MethodNotAllowed(
          std::string(req.method_name()) + " is not allowed on " + std::string(req.path()),
          match.allow);
    throw NotFound("no route for " + std::string(req.path()));
  }

  static bool listed(const std::vector<std::string>& paths, std::string_view path) {
    return std::find(paths.begin(), paths.end(), path) != paths.end();
  }
  bool unlogged(std::string_view path) const { return listed(options.unlogged_paths, path); }
  // What the request log says of the path: the route's pattern when the path holds a secret.
  static std::string_view logged_path(const Request& req) {
    const Route* route = req.matched_route();
    if (route && route->doc && route->doc->secret_path) return route->pattern;
    return req.path();
  }
  bool never_shed(std::string_view path) const { return listed(options.never_shed, path); }

  // Cancels the pending socket operation of every session whose deadline has passed.
  Task<void> sweep(LoopState& loop) {
    auto self = shared_from_this();
    asio::steady_timer timer(loop.io);
    while (!stopped) {
      timer.expires_after(sweep_period());
      co_await timer.async_wait(kNoThrow);
      auto now = Clock::now();
      for (Session* s : loop.sessions) {
        if (s->deadline > now) continue;
        s->timed_out = true;
        s->deadline = Clock::time_point::max();
        beast::error_code ignored;
        s->socket.cancel(ignored);
      }
    }
  }

  Task<void> accept_loop() {
    auto self = shared_from_this();
    while (acceptor && acceptor->is_open()) {
      LoopState& loop = *loops[next_loop++ % loops.size()];
      auto [ec, socket] = co_await acceptor->async_accept(loop.io.get_executor(), kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        // Out of file descriptors or similar: back off instead of spinning.
        logger.warning("accept failed", {{"error", ec.message()}});
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      admit(std::move(socket), loop);
      // A burst of connects fills the kernel's accept queue faster than one accept per trip
      // through the reactor empties it; an overflowing queue drops handshakes, which clients
      // retry after 1, 3, 7 s. So take what is already queued (the acceptor is non-blocking).
      for (int burst = 0; burst < 256; ++burst) {
        LoopState& next = *loops[next_loop % loops.size()];
        beast::error_code aec;
        tcp::socket more = acceptor->accept(next.io.get_executor(), aec);
        if (aec) break;  // would_block: the queue is empty
        ++next_loop;
        admit(std::move(more), next);
      }
    }
  }

  // Starts serving an accepted connection on `loop`, or turns it away over a connection cap.
  void admit(tcp::socket socket, LoopState& loop) {
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto peer = socket.remote_endpoint(ignored);
    std::string remote = ignored ? std::string() : peer.address().to_string();
    // A TLS client could not read a plain answer, and a handshake is the expensive part of what
    // the caps protect: it is just closed.
    if (connections.load() >= options.max_connections) {
      turn_away(std::move(socket), loop, 503, "too many connections");
      return;
    }
    std::string counted_as;
    if (options.max_connections_per_ip > 0 && !remote.empty() &&
        !options.trusted_proxies.contains(remote))
      counted_as = detail::connection_limit_key(peer.address());
    if (!counted_as.empty() && !count_in(counted_as)) {
      turn_away(std::move(socket), loop, 429, "too many connections from your address");
      return;
    }
    ++connections;
    auto session = std::make_shared<Session>(std::move(socket), loop);
    session->remote = std::move(remote);
    session->counted_as = std::move(counted_as);
    // The completion handler holds the session too: co_spawn still reads the cancellation
    // state (the session's signal) after serve() returns, which can be before any wait when
    // the client is already gone.
    asio::co_spawn(loop.io, serve(session),
                   asio::bind_cancellation_slot(session->cancel.slot(),
                                                [session](const std::exception_ptr&) {}));
  }

  // One more connection from `address`, unless it has max_connections_per_ip open already.
  bool count_in(const std::string& address) {
    std::lock_guard lock(per_address_mutex);
    auto& open = per_address[address];
    if (open >= options.max_connections_per_ip) {
      if (open == 0) per_address.erase(address);
      return false;
    }
    ++open;
    return true;
  }
  void count_out(const std::string& address) {
    std::lock_guard lock(per_address_mutex);
    auto it = per_address.find(address);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
  }

  void turn_away(tcp::socket socket, LoopState& loop, int status, std::string_view detail) {
    if (tls_context) return;  // closed: see admit()
    // Named: GCC 12 and temporaries to coroutines.
    auto answer = svckit::http::detail::closing_answer(status, detail, /*retry_after=*/true);
    asio::co_spawn(loop.io, reject(std::move(socket), std::move(answer)), asio::detached);
  }

  // Over a connection cap: a clear answer, then close.
  Task<void> reject(tcp::socket socket, std::string res) {
    auto self = shared_from_this();
    asio::steady_timer guard(socket.get_executor(), std::chrono::seconds(2));
    guard.async_wait([&socket](beast::error_code ec) {
      if (!ec) socket.close(ec);
    });
    co_await asio::async_write(socket, asio::buffer(res), kNoThrow);
    beast::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    guard.cancel();
    socket.close(ignored);
  }

  Task<void> serve(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    Session& s = *session;
    s.loop.sessions.insert(&s);
    beast::error_code ignored;
    s.socket.non_blocking(true, ignored);  // write() tries write_some first: never block
    try {
      if (!tls_context || co_await handshake(s)) co_await serve_requests(s);
    } catch (const std::exception& e) {
      if (!s.timed_out) logger.warning("connection failed", {{"error", e.what()}});
    }
    s.loop.sessions.erase(&s);
    s.socket.close(ignored);
    if (!s.counted_as.empty()) count_out(s.counted_as);
    --connections;
  }

  // The TLS handshake, bounded like a request head. A client certificate the client CA does not
  // vouch for (untrusted, expired, missing when required) fails it.
  Task<bool> handshake(Session& s) {
    s.tls = std::make_unique<TlsStream>(s.socket, *tls_context);
    s.deadline = Clock::now() + options.header_timeout;
    auto [ec] = co_await s.tls->async_handshake(asio::ssl::stream_base::server, kNoThrow);
    s.deadline = Clock::time_point::max();
    if (ec) {
      if (!s.timed_out) {
        auto problem = detail::certificate_problem(s.tls->native_handle());
        logger.info("tls handshake failed", {{"remote", s.remote},
                                             {"error", ec.message()},
                                             {"certificate", problem.empty() ? "-" : problem}});
      }
      co_return false;
    }
    s.client_certificate = detail::verified_client_certificate(s.tls->native_handle());
    co_return true;
  }

  // Reads some bytes off the connection, decrypted when it is TLS.
  Task<std::tuple<beast::error_code, std::size_t>> read_some(Session& s,
                                                             asio::mutable_buffer into) {
    if (s.tls) co_return co_await s.tls->async_read_some(into, kNoThrow);
    co_return co_await s.socket.async_read_some(into, kNoThrow);
  }

  // Half-closes and reads what the client still sends (for up to 2 s), so that it reads our
  // answer instead of a reset (nginx's lingering close).
  Task<void> linger_close(Session& s) {
    beast::error_code ec;
    s.socket.shutdown(tcp::socket::shutdown_send, ec);
    s.deadline = Clock::now() + std::chrono::seconds(2);
    std::array<char, 16384> sink;
    for (std::size_t total = 0; total < (8u << 20);) {
      auto [rec, n] = co_await read_some(s, asio::buffer(sink));
      if (rec) break;
      total += n;
    }
  }

  static std::string_view buffered(const beast::flat_buffer& buffer) {
    auto data = buffer.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  // Parses a plain head: one that arrived whole, with no body or a Content-Length one.
  bool plain_head(Session& s) const {
    auto& head = s.request_head;
    return detail::parse_request_head(buffered(s.buffer), options.max_header_bytes, head) ==
               detail::HeadParse::complete &&
           head.content_length <= options.max_body;
  }

  // The request of the parsed plain head, whose body is buffered; both consumed.
  static void take_request(Session& s, Incoming& in) {
    auto& head = s.request_head;
    in.keep_alive = head.keep_alive;
    in.http10 = head.minor_version == 0;
    const std::size_t total = head.size + head.content_length;
    std::string body(buffered(s.buffer).substr(head.size, head.content_length));
    Method verb = parse_method(head.method);
    in.head_only = verb == Method::head;
    in.request.emplace(Request::from_fields(
        verb, std::string(head.method), std::string(head.target), head.headers, std::move(body)));
    s.buffer.consume(total);
  }

  // The fastest path, without a coroutine frame: a plain request already buffered whole.
  bool take_buffered_request(Session& s, Incoming& in) {
    if (!plain_head(s) || s.buffer.size() < s.request_head.size + s.request_head.content_length)
      return false;
    take_request(s, in);
    return true;
  }

  // A plain head whose body is still arriving. Anything else is declined and goes to Beast's
  // parser with nothing consumed.
  Task<ReadOutcome> read_plain_request(Session& s, Incoming& in) {
    if (!plain_head(s)) co_return ReadOutcome::declined;
    // The head's views point into the buffer, which reading may move: parsed again after.
    const std::size_t total = s.request_head.size + s.request_head.content_length;
    while (s.buffer.size() < total) {
      auto [ec, n] = co_await read_some(s, s.buffer.prepare(total - s.buffer.size()));
      if (ec) co_return ReadOutcome::closed;
      s.buffer.commit(n);
    }
    if (!plain_head(s)) co_return ReadOutcome::closed;  // cannot happen: the same bytes
    take_request(s, in);
    co_return ReadOutcome::request;
  }

  // The general path: Beast's parser for chunked bodies, Expect: 100-continue, obs-fold and
  // every malformed request, which it answers with 400, 413 or 431.
  template <class Stream>
  Task<ReadOutcome> read_request(Session& s, Stream& stream, Incoming& in) {
    bhttp::request_parser<bhttp::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
    parser.body_limit(boost::none);  // which limit holds depends on the route: set below
    auto [ec, n] = co_await bhttp::async_read_header(stream, s.buffer, parser, kNoThrow);
    if (!ec && !parser.is_done()) {
      if (auto limit = streamed_body_limit(parser.get().method_string(), parser.get().target()))
        co_return stream_body(s, stream, in, parser, *limit);
      parser.body_limit(options.max_body);
      // Beast compares a Content-Length with the limit when the head ends; it was not set then.
      if (auto length = parser.content_length(); length && *length > options.max_body)
        ec = bhttp::error::body_limit;
    }
    if (!ec && !parser.is_done()) {
      auto expect = parser.get()[bhttp::field::expect];
      if (iequals(expect, "100-continue")) {
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        co_await asio::async_write(stream, asio::buffer(kContinue), kNoThrow);
      }
      auto [bec, bn] = co_await bhttp::async_read(stream, s.buffer, parser, kNoThrow);
      ec = bec;
    }
    if (ec) {
      if (int status = status_for_read_error(ec); status && !s.timed_out)
        co_await answer_and_close(s, status);
      co_return ReadOutcome::closed;
    }
    in.keep_alive = detail::keeps_alive(parser);  // as the fast path decides it
    auto msg = parser.release();
    in.head_only = msg.method() == bhttp::verb::head;
    in.http10 = msg.version() == 10;
    in.request.emplace(to_request(msg, std::move(msg.body())));
    co_return ReadOutcome::request;
  }

  // The limit of the route that streams bodies which `method` and `target` go to, if they do.
  std::optional<std::uint64_t> streamed_body_limit(std::string_view method,
                                                   std::string_view target) const {
    auto path = target.substr(0, target.find('?'));
    auto match = router.match(parse_method(method), path);
    if (match.outcome != Router::Outcome::found) return std::nullopt;
    return match.route->doc->streamed_body_limit;
  }

  // A request whose head is read and whose body its handler reads as it arrives.
  template <class Stream>
  ReadOutcome stream_body(Session& s, Stream& stream, Incoming& in,
                          bhttp::request_parser<bhttp::string_body>& head, std::uint64_t limit) {
    in.keep_alive = detail::keeps_alive(head);
    auto body = std::make_unique<StreamedBody<Stream>>(
        stream, s.buffer, s.deadline, options.header_timeout, std::move(head), limit);
    auto& msg = body->message();
    if (auto length = body->length(); length && *length > limit) in.too_large = true;
    in.head_only = false;
    in.http10 = msg.version() == 10;
    in.request.emplace(to_request(msg, {}));
    in.request->set_body_stream(body.get());
    in.streamed = std::move(body);
    return ReadOutcome::request;
  }

  Task<void> serve_requests(Session& s) {
    for (bool first = true;; first = false) {
      // The first bytes of the next request (pipelined ones may be here already). Inline,
      // not a coroutine of its own: one frame fewer per request and per idle connection.
      if (s.buffer.size() == 0) {
        auto wait = first ? options.header_timeout : options.idle_timeout;
        // Draining: a client about to send on this connection still gets served (with
        // Connection: close); one that stays quiet is closed soon.
        if (draining) wait = std::min(wait, std::chrono::milliseconds(250));
        s.deadline = s.last_answered + wait;
        // A plain connection holds no buffer while it waits: it waits for readiness (an
        // epoll_ctl re-arms the socket, where a read tried at once would be a recvfrom finding
        // nothing: one syscall either way), and only then takes a buffer and reads. Idle
        // keep-alive connections then hold no read buffers. TLS reads at once: OpenSSL may
        // hold decrypted bytes already.
        s.idle = !first;
        beast::error_code ec;
        std::size_t n = 0;
        if (s.tls) {
          std::tie(ec, n) = co_await s.tls->async_read_some(s.buffer.prepare(kReadChunk), kNoThrow);
        } else {
          s.buffer.shrink_to_fit();  // empty: frees it
          do {                       // readiness without bytes (rare): wait again
            std::tie(ec) = co_await s.socket.async_wait(tcp::socket::wait_read, kNoThrow);
            if (!ec) n = s.socket.read_some(s.buffer.prepare(kReadChunk), ec);
          } while (ec == asio::error::would_block);
        }
        s.idle = false;
        if (ec) co_return;
        s.buffer.commit(n);
      }
      // The whole request (head and body) must arrive within header_timeout: slow-loris bound.
      // The one clock read for its arrival (Request::received_at()).
      const auto arrived = Clock::now();
      s.deadline = arrived + options.header_timeout;
      auto next = co_await handle(s, arrived);
      if (next == Next::take_over) {
        co_await take_over(s);
        co_return;
      }
      if (next == Next::close) co_return;
      if (next == Next::shut_down) {
        beast::error_code ignored;
        s.socket.shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

  Task<void> answer_and_close(Session& s, int status) {
    Error error(status, "about:blank", status_reason(status), detail_for_status(status));
    Response r = Response::problem(error, trace::random_hex(16), "");
    auto started = start_write(s, r, {}, /*keep_alive=*/false, /*head_only=*/false);
    if (!started.done) co_await finish_write(s, started.rest);
    logger.info("request rejected", {{"status", status}, {"detail", detail_for_status(status)}});
    co_await linger_close(s);
  }

  template <class Body>
  static Request to_request(bhttp::request<Body>& msg, std::string body) {
    std::vector<Request::HeaderView> headers;
    headers.reserve(8);
    for (const auto& field : msg)
      headers.emplace_back(std::string_view(field.name_string()), std::string_view(field.value()));
    std::string_view method = msg.method_string();
    return Request::from_fields(parse_method(method), std::string(method),
                                std::string(msg.target()), headers, std::move(body));
  }

  // The peer's address, and the client's: the peer's, or the one a trusted proxy names. Not in
  // handle(): GCC 12 destroys a conditional's temporary in a coroutine twice.
  void set_addresses(const Session& s, Request& req) const {
    req.set_peer_address(s.remote);
    if (options.trusted_proxies.empty()) {
      req.set_remote_address(s.remote);
    } else {
      // Every X-Forwarded-For line, in order, as one list (RFC 9110 §5.3): a proxy that adds a
      // line of its own leaves the client's (forged) one first.
      std::string chain;
      for (const auto& [name, value] : req.headers())
        if (iequals(name, "X-Forwarded-For")) chain.append(chain.empty() ? "" : ", ").append(value);
      std::optional<std::string_view> forwarded;
      if (!chain.empty()) forwarded = chain;
      req.set_remote_address(options.trusted_proxies.client_of(s.remote, forwarded));
    }
  }

  // Reads the rest of a request whose first bytes are buffered, runs it through the middleware
  // and the route, writes the response, logs it. Says what becomes of the connection. The
  // request lives in this frame, which exists only while a request does.
  Task<Next> handle(Session& s, Clock::time_point started) {
    Incoming in;
    auto outcome = ReadOutcome::request;
    if (!take_buffered_request(s, in)) outcome = co_await read_plain_request(s, in);
    if (outcome == ReadOutcome::declined) {
      if (s.tls)  // not a ?: around co_await (docs/architecture.md: GCC 12)
        outcome = co_await read_request(s, *s.tls, in);
      else
        outcome = co_await read_request(s, s.socket, in);
    }
    if (outcome == ReadOutcome::closed) co_return Next::close;
    s.deadline = Clock::time_point::max();  // the handler's time is its own
    Request& req = *in.request;
    bool keep_alive = in.keep_alive;
    req.set_received_at(started);
    set_addresses(s, req);
    if (s.client_certificate) req.set_client_certificate(s.client_certificate);
    auto rid = req.header("X-Request-ID");
    auto trace =
        trace::TraceContext::continue_from(req.header("traceparent"), req.header("tracestate"));
    // Without a usable X-Request-ID the trace id serves as the request id: one random draw
    // fewer, and logs correlate with traces for free.
    std::string request_id = rid && sane_request_id(*rid) ? std::string(*rid) : std::string();
    req.context().set_request(std::move(request_id), std::move(trace), &logger);
    if (auto timeout = req.header(kTimeoutHeader))
      if (auto ms = parse_timeout_ms(*timeout))
        req.context().set_deadline(Deadline::at(started + *ms));

    auto match = router.match(req.method(), req.path());
    if (match.outcome == Router::Outcome::found) {
      // A streaming route's limit holds for a body small enough to have been read whole too.
      // Looked at only when there is such a body: most requests have none.
      if (!req.body().empty() && !in.streamed)
        if (auto limit = match.route->doc->streamed_body_limit; limit && req.body().size() > *limit)
          in.too_large = true;
      req.set_route(match.route, std::move(match.params));
    }

    Response response;
    const bool shed =
        inflight.load(std::memory_order_relaxed) >= options.max_inflight && !never_shed(req.path());
    if (shed) {  // not through the chain: observers see only what went through it
      response = Response::problem(ServiceUnavailable("the server is overloaded", 1),
                                   req.request_id(), req.path());
    } else if (in.too_large) {  // refused before its body is sent (Expect: 100-continue)
      for (const auto& o : observers) o->started(req);
      response = Response::problem(PayloadTooLarge("the request body is larger than this route "
                                                   "takes"),
                                   req.request_id(), req.path());
    } else {
      ++inflight;
      for (const auto& o : observers) o->started(req);
      try {
        response = co_await root(req);
      } catch (...) {  // a thrown error's problem+json answer, so observers see the final status
        response = response_for_current_exception(req);
      }
      --inflight;
    }
    // The one clock read for the answer: observers, the access log and the next idle wait.
    s.last_answered = Clock::now();
    const double seconds = std::chrono::duration<double>(s.last_answered - started).count();
    if (!shed)
      for (const auto& o : observers) o->finished(req, response, seconds);

    if (response.takeover) co_return hand_over(s, in, response, started);
    // A body the handler left unread is still on its way: the connection cannot carry another.
    keep_alive = keep_alive && !draining && !(in.streamed && !in.streamed->finished());
    const int status = response.status;
    if (keep_alive && in.http10) response.headers.emplace_back("Connection", "keep-alive");
    auto write = start_write(s, response, req, keep_alive, in.head_only);
    bool written = write.ok;
    if (!write.done) {  // a slow reader: its wait counts too
      written = co_await finish_write(s, write.rest);
      s.last_answered = Clock::now();
    }
    if (written && response.file && !in.head_only && status != 304) {
      written = co_await send_file(s, *response.file);
      s.last_answered = Clock::now();
    }
    if (logger.enabled(log::Level::info) && !unlogged(req.path())) {
      double ms = std::chrono::duration<double, std::milli>(s.last_answered - started).count();
      req.log(log::Level::info, "request",
              {{"method", req.method_name()},
               {"path", logged_path(req)},
               {"status", status},
               {"duration_ms", ms}});
    }
    // A body left unread (refused, or the handler stopped): read it away before closing, or the
    // kernel answers the client's next bytes with a reset that can destroy our answer.
    if (written && in.streamed && !in.streamed->finished()) {
      co_await linger_close(s);
      co_return Next::close;
    }
    co_return keep_alive&& written ? Next::keep_alive : Next::shut_down;
  }

  // Keeps what a takeover needs (the request, the answer's head) for serve_requests() to run it
  // once handle()'s frame is gone, and logs the answer.
  Next hand_over(Session& s, Incoming& in, Response& response, Clock::time_point started) {
    Request& req = *in.request;
    if (logger.enabled(log::Level::info) && !unlogged(req.path())) {
      double ms = std::chrono::duration<double, std::milli>(s.last_answered - started).count();
      req.log(log::Level::info, "request",
              {{"method", req.method_name()},
               {"path", logged_path(req)},
               {"status", response.status},
               {"duration_ms", ms}});
    }
    auto takeover = std::move(response.takeover);
    s.pending = std::make_unique<PendingTakeover>(
        PendingTakeover{std::move(req), std::move(takeover), std::move(response)});
    // The route's parameters are views into the request's path, which a move may relocate.
    Request& moved = s.pending->request;
    moved.set_body_stream(nullptr);  // the streamed body was handle()'s, gone with its frame
    s.pending->head_only = in.head_only;
    if (const Route* route = moved.matched_route())
      moved.set_route(route, router.match(moved.method(), moved.path()).params);
    return Next::take_over;
  }

  // Hands the connection to a takeover (a WebSocket, a tunnel, an event stream); the connection
  // closes when it returns. A takeover that writes no head of its own gets one without
  // Content-Length, closed by the connection's end.
  Task<void> take_over(Session& s) {
    auto pending = std::move(s.pending);
    Request& req = pending->request;
    if (!pending->takeover->writes_head) {
      serialize_head(s, pending->response, req, /*keep_alive=*/false, /*streamed=*/true);
      if (!co_await finish_write(s, {asio::buffer(s.head), asio::const_buffer()})) co_return;
      if (pending->head_only) co_return;  // HEAD of a stream: its head, and no stream
    }
    // A long-lived connection keeps no answer or parsing buffers.
    s.head = std::string();
    s.request_head = detail::RequestHead();
    detail::ConnectionState state{s.socket, s.tls.get(), s.buffer,      s.deadline, s.on_drain,
                                  draining, s.remote,    options.meter, logger};
    Connection connection(state);
    try {
      co_await pending->takeover->run(connection, req);
    } catch (const std::exception& e) {
      if (!s.timed_out)
        req.log(log::Level::warning, "connection takeover failed", {{"error", e.what()}});
    }
    s.on_drain = nullptr;
  }

  // What of the request goes into its answer's head: its id and the headers middleware set for
  // the answer (Request::set_answer_header).
  struct AnswerContext {
    AnswerContext() = default;
    AnswerContext(const Request& req)  // NOLINT: implicit, a request is the usual context
        : request_id(req.request_id()), headers(req.answer_headers()) {}
    std::string_view request_id;
    std::span<const Request::AnswerHeader> headers;
  };

  // Serializes the head into the session's reused buffer.
  // `streamed`: the body's end is the connection's, so no Content-Length.
  void serialize_head(Session& s, Response& r, const AnswerContext& context, bool keep_alive,
                      bool streamed = false) {
    using namespace std::string_view_literals;
    if (r.status < 100 || r.status > 999) r.status = 500;  // a handler's mistake, never the wire's
    bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (bodiless) r.body.clear();
    std::string& head = s.head;
    head.clear();
    char status[4];
    std::to_chars(status, status + 4, r.status);
    head.append("HTTP/1.1 "sv).append(status, 3).append(" "sv);
    head.append(status_reason(r.status)).append("\r\n"sv);
    append_header(head, "Server", "svckit");
    append_header(head, "Date", http_date());
    // A Content-Type with a line break (one stored from a client's upload, say) would let its
    // author add headers to every answer that serves it.
    if (!r.content_type.empty())
      append_header(head, "Content-Type",
                    is_field_safe(r.content_type) ? std::string_view(r.content_type)
                                                  : "application/octet-stream"sv);
    if (!context.request_id.empty()) append_header(head, "X-Request-ID", context.request_id);
    for (const auto& [name, value] : r.headers)
      if (is_token(name) && is_field_safe(value)) append_header(head, name, value);
    for (const auto& [name, value] : context.headers)
      if (is_token(name.view()) && is_field_safe(value) && !r.header(name.view()))
        append_header(head, name.view(), value);
    if (!bodiless && !streamed) {
      char length[24];
      const std::uint64_t size = r.file ? r.file->length : r.body.size();
      auto [end, ec] = std::to_chars(length, length + sizeof length, size);
      append_header(head, "Content-Length", std::string_view(length, end - length));
    }
    if (!keep_alive) append_header(head, "Connection", "close");
    head.append("\r\n"sv);
  }

  // What a response write left to do: nothing (done, or failed), or the rest for the reactor.
  struct WriteStart {
    bool done = true;
    bool ok = true;
    std::array<asio::const_buffer, 2> rest;
  };

  // Serializes the head and sends head and body in one gathered write. The socket is
  // non-blocking and a response usually fits its send buffer, so it is written here, without
  // a coroutine frame; only TLS and what did not fit wait for the reactor (finish_write()).
  WriteStart start_write(Session& s, Response& r, const AnswerContext& context, bool keep_alive,
                         bool head_only) {
    serialize_head(s, r, context, keep_alive);
    std::array<asio::const_buffer, 2> buffers = {
        asio::buffer(s.head), head_only ? asio::const_buffer() : asio::buffer(r.body)};
    if (s.tls) return {false, true, buffers};  // one TLS write encrypts both into records
    beast::error_code ec;
    std::size_t sent = s.socket.write_some(buffers, ec);
    if (ec && ec != asio::error::would_block) return {true, false, {}};
    if (sent == asio::buffer_size(buffers)) return {};
    // Rare: a large body or a slow reader. What is left of each buffer.
    std::size_t from_body = sent > s.head.size() ? sent - s.head.size() : 0;
    return {false, true, {buffers[0] + sent, buffers[1] + from_body}};
  }

  Task<bool> finish_write(Session& s, std::array<asio::const_buffer, 2> rest) {
    s.deadline = Clock::now() + options.header_timeout;  // a client that stops reading
    beast::error_code ec;
    if (s.tls)  // not a ?: around co_await (docs/architecture.md: GCC 12)
      std::tie(ec, std::ignore) = co_await asio::async_write(*s.tls, rest, kNoThrow);
    else
      std::tie(ec, std::ignore) = co_await asio::async_write(s.socket, rest, kNoThrow);
    s.deadline = Clock::time_point::max();
    co_return !ec;
  }

  // A file's bytes after the head: sendfile(2) on a plain connection (no copy through user
  // space, the socket's readiness awaited when its buffer is full), reads and writes of 64 KiB
  // over TLS. A reader that stalls for HEADER_TIMEOUT is cut; false when the answer is not whole.
  Task<bool> send_file(Session& s, const FileBody& file) {
    auto offset = static_cast<off_t>(file.offset);
    std::uint64_t left = file.length;
    bool ok = true;
    if (s.tls) {
      std::unique_ptr<char[]> chunk(new char[64 * 1024]);
      while (ok && left > 0) {
        auto n = ::pread(file.fd, chunk.get(), std::min<std::uint64_t>(left, 64 * 1024), offset);
        if (n <= 0) {  // the file shrank or failed under us: the answer cannot be completed
          ok = false;
          break;
        }
        ok = co_await finish_write(s, {asio::buffer(chunk.get(), n), asio::const_buffer()});
        offset += n;
        left -= static_cast<std::uint64_t>(n);
      }
      co_return ok;
    }
    while (left > 0) {
      auto n = ::sendfile(s.socket.native_handle(), file.fd, &offset,
                          std::min<std::uint64_t>(left, 1 << 20));
      if (n > 0) {
        left -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || errno != EAGAIN) co_return false;  // shrank, or the connection failed
      s.deadline = Clock::now() + options.header_timeout;
      auto [ec] = co_await s.socket.async_wait(tcp::socket::wait_write, kNoThrow);
      s.deadline = Clock::time_point::max();
      if (ec) co_return false;
    }
    co_return true;
  }

  // Runs `action(session)` for every session, each on its own loop.
  template <class F>
  void for_each_session(F action) {
    for (auto& loop : loops) {
      asio::post(loop->io, [loop = loop.get(), action, self = shared_from_this()] {
        for (Session* s : loop->sessions) action(*s);
      });
    }
  }
};

Server::Server(std::vector<boost::asio::io_context*> loops, ServerOptions options,
               const log::Logger& logger)
    : impl_(std::make_shared<Impl>(std::move(loops), std::move(options), logger)) {}

Server::~Server() = default;

void Server::use(Middleware middleware) {
  impl_->middleware.push_back(std::move(middleware));
}

void Server::observe(std::shared_ptr<RequestObserver> observer) {
  impl_->observers.push_back(std::move(observer));
}

RouteGroup Server::group(std::string_view prefix, std::vector<Middleware> middleware) {
  return RouteGroup(impl_->router, std::string(prefix), std::move(middleware));
}

Router& Server::router() {
  return impl_->router;
}

std::uint16_t Server::listen() {
  auto& impl = *impl_;
  if (impl.options.tls.enabled()) impl.tls_context = detail::server_tls_context(impl.options.tls);
  tcp::resolver resolver(impl.io);
  auto results = resolver.resolve(impl.options.host, std::to_string(impl.options.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  tcp::endpoint endpoint = results.begin()->endpoint();
  impl.acceptor.emplace(impl.io);
  impl.acceptor->open(endpoint.protocol());
  impl.acceptor->set_option(asio::socket_base::reuse_address(true));
  impl.acceptor->bind(endpoint);
  impl.acceptor->listen(asio::socket_base::max_listen_connections);
  impl.acceptor->non_blocking(true);  // accept_loop drains bursts with plain accept()
  impl.bound_port = impl.acceptor->local_endpoint().port();
  return impl.bound_port;
}

void Server::start() {
  auto impl = impl_;
  impl->root =
      chain(impl->middleware, [raw = impl.get()](Request& req) { return raw->dispatch(req); });
  for (auto& loop : impl->loops) asio::co_spawn(loop->io, impl->sweep(*loop), asio::detached);
  asio::co_spawn(impl->io, impl->accept_loop(), asio::detached);
}

void Server::stop_accepting() {
  auto impl = impl_;
  asio::post(impl->io, [impl] {
    beast::error_code ignored;
    if (impl->acceptor) impl->acceptor->close(ignored);
  });
}

Task<void> Server::drain(std::chrono::milliseconds timeout) {
  auto impl = impl_;
  impl->draining = true;
  // Idle keep-alive connections get a short grace: a request already on its way is served with
  // Connection: close; a quiet connection is closed. Busy ones close after their response.
  impl->for_each_session([](Session& s) {
    if (s.idle) s.deadline = std::min(s.deadline, Clock::now() + std::chrono::milliseconds(250));
    if (auto goodbye = std::move(s.on_drain)) goodbye();
  });
  auto deadline = Clock::now() + timeout;
  asio::steady_timer timer(impl->io);
  auto wait_until = [&](Clock::time_point until) -> Task<void> {
    while (impl->connections.load() > 0 && Clock::now() < until) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kNoThrow);
    }
  };
  co_await wait_until(deadline);
  if (impl->connections.load() > 0) {
    impl->logger.warning("drain timeout: closing connections still open",
                         {{"connections", impl->connections.load()}});
    // Cancel what each session awaits, its handler included, then close.
    impl->for_each_session([](Session& s) {
      s.timed_out = true;
      s.cancel.emit(asio::cancellation_type::terminal);
      beast::error_code ignored;
      s.socket.close(ignored);
    });
    co_await wait_until(Clock::now() + std::chrono::seconds(2));
  }
  impl->stopped = true;
}

std::size_t Server::open_connections() const {
  return impl_->connections.load();
}
std::size_t Server::inflight_requests() const {
  return impl_->inflight.load();
}
std::uint16_t Server::port() const {
  return impl_->bound_port;
}

}  // namespace svckit::http
