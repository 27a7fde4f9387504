#include "svckit/http/server.hpp"

#include <atomic>
#include <ctime>
#include <mutex>
#include <optional>
#include <unordered_set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "svckit/error.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
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

// X-Request-ID is taken from the client only when it is sane: [A-Za-z0-9._-], at most 128.
bool sane_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!(std::isalnum((unsigned char)c) || c == '.' || c == '_' || c == '-')) return false;
  return true;
}

bool safe_header_value(std::string_view v) {
  return v.find_first_of("\r\n") == std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower((unsigned char)a[i]) != std::tolower((unsigned char)b[i])) return false;
  return true;
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
    case 431: return "request header block exceeds the server's limit";
    case 413: return "request body exceeds the server's limit";
    default: return "malformed HTTP request";
  }
}

}  // namespace

// One client connection. Its coroutine and everything touching it run on its loop's thread.
struct Session {
  explicit Session(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool idle = false;  // waiting for the first byte of the next request
};

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(std::vector<asio::io_context*> loops, ServerOptions options, const log::Logger& logger)
      : loops(std::move(loops)), io(*this->loops.at(0)), options(std::move(options)), logger(logger) {}

  std::vector<asio::io_context*> loops;
  asio::io_context& io;  // loops[0]: accepts, drains
  std::size_t next_loop = 0;
  ServerOptions options;
  const log::Logger& logger;
  Router router;
  std::vector<Middleware> middleware;
  Handler root;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t bound_port = 0;
  std::atomic<std::size_t> connections{0};
  std::atomic<std::size_t> inflight{0};
  std::atomic<bool> draining{false};
  std::mutex sessions_mutex;
  std::unordered_set<std::shared_ptr<Session>> sessions;

  Task<Response> dispatch(Request& req) {
    if (const Route* route = req.matched_route()) co_return co_await route->handler(req);
    auto match = router.match(req.method(), req.path());
    if (match.outcome == Router::Outcome::method_not_allowed)
      throw MethodNotAllowed(std::string(req.method_name()) + " is not allowed on " +
                                 std::string(req.path()),
                             match.allow);
    throw NotFound("no route for " + std::string(req.path()));
  }

  bool never_shed(std::string_view path) const {
    for (const auto& p : options.never_shed)
      if (p == path) return true;
    return false;
  }

  Task<void> accept_loop() {
    auto self = shared_from_this();
    while (acceptor && acceptor->is_open()) {
      auto& loop = *loops[next_loop++ % loops.size()];
      auto [ec, socket] = co_await acceptor->async_accept(loop.get_executor(), kNoThrow);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor->is_open()) co_return;
        // Out of file descriptors or similar: back off instead of spinning.
        logger.warning("accept failed", {{"error", ec.message()}});
        asio::steady_timer pause(io, std::chrono::milliseconds(50));
        co_await pause.async_wait(kNoThrow);
        continue;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      if (connections.load() >= options.max_connections) {
        auto ex = socket.get_executor();
        asio::co_spawn(ex, reject(std::move(socket)), asio::detached);
        continue;
      }
      auto session = std::make_shared<Session>(std::move(socket));
      {
        std::lock_guard lock(sessions_mutex);
        sessions.insert(session);
      }
      ++connections;
      asio::co_spawn(session->stream.get_executor(), serve(session), asio::detached);
    }
  }

  // Over the connection cap: a clear 503, then close.
  Task<void> reject(tcp::socket socket) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(socket));
    bhttp::response<bhttp::string_body> res{bhttp::status::service_unavailable, 11};
    res.set(bhttp::field::content_type, "application/problem+json");
    res.set(bhttp::field::retry_after, "1");
    res.body() =
        R"({"type":"about:blank","title":"Service Unavailable","status":503,)"
        R"("detail":"too many open connections"})";
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(options.header_timeout);
    co_await bhttp::async_write(stream, res, kNoThrow);
    co_await linger_close(stream);
  }

  // Half-close and drain what the client still sends, so that it reads our answer instead of a
  // reset (nginx's lingering close).
  Task<void> linger_close(beast::tcp_stream& stream) {
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(std::chrono::seconds(2));
    std::array<char, 16384> sink;
    std::size_t total = 0;
    while (total < (8u << 20)) {
      auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), kNoThrow);
      if (rec) break;
      total += n;
    }
    stream.close();
  }

  void forget(const std::shared_ptr<Session>& session) {
    {
      std::lock_guard lock(sessions_mutex);
      sessions.erase(session);
    }
    --connections;
  }

  Task<void> serve(std::shared_ptr<Session> session) {
    auto self = shared_from_this();
    try {
      co_await serve_requests(*session);
    } catch (const std::exception& e) {
      logger.error("connection failed", {{"error", e.what()}});
    }
    beast::error_code ignored;
    session->stream.socket().close(ignored);
    forget(session);
  }

  // Waits for the first byte of the next request. False when the connection should close.
  Task<bool> await_next_request(Session& s, bool first) {
    if (s.buffer.size() > 0) co_return true;  // pipelined bytes are already here
    s.idle = true;
    if (draining) co_return false;
    s.stream.expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [ec, n] = co_await s.stream.async_read_some(s.buffer.prepare(4096), kNoThrow);
    s.idle = false;
    if (!ec) {
      s.buffer.commit(n);
      co_return true;
    }
    // Cancelled by a drain: a request that already arrived is still served.
    beast::error_code aec;
    if (ec == asio::error::operation_aborted && s.stream.socket().is_open() &&
        s.stream.socket().available(aec) > 0 && !aec) {
      auto [rec, m] = co_await s.stream.async_read_some(s.buffer.prepare(4096), kNoThrow);
      if (!rec) {
        s.buffer.commit(m);
        co_return true;
      }
    }
    co_return false;
  }

  Task<void> serve_requests(Session& s) {
    for (bool first = true;; first = false) {
      if (!co_await await_next_request(s, first)) co_return;

      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body);
      s.stream.expires_after(options.header_timeout);
      auto [hec, hn] = co_await bhttp::async_read_header(s.stream, s.buffer, parser, kNoThrow);
      if (!hec) {
        auto expect = parser.get()[bhttp::field::expect];
        if (iequals(expect, "100-continue") && !parser.is_done()) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          co_await asio::async_write(s.stream, asio::buffer(kContinue), kNoThrow);
        }
        if (!parser.is_done()) {
          auto [bec, bn] = co_await bhttp::async_read(s.stream, s.buffer, parser, kNoThrow);
          hec = bec;
        }
      }
      if (hec) {
        if (int status = status_for_read_error(hec)) co_await answer_and_close(s, status);
        co_return;
      }

      bool keep_alive = co_await handle(s, parser.release());
      if (!keep_alive) {
        beast::error_code ignored;
        s.stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        co_return;
      }
    }
  }

  Task<void> answer_and_close(Session& s, int status) {
    Error error(status, "about:blank", status_reason(status), detail_for_status(status));
    Response r = Response::problem(error, trace::random_hex(16), "");
    bhttp::response<bhttp::string_body> res;
    res.version(11);
    res.result(status);
    res.set(bhttp::field::content_type, r.content_type);
    res.set(bhttp::field::date, http_date());
    res.body() = std::move(r.body);
    res.keep_alive(false);
    res.prepare_payload();
    s.stream.expires_after(options.header_timeout);
    co_await bhttp::async_write(s.stream, res, kNoThrow);
    logger.info("request rejected", {{"status", status}, {"detail", detail_for_status(status)}});
    co_await linger_close(s.stream);
  }

  // Runs one request through the middleware and the route; writes the response.
  // Returns whether the connection stays open.
  Task<bool> handle(Session& s, bhttp::request<bhttp::string_body> msg) {
    auto started = std::chrono::steady_clock::now();
    std::vector<Request::Header> headers;
    headers.reserve(std::distance(msg.begin(), msg.end()));
    for (const auto& field : msg)
      headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    bool head = msg.method() == bhttp::verb::head;
    unsigned version = msg.version();
    bool keep_alive = msg.keep_alive();
    std::string_view method_text = msg.method_string();
    Request req(parse_method(method_text), std::string(method_text), std::string(msg.target()),
                std::move(headers), std::move(msg.body()));
    req.set_received_at(started);
    auto rid = req.header("X-Request-ID");
    auto trace = trace::TraceContext::continue_from(req.header("traceparent"),
                                                    req.header("tracestate"));
    req.set_context(rid && sane_request_id(*rid) ? std::string(*rid) : trace::random_hex(16),
                    std::move(trace), &logger);

    auto match = router.match(req.method(), req.path());
    if (match.outcome == Router::Outcome::found) req.set_route(match.route, std::move(match.params));

    Response response;
    if (inflight.load(std::memory_order_relaxed) >= options.max_inflight &&
        !never_shed(req.path())) {
      response = Response::problem(ServiceUnavailable("the server is overloaded", 1),
                                   req.request_id(), req.path());
    } else {
      ++inflight;
      try {
        response = co_await root(req);
      } catch (const Error& e) {
        response = Response::problem(e, req.request_id(), req.path());
      } catch (const std::exception& e) {
        req.log(log::Level::error, "unhandled exception", {{"detail", e.what()}});
        response = Response::problem(Error(500, "about:blank", "Internal Server Error",
                                           "the server failed to handle the request"),
                                     req.request_id(), req.path());
      }
      --inflight;
    }

    keep_alive = keep_alive && !draining;
    const int status = response.status;
    co_await write(s, req, std::move(response), version, keep_alive, head);
    if (logger.enabled(log::Level::info)) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                            started)
                      .count();
      req.log(log::Level::info, "request",
              {{"method", req.method_name()},
               {"path", req.path()},
               {"status", status},
               {"duration_ms", ms}});
    }
    co_return keep_alive && s.stream.socket().is_open();
  }

  Task<void> write(Session& s, const Request& req, Response r, unsigned version, bool keep_alive,
                   bool head) {
    bhttp::response<bhttp::string_body> res;
    res.version(version);
    res.result(static_cast<unsigned>(r.status));
    res.set(bhttp::field::server, "svckit");
    res.set(bhttp::field::date, http_date());
    if (!r.content_type.empty()) res.set(bhttp::field::content_type, r.content_type);
    res.set("X-Request-ID", req.request_id());
    for (auto& [name, value] : r.headers)
      if (safe_header_value(name) && safe_header_value(value)) res.insert(name, value);
    bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    if (bodiless) r.body.clear();
    std::size_t length = r.body.size();
    res.body() = head ? std::string() : std::move(r.body);
    res.keep_alive(keep_alive);
    if (!bodiless) res.content_length(length);
    s.stream.expires_after(options.header_timeout);
    auto [ec, n] = co_await bhttp::async_write(s.stream, res, kNoThrow);
    if (ec) s.stream.close();
  }
};

Server::Server(std::vector<boost::asio::io_context*> loops, ServerOptions options,
               const log::Logger& logger)
    : impl_(std::make_shared<Impl>(std::move(loops), std::move(options), logger)) {}

Server::~Server() = default;

void Server::use(Middleware middleware) { impl_->middleware.push_back(std::move(middleware)); }

RouteGroup Server::group(std::string_view prefix, std::vector<Middleware> middleware) {
  return RouteGroup(impl_->router, std::string(prefix), std::move(middleware));
}

Router& Server::router() { return impl_->router; }

std::uint16_t Server::listen() {
  auto& impl = *impl_;
  tcp::resolver resolver(impl.io);
  auto results = resolver.resolve(impl.options.host, std::to_string(impl.options.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service);
  tcp::endpoint endpoint = results.begin()->endpoint();
  impl.acceptor.emplace(impl.io);
  impl.acceptor->open(endpoint.protocol());
  impl.acceptor->set_option(asio::socket_base::reuse_address(true));
  impl.acceptor->bind(endpoint);
  impl.acceptor->listen(asio::socket_base::max_listen_connections);
  impl.bound_port = impl.acceptor->local_endpoint().port();
  return impl.bound_port;
}

void Server::start() {
  auto impl = impl_;
  impl->root = chain(impl->middleware, [raw = impl.get()](Request& req) { return raw->dispatch(req); });
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
  auto for_each_session = [&](auto action) {
    std::lock_guard lock(impl->sessions_mutex);
    for (const auto& session : impl->sessions)
      asio::post(session->stream.get_executor(), [session, action] { action(*session); });
  };
  // Idle keep-alive connections close now; busy ones close after their response.
  for_each_session([](Session& s) {
    beast::error_code ignored;  // the socket may have closed meanwhile
    if (s.idle) s.stream.socket().cancel(ignored);
  });
  auto deadline = std::chrono::steady_clock::now() + timeout;
  asio::steady_timer timer(impl->io);
  while (impl->connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(10));
    co_await timer.async_wait(kNoThrow);
  }
  if (impl->connections.load() > 0) {
    impl->logger.warning("drain timeout: closing connections still open",
                         {{"connections", impl->connections.load()}});
    for_each_session([](Session& s) { s.stream.close(); });
    while (impl->connections.load() > 0) {
      timer.expires_after(std::chrono::milliseconds(10));
      co_await timer.async_wait(kNoThrow);
    }
  }
}

std::size_t Server::open_connections() const { return impl_->connections.load(); }
std::size_t Server::inflight_requests() const { return impl_->inflight.load(); }
std::uint16_t Server::port() const { return impl_->bound_port; }

}  // namespace svckit::http
