#include "svckit/http/client.hpp"
#include "svckit/http/pooled_connections.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>
#include <mutex>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "keep_alive.hpp"
#include "message_head.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/request.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/meter.hpp"
#include "svckit/trace/span.hpp"
#include "svckit/trace/trace_context.hpp"

namespace svckit::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::uint32_t kMaxResponseHead = 64 * 1024;
// Interim answers read past before the answer; an upstream sending more is broken.
constexpr int kMaxInterimAnswers = 8;

struct Url {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string prefix;  // "" or "/v1" (no trailing slash)
};

// The URL as errors may show it: credentials in it (user:password@) masked, since the error
// ends up in logs.
std::string shown_url(std::string_view url) {
  auto scheme = url.find("://");
  auto start = scheme == std::string_view::npos ? 0 : scheme + 3;
  auto authority_end = url.find_first_of("/?#", start);
  auto at = url.substr(0, authority_end).rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(url);
  return std::string(url.substr(0, start)) + "***" + std::string(url.substr(at));
}

Url parse_url(std::string_view url) {
  Url out;
  auto fail = [&](const std::string& why) {
    return std::invalid_argument("base URL '" + shown_url(url) + "': " + why);
  };
  if (url.starts_with("https://")) {
    out.tls = true;
    url.remove_prefix(8);
  } else if (url.starts_with("http://")) {
    url.remove_prefix(7);
  } else {
    throw fail("expected http:// or https://");
  }
  auto slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  out.prefix = slash == std::string_view::npos ? "" : std::string(url.substr(slash));
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  if (authority.find('@') != std::string_view::npos) throw fail("credentials do not belong in it");
  std::string_view port;
  if (authority.starts_with('[')) {
    auto close = authority.find(']');
    if (close == std::string_view::npos) throw fail("unclosed IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    auto rest = authority.substr(close + 1);
    if (!rest.empty() && rest[0] != ':') throw fail("junk after the IPv6 address");
    if (!rest.empty()) port = rest.substr(1);
  } else {
    auto colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) throw fail("no host");
  for (char c : out.host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '_'))
      throw fail("bad character in the host");
  if (port.empty()) {
    out.port = out.tls ? "443" : "80";
  } else {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
      throw fail("bad port");
    out.port = std::string(port);
  }
  for (char c : out.prefix)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f || c == '?' || c == '#')
      throw fail("bad character in the path");
  return out;
}

// Header names and values go onto the wire as given: a CR or LF in one would let whoever chose
// it add headers or a whole request.
// Fields the client writes itself; a caller's copies are dropped rather than sent twice (a
// second Content-Length is a request smuggling vector, a second deadline a lie).
bool owned_by_client(std::string_view name) {
  for (std::string_view owned :
       {"Host", "Content-Length", "Transfer-Encoding", "X-Request-Timeout-Ms"})
    if (iequals(name, owned)) return true;
  return false;
}

bool idempotent(Method m) {
  return m == Method::get || m == Method::head || m == Method::put || m == Method::del ||
         m == Method::options;
}

// Retry-After in delta-seconds (RFC 9110 §10.2.3); HTTP dates are not worth the parse here.
std::optional<milliseconds> retry_after(const ClientResponse& r) {
  auto value = r.header("Retry-After");
  if (!value) return std::nullopt;
  unsigned seconds = 0;
  auto [end, ec] = std::from_chars(value->data(), value->data() + value->size(), seconds);
  if (ec != std::errc() || end != value->data() + value->size()) return std::nullopt;
  return milliseconds(std::int64_t{seconds} * 1000);
}

bool retryable_status(int status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// A pooled keep-alive connection. It belongs to the loop that opened it.
struct Connection : std::enable_shared_from_this<Connection> {
  explicit Connection(const asio::any_io_executor& ex) : socket(ex), step_timer(ex) {}
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  tcp::socket socket;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  beast::flat_buffer buffer;
  detail::ResponseHead answer_head;  // the last answer's, its vector reused
  std::string request_head;          // the current request's, its buffer reused
  Clock::time_point idle_since{};
  bool reused = false;
  bool timed_out = false;  // the current step's deadline passed

  // The server closed it or sent something unasked while it sat in the pool.
  bool stale() {
    char byte;
    ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  // A step (a connect, or a request and its answer) that must be done by `deadline`: once it
  // passes, the step's socket operations are cancelled and it fails as a timeout. Every call
  // sets one, so the timer is lazy: a step due later than the time the timer is already set for
  // leaves it alone, and the timer, when it fires, moves on to the current step's deadline. A
  // connection then costs one timer operation per timeout period, where arming, cancelling and
  // running the cancelled handler on every call was 4% of the gateway's user CPU.
  void begin_step(Clock::time_point deadline) {
    timed_out = false;
    step_deadline = deadline;
    if (!timer_set || deadline < step_timer.expiry()) set_timer(deadline);
  }
  void end_step() { step_deadline = Clock::time_point::max(); }
  // Closes the socket and cancels the timer (a pooled connection at shutdown).
  void close() {
    boost::system::error_code ignored;
    step_timer.cancel();
    socket.close(ignored);
  }

 private:
  void set_timer(Clock::time_point when) {
    timer_set = true;
    step_timer.expires_at(when);  // a wait already pending ends with operation_aborted
    // Weak: a pooled connection closes when it is dropped, not when its timer next fires.
    step_timer.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
      auto self = weak.lock();
      if (ec || !self) return;
      self->timer_fired();
    });
  }

  void timer_fired() {
    timer_set = false;
    if (step_deadline == Clock::time_point::max()) return;  // no step: set by the next one
    if (step_deadline > Clock::now()) return set_timer(step_deadline);
    timed_out = true;
    step_deadline = Clock::time_point::max();
    boost::system::error_code ignored;
    socket.cancel(ignored);
  }

  asio::steady_timer step_timer;
  Clock::time_point step_deadline = Clock::time_point::max();
  bool timer_set = false;  // a wait is pending (until step_timer.expiry())
};

// The step a connection is in while this lives (or until end()).
class Step {
 public:
  Step(Connection& conn, Clock::time_point deadline) : conn_(conn) { conn.begin_step(deadline); }
  Step(const Step&) = delete;
  Step& operator=(const Step&) = delete;
  ~Step() { end(); }
  void end() {
    if (!ended_) conn_.end_step();
    ended_ = true;
  }

 private:
  Connection& conn_;
  bool ended_ = false;
};

// The idle connections of every Client on one I/O loop. It is an Asio service of the loop, so
// pooled sockets close with their loop and never outlive it, whatever the order in which loops
// and clients go away. A client that is gone leaves an entry whose owner has expired; it is
// cleared on the next lookup of that key.
class ConnectionPools : public asio::execution_context::service {
 public:
  static inline asio::execution_context::id id;
  explicit ConnectionPools(asio::execution_context& ctx) : service(ctx) {}

  // A connection idle for `trusted` or less is taken without looking for a close or stray
  // bytes (a syscall): only a caller that repeats a failed try on a new connection passes more
  // than zero, and servers send a farewell (a 408) only at their idle timeout, seconds later.
  std::shared_ptr<Connection> take(const std::shared_ptr<const void>& client,
                                   milliseconds idle_timeout, milliseconds trusted,
                                   Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto& idle = idle_of(client);
    while (!idle.empty()) {
      auto conn = std::move(idle.back());
      idle.pop_back();
      auto idle_for = now - conn->idle_since;
      if (idle_for < idle_timeout && (idle_for < trusted || !conn->stale())) return conn;
    }
    return nullptr;
  }

  void give_back(const std::shared_ptr<const void>& client, std::shared_ptr<Connection> conn,
                 std::size_t max_idle) {
    conn->idle_since = Clock::now();
    conn->reused = true;
    std::lock_guard lock(mutex_);
    auto& idle = idle_of(client);
    if (idle.size() < max_idle) idle.push_back(std::move(conn));
  }

  // On the loop's thread: every idle connection closed, its timer cancelled.
  void close_all() {
    std::unordered_map<const void*, Pool> pools;
    {
      std::lock_guard lock(mutex_);
      pools.swap(pools_);
    }
    for (auto& [key, pool] : pools)
      for (auto& conn : pool.idle) conn->close();
  }

 private:
  struct Pool {
    std::weak_ptr<const void> owner;
    std::vector<std::shared_ptr<Connection>> idle;
  };

  std::vector<std::shared_ptr<Connection>>& idle_of(const std::shared_ptr<const void>& client) {
    Pool& pool = pools_[client.get()];
    if (pool.owner.owner_before(client) || client.owner_before(pool.owner)) {
      pool.idle.clear();  // a client that is gone had the same address
      pool.owner = client;
    }
    return pool.idle;
  }

  void shutdown() override {
    std::lock_guard lock(mutex_);
    pools_.clear();
  }

  std::mutex mutex_;
  std::unordered_map<const void*, Pool> pools_;
};

}  // namespace

void close_pooled_connections(asio::io_context& loop) {
  if (asio::has_service<ConnectionPools>(loop))
    asio::use_service<ConnectionPools>(loop).close_all();
}

std::string_view to_string(UpstreamError::Kind kind) {
  switch (kind) {
    case UpstreamError::Kind::connect:
      return "connect";
    case UpstreamError::Kind::timeout:
      return "timeout";
    case UpstreamError::Kind::io:
      return "io";
    case UpstreamError::Kind::protocol:
      return "protocol";
    case UpstreamError::Kind::too_large:
      return "too_large";
    case UpstreamError::Kind::circuit_open:
      return "circuit_open";
  }
  return "io";
}

namespace {

int status_for(UpstreamError::Kind kind) {
  if (kind == UpstreamError::Kind::timeout) return 504;
  if (kind == UpstreamError::Kind::circuit_open) return 503;
  return 502;
}

}  // namespace

UpstreamError::UpstreamError(Kind kind, std::string upstream, std::string detail,
                             milliseconds retry_after)
    : Error(status_for(kind), "urn:svckit:problem:upstream", status_reason(status_for(kind)),
            "upstream " + upstream + ": " + detail),
      kind_(kind),
      upstream_(std::move(upstream)) {
  if (kind == Kind::circuit_open)
    with_header("Retry-After",
                std::to_string(std::max<std::int64_t>(1, (retry_after.count() + 999) / 1000)));
}

ClientRequest ClientRequest::json(Method method, std::string target, const nlohmann::json& body) {
  ClientRequest r;
  r.method = method;
  r.target = std::move(target);
  r.body = body.dump();
  r.content_type = "application/json";
  return r;
}

ClientRequest ClientRequest::owning() const {
  ClientRequest r = *this;
  r.headers.reserve(r.headers.size() + r.borrowed_headers.size());
  for (const auto& [k, v] : r.borrowed_headers) r.headers.emplace_back(k, v);
  r.borrowed_headers.clear();
  return r;
}

std::optional<std::string_view> ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

nlohmann::json ClientResponse::json() const {
  auto parsed = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded())
    throw UpstreamError(UpstreamError::Kind::protocol, "", "the answer is not JSON");
  return parsed;
}

struct Client::Impl : std::enable_shared_from_this<Client::Impl> {
  Url url;
  ClientOptions options;
  std::string name;
  std::string host_header;
  std::unique_ptr<asio::ssl::context> tls;
  RetryBudget budget;
  std::unique_ptr<CircuitBreaker> breaker;

  struct Metrics {
    // Counted on every call from every I/O thread: sharded cells (svckit/meter.hpp).
    meter::Family<meter::Counter>* requests = nullptr;
    meter::Histogram* duration = nullptr;
    meter::Counter* retries = nullptr;
    meter::Counter* budget_exhausted = nullptr;
    meter::Gauge* breaker_state = nullptr;
    // Cells of `requests` by method and status (slot 0: no answer, then 100..599).
    std::unique_ptr<std::atomic<meter::Counter*>[]> by_call;
  } metrics;
  static constexpr std::size_t kStatusSlots = 501;

  Impl(std::string_view base_url, ClientOptions o)
      : url(parse_url(base_url)), options(std::move(o)), budget(options.retry_budget) {
    bool default_port = url.port == (url.tls ? "443" : "80");
    bool ipv6 = url.host.find(':') != std::string::npos;
    std::string host = ipv6 ? "[" + url.host + "]" : url.host;
    host_header = default_port ? host : host + ":" + url.port;
    name = options.name.empty() ? url.host + ":" + url.port : options.name;
    if (url.tls) tls = make_tls_context();
    if (options.breaker) breaker = std::make_unique<CircuitBreaker>(*options.breaker);
    if (options.metrics) register_metrics(*options.metrics);
    if (breaker) watch_breaker();
  }

  std::unique_ptr<asio::ssl::context> make_tls_context() const {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                     asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                     asio::ssl::context::no_tlsv1_1);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    boost::system::error_code ec;
    if (options.ca_file.empty())
      ctx->set_default_verify_paths(ec);
    else
      ctx->load_verify_file(options.ca_file, ec);
    if (ec) throw std::invalid_argument("CA file '" + options.ca_file + "': " + ec.message());
    if (!options.certificate_file.empty()) {
      ctx->use_certificate_chain_file(options.certificate_file, ec);
      if (ec)
        throw std::invalid_argument("client certificate '" + options.certificate_file +
                                    "': " + ec.message());
      ctx->use_private_key_file(options.key_file, asio::ssl::context::pem, ec);
      if (ec) throw std::invalid_argument("client key '" + options.key_file + "': " + ec.message());
    }
    return ctx;
  }

  void register_metrics(meter::Meter& meter) {
    metrics.by_call = std::make_unique<std::atomic<meter::Counter*>[]>(
        kStatusSlots * (static_cast<std::size_t>(Method::other) + 1));
    metrics.requests = &meter.counters("http_client_requests_total",
                                       "Calls made by the HTTP client, by upstream, method and "
                                       "final status (\"error\" when there was no answer).");
    metrics.duration = &meter
                            .histograms("http_client_request_duration_seconds",
                                        "Duration of client calls, retries included, by upstream.")
                            .add({{"upstream", name}}, meter::latency_buckets());
    metrics.retries =
        &meter
             .counters("http_client_retries_total", "Retries made by the HTTP client, by upstream.")
             .add({{"upstream", name}});
    metrics.budget_exhausted =
        &meter
             .counters("http_client_retry_budget_exhausted_total",
                       "Retries not made because the upstream's retry budget was spent.")
             .add({{"upstream", name}});
    if (breaker)
      metrics.breaker_state =
          &meter
               .gauges("http_client_circuit_breaker_state",
                       "Circuit breaker per upstream: 0 closed, 1 open, 2 half-open.")
               .add({{"upstream", name}});
  }

  void watch_breaker() {
    breaker->on_state_change([this](CircuitBreaker::State from, CircuitBreaker::State to) {
      if (metrics.breaker_state) metrics.breaker_state->set(static_cast<double>(to));
      if (options.logger)
        options.logger->warning(
            "circuit breaker state changed",
            {{"upstream", name}, {"from", to_string(from)}, {"to", to_string(to)}});
    });
  }

  UpstreamError error(UpstreamError::Kind kind, const std::string& detail) const {
    return UpstreamError(kind, name, detail);
  }

  Task<std::shared_ptr<Connection>> connect(Clock::time_point deadline) {
    auto ex = co_await asio::this_coro::executor;
    auto conn = std::make_shared<Connection>(ex);
    Step step(*conn, std::min(deadline, Clock::now() + options.connect_timeout));
    tcp::resolver resolver(ex);
    auto [rec, endpoints] = co_await resolver.async_resolve(url.host, url.port, kNoThrow);
    if (rec)
      throw error(UpstreamError::Kind::connect,
                  "cannot resolve " + url.host + ": " + rec.message());
    auto [cec, endpoint] = co_await asio::async_connect(conn->socket, endpoints, kNoThrow);
    if (cec)
      throw error(conn->timed_out ? UpstreamError::Kind::timeout : UpstreamError::Kind::connect,
                  conn->timed_out ? "connect timed out" : "cannot connect: " + cec.message());
    conn->socket.set_option(tcp::no_delay(true));
    conn->socket.non_blocking(true);  // exchange() writes without waiting when it can
    if (tls) {
      conn->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(conn->socket, *tls);
      SSL_set_tlsext_host_name(conn->tls->native_handle(), url.host.c_str());
      conn->tls->set_verify_callback(asio::ssl::host_name_verification(url.host));
      auto [hec] = co_await conn->tls->async_handshake(asio::ssl::stream_base::client, kNoThrow);
      if (hec)
        throw error(
            conn->timed_out ? UpstreamError::Kind::timeout : UpstreamError::Kind::connect,
            conn->timed_out ? "TLS handshake timed out" : "TLS handshake failed: " + hec.message());
    }
    co_return conn;
  }

  // Throws std::invalid_argument for a request that must not go on the wire.
  static void validate(const ClientRequest& r) {
    if (r.method == Method::other)
      throw std::invalid_argument(
          "the client sends GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS");
    if (r.target.empty() || r.target[0] != '/' || !http::is_field_safe(r.target) ||
        r.target.find(' ') != std::string::npos)
      throw std::invalid_argument(
          "request target must start with '/' and hold no spaces or "
          "line breaks: '" +
          r.target + "'");
    auto check = [](std::string_view name, std::string_view value) {
      if (!http::is_token(name) || !http::is_field_safe(value))
        throw std::invalid_argument("header '" + std::string(name) +
                                    "': the name must be a token and the value "
                                    "must hold no line break or NUL");
    };
    for (const auto& [k, v] : r.headers) check(k, v);
    for (const auto& [k, v] : r.borrowed_headers) check(k, v);
    if (!http::is_field_safe(r.content_type))
      throw std::invalid_argument("content type holds a line break or NUL");
  }

  // The request head, serialized by hand into `head` (what Beast's serializer would write,
  // without a field allocation each): the connection's own buffer, whose capacity is kept from
  // one call to the next. The request was validated.
  // `span`: the CLIENT span this try is recorded as, whose id the traceparent carries; without
  // one (not recording) a new span id is made up for it.
  void wire_head(std::string& head, const ClientRequest& r, Deadline deadline,
                 Clock::time_point now, const trace::Span* span) const {
    using namespace std::string_view_literals;
    std::size_t size = 160 + url.prefix.size() + r.target.size() + host_header.size();
    bool own_agent = false;
    auto measure = [&](std::string_view k, std::string_view v) {
      size += k.size() + v.size() + 4;
      own_agent = own_agent || iequals(k, "User-Agent");
    };
    for (const auto& [k, v] : r.headers) measure(k, v);
    for (const auto& [k, v] : r.borrowed_headers) measure(k, v);
    if (r.context)
      size += r.context->request_id().size() + r.context->trace().tracestate.size() + 32;
    head.clear();
    head.reserve(size);
    auto field = [&head](std::string_view name, std::string_view value) {
      head.append(name).append(": "sv).append(value).append("\r\n"sv);
    };
    head.append(method_name(r.method)).append(" "sv).append(url.prefix).append(r.target);
    head.append(" HTTP/1.1\r\n"sv);
    field("Host", host_header);
    if (!own_agent) field("User-Agent", "svckit/0.1");  // a proxy passes its client's on
    for (const auto& [k, v] : r.headers)
      if (!owned_by_client(k)) field(k, v);
    for (const auto& [k, v] : r.borrowed_headers)
      if (!owned_by_client(k)) field(k, v);
    if (r.context) {
      field("X-Request-ID", r.context->request_id());
      const trace::TraceContext& t = r.context->trace();
      field("traceparent", span ? span->traceparent() : t.child_traceparent());
      if (!t.tracestate.empty()) field("tracestate", t.tracestate);
    }
    auto number = [&field](std::string_view name, std::int64_t value) {
      char digits[24];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
      field(name, std::string_view(digits, end - digits));
    };
    if (deadline.is_set())
      number(kTimeoutHeader, std::max<std::int64_t>(1, deadline.remaining(now).count()));
    if (!r.body.empty() && !r.content_type.empty()) field("Content-Type", r.content_type);
    if (!r.body.empty() || r.method == Method::post || r.method == Method::put ||
        r.method == Method::patch)
      number("Content-Length", static_cast<std::int64_t>(r.body.size()));
    head.append("\r\n"sv);
  }

  static std::string_view buffered(const beast::flat_buffer& buffer) {
    auto data = buffer.data();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  // The request out, the answer in. An answer with a plain head and a Content-Length body (or
  // none) is parsed in place, here; anything else is left in the buffer for Beast's parser
  // (read_answer()). One frame for both directions: this runs on every call.
  template <class Stream>
  Task<ClientResponse> exchange(Stream& stream, Connection& conn, const ClientRequest& request,
                                bool& keep_alive) {
    const std::string& head = conn.request_head;
    std::array<asio::const_buffer, 2> wire{asio::buffer(head), asio::buffer(request.body)};
    std::size_t sent = 0;
    beast::error_code wec;
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      // The socket is non-blocking and a request usually fits its send buffer: written now,
      // and the reactor waited for only for what did not fit.
      sent = stream.write_some(wire, wec);
      if (wec == asio::error::would_block) wec = {};
    }
    if (!wec && sent < asio::buffer_size(wire)) {
      std::size_t from_body = sent > head.size() ? sent - head.size() : 0;
      std::array<asio::const_buffer, 2> rest{wire[0] + sent, wire[1] + from_body};
      std::tie(wec, std::ignore) = co_await asio::async_write(stream, rest, kNoThrow);
    }
    if (wec) throw io_error(conn, "sending the request failed: " + wec.message());

    auto& answer = conn.answer_head;
    for (;;) {
      auto parsed = detail::parse_response_head(buffered(conn.buffer), kMaxResponseHead,
                                                request.method == Method::head, answer);
      if (parsed == detail::HeadParse::declined)
        co_return co_await read_answer(stream, conn, request, keep_alive);
      if (parsed == detail::HeadParse::complete) break;
      auto [ec, n] = co_await stream.async_read_some(conn.buffer.prepare(4096), kNoThrow);
      if (ec) throw io_error(conn, "reading the answer failed: " + ec.message());
      conn.buffer.commit(n);
    }
    if (answer.content_length > options.max_response_bytes)
      throw error(UpstreamError::Kind::too_large, "the answer is larger than the client takes");
    ClientResponse out;
    out.status = answer.status;
    out.headers.reserve(answer.headers.size());
    for (auto [name, value] : answer.headers) out.headers.emplace_back(name, value);
    keep_alive = answer.keep_alive;
    const std::size_t total = answer.size + answer.content_length;
    // Copied out above: reading the body may move the buffer.
    while (conn.buffer.size() < total) {
      auto [ec, n] = co_await stream.async_read_some(
          conn.buffer.prepare(total - conn.buffer.size()), kNoThrow);
      if (ec) throw io_error(conn, "reading the answer failed: " + ec.message());
      conn.buffer.commit(n);
    }
    out.body = std::string(
        buffered(conn.buffer).substr(total - answer.content_length, answer.content_length));
    conn.buffer.consume(total);
    co_return out;
  }

  // The general path: Beast's parser on what is buffered and what follows. Interim answers
  // (100 Continue, 103 Early Hints) are read past: taken for the answer, they would leave the
  // real one on a pooled connection for the next call to read.
  template <class Stream>
  Task<ClientResponse> read_answer(Stream& stream, Connection& conn, const ClientRequest& request,
                                   bool& keep_alive) {
    for (int interim = 0;; ++interim) {
      bhttp::response_parser<bhttp::string_body> parser;
      parser.header_limit(kMaxResponseHead);
      parser.body_limit(options.max_response_bytes);
      if (request.method == Method::head) parser.skip(true);
      auto [rec, read] = co_await bhttp::async_read(stream, conn.buffer, parser, kNoThrow);
      if (rec == bhttp::error::body_limit || rec == bhttp::error::header_limit)
        throw error(UpstreamError::Kind::too_large, "the answer is larger than the client takes");
      if (rec) throw io_error(conn, "reading the answer failed: " + rec.message());
      auto status = parser.get().result_int();
      if (status < 100 || status >= 200 || status == 101) {
        auto answer = answer_of(parser, keep_alive);
        if (status == 101) keep_alive = false;  // switched: the connection is HTTP's no more
        co_return answer;
      }
      if (interim == kMaxInterimAnswers)
        throw error(
            UpstreamError::Kind::protocol,
            "more than " + std::to_string(kMaxInterimAnswers) + " interim answers and no answer");
    }
  }

  static ClientResponse answer_of(bhttp::response_parser<bhttp::string_body>& parser,
                                  bool& keep_alive) {
    auto& message = parser.get();
    ClientResponse out;
    out.status = static_cast<int>(message.result_int());
    out.headers.reserve(8);
    for (const auto& field : message)
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::move(message.body());
    keep_alive = detail::keeps_alive(parser);  // as the fast path decides it
    return out;
  }

  UpstreamError io_error(const Connection& conn, const std::string& detail) const {
    if (conn.timed_out) return error(UpstreamError::Kind::timeout, "no answer in time");
    return error(UpstreamError::Kind::io, detail);
  }

  // A try's CLIENT span, named by the method as OpenTelemetry's HTTP conventions have it.
  trace::Span client_span(const ClientRequest& r) const {
    auto span = trace::Span::child_of(r.context->trace(), std::string(method_name(r.method)),
                                      trace::SpanKind::client);
    auto path = std::string_view(r.target).substr(0, r.target.find('?'));
    span.set("http.request.method", std::string(method_name(r.method)))
        .set("server.address", host_header)
        .set("url.path", url.prefix + std::string(path))
        .set("peer.service", name);
    return span;
  }

  static void finish_span(trace::Span span, int status, const UpstreamError* failure) {
    span.end();
    if (failure) {
      span.fail(failure->what());
    } else {
      span.set("http.response.status_code", static_cast<std::int64_t>(status));
      if (status >= 400) span.fail("HTTP " + std::to_string(status));
    }
    trace::record(std::move(span));
  }

  // One try: a pooled connection (or a new one), the request, the answer. `now`: when the
  // try began, read once by the caller.
  Task<ClientResponse> attempt(const ClientRequest& r, Deadline deadline,
                               Clock::time_point attempt_deadline, Clock::time_point now) {
    auto ex = co_await asio::this_coro::executor;
    auto& pools = asio::use_service<ConnectionPools>(asio::query(ex, asio::execution::context));
    std::shared_ptr<const void> self = shared_from_this();
    // A pooled connection the server closed a moment ago fails before any answer; such a try
    // of a call that may be repeated is repeated once on a new connection. Other calls look
    // at the pooled connection before using it.
    const bool repeatable = idempotent(r.method) || r.idempotent.value_or(false);
    std::optional<trace::Span> span;  // this try, when its trace is recorded
    if (r.context && trace::recording(r.context->trace())) span = client_span(r);
    for (int fresh_tries = 0;; ++fresh_tries) {
      auto trusted = repeatable && fresh_tries == 0 ? milliseconds(1000) : milliseconds(0);
      if (fresh_tries > 0) now = Clock::now();
      auto conn = pools.take(self, options.idle_timeout, trusted, now);
      if (!conn) {
        try {
          conn = co_await connect(attempt_deadline);
        } catch (const UpstreamError& e) {  // no connection: the try's span says so
          if (span) finish_span(std::move(*span), 0, &e);
          throw;
        }
        now = Clock::now();  // the deadline's remaining time, as sent, counts the connect
      }
      const trace::Span* traced = span ? &*span : nullptr;
      wire_head(conn->request_head, r, deadline, now, traced);
      bool reused = conn->reused;
      Step step(*conn, attempt_deadline);
      bool keep_alive = false;
      std::optional<UpstreamError> failure;
      ClientResponse response;
      try {
        if (conn->tls)
          response = co_await exchange(*conn->tls, *conn, r, keep_alive);
        else
          response = co_await exchange(conn->socket, *conn, r, keep_alive);
      } catch (const UpstreamError& e) {
        failure = e;
      }
      if (!failure) {
        step.end();  // before the pool may hand the connection to another call
        if (keep_alive) pools.give_back(self, std::move(conn), options.max_idle_per_loop);
        if (span) finish_span(std::move(*span), response.status, nullptr);
        co_return response;
      }
      if (failure->kind() == UpstreamError::Kind::io && reused && fresh_tries == 0 && repeatable)
        continue;
      if (span) finish_span(std::move(*span), 0, &*failure);
      throw *failure;
    }
  }

  // `status`: the answer's, or 0 when there was none ("error").
  void count(const ClientRequest& r, int status, Clock::time_point started) {
    if (!metrics.requests) return;
    counter_for(r.method, status).increment();
    metrics.duration->observe(std::chrono::duration<double>(Clock::now() - started).count());
  }

  // The http_client_requests_total child of (method, status), looked up once: add()
  // builds a label map and takes the family's lock, on every call otherwise.
  meter::Counter& counter_for(Method method, int status) {
    auto add = [&] {
      return &metrics.requests->add({{"upstream", name},
                                     {"method", std::string(method_name(method))},
                                     {"status", status ? std::to_string(status) : "error"}});
    };
    if (status != 0 && (status < 100 || status >= 600)) return *add();  // not worth a slot
    std::size_t slot = static_cast<std::size_t>(method) * kStatusSlots +
                       (status ? static_cast<std::size_t>(status - 99) : 0);
    if (auto* c = metrics.by_call[slot].load(std::memory_order_acquire)) return *c;
    auto* c = add();
    metrics.by_call[slot].store(c, std::memory_order_release);  // a race stores the same child
    return *c;
  }

  Task<void> sleep(milliseconds wait) {
    asio::steady_timer timer(co_await asio::this_coro::executor, wait);
    co_await timer.async_wait(asio::use_awaitable);
  }

  // `self` is this Impl: held by the call's frame, so a call in flight keeps its client's state
  // alive even if the Client object goes.
  // Keeps the request in this frame for the whole call.
  Task<ClientResponse> send_owned(ClientRequest r, std::shared_ptr<Impl> self) {
    co_return co_await send(r, std::move(self));
  }

  Task<ClientResponse> send(const ClientRequest& r, std::shared_ptr<Impl> self) {
    (void)self;
    // The clock is read once for the first try: its start, its deadline and its checks.
    const auto started = Clock::now();
    Deadline deadline = r.deadline.min(Deadline::at(started + options.timeout));
    if (r.context) deadline = deadline.min(r.context->deadline());
    bool may_retry = r.idempotent.value_or(idempotent(r.method));
    validate(r);  // a malformed request throws std::invalid_argument before any try
    // The budget only pays for retries: a client that never retries has nothing to save up.
    if (options.retry.max_attempts > 1) budget.record_request();

    std::optional<ClientResponse> last_response;
    std::optional<UpstreamError> last_error;
    int attempt_number = 0;
    for (;;) {
      ++attempt_number;
      last_response.reset();
      last_error.reset();
      milliseconds server_wait{0};
      auto now = attempt_number == 1 ? started : Clock::now();
      if (deadline.expired(now)) {
        last_error = error(UpstreamError::Kind::timeout, "the deadline passed before the call");
      } else if (breaker && !breaker->allow()) {
        last_error = UpstreamError(UpstreamError::Kind::circuit_open, name,
                                   "circuit breaker is open", breaker->retry_after());
      } else {
        auto attempt_deadline = deadline.when();
        if (options.attempt_timeout.count() > 0)
          attempt_deadline = std::min(attempt_deadline, now + options.attempt_timeout);
        try {
          last_response = co_await attempt(r, deadline, attempt_deadline, now);
          last_response->attempts = attempt_number;
        } catch (const UpstreamError& e) {
          last_error = e;
        } catch (...) {  // cancelled: no outcome to count, but the probe slot goes back
          if (breaker) breaker->release();
          throw;
        }
        bool failed = last_error || last_response->status >= 500;
        if (breaker) failed ? breaker->record_failure() : breaker->record_success();
        if (last_response) server_wait = retry_after(*last_response).value_or(milliseconds(0));
      }

      bool retryable = last_error
                           ? (last_error->kind() == UpstreamError::Kind::connect ||
                              (may_retry && (last_error->kind() == UpstreamError::Kind::io ||
                                             last_error->kind() == UpstreamError::Kind::timeout)))
                           : (may_retry && retryable_status(last_response->status));
      if (last_error && last_error->kind() == UpstreamError::Kind::circuit_open) retryable = false;
      if (!retryable || attempt_number >= options.retry.max_attempts || deadline.expired()) break;
      auto wait = std::max(options.retry.backoff(attempt_number), server_wait);
      if (deadline.is_set() && wait >= deadline.remaining()) break;
      if (!budget.try_spend()) {
        if (metrics.budget_exhausted) metrics.budget_exhausted->increment();
        break;
      }
      if (metrics.retries) metrics.retries->increment();
      if (options.logger)
        options.logger->info("retrying call",
                             {{"upstream", name},
                              {"attempt", attempt_number + 1},
                              {"after_ms", wait.count()},
                              {"reason", last_error ? std::string(last_error->what())
                                                    : std::to_string(last_response->status)}});
      if (wait.count() > 0) co_await sleep(wait);
    }

    if (last_response) {
      count(r, last_response->status, started);
      co_return std::move(*last_response);
    }
    count(r, 0, started);
    if (options.fallback) {
      if (auto answer = options.fallback(r, *last_error)) co_return std::move(*answer);
    }
    throw *last_error;
  }
};

Client::Client(std::string_view base_url, ClientOptions options)
    : impl_(std::make_shared<Impl>(base_url, std::move(options))) {}

Client::~Client() = default;

Task<ClientResponse> Client::send(ClientRequest request) {
  return impl_->send_owned(std::move(request), impl_);
}

Task<ClientResponse> Client::send_borrowed(const ClientRequest& request) {
  return impl_->send(request, impl_);
}

Task<ClientResponse> Client::get(std::string target, const Context* context) {
  ClientRequest r;
  r.target = std::move(target);
  r.context = context;
  return impl_->send_owned(std::move(r), impl_);
}

Task<ClientResponse> Client::post(std::string target, const nlohmann::json& body,
                                  const Context* context) {
  ClientRequest r = ClientRequest::json(Method::post, std::move(target), body);
  r.context = context;
  return impl_->send_owned(std::move(r), impl_);
}

const std::string& Client::name() const {
  return impl_->name;
}

CircuitBreaker::State Client::breaker_state() const {
  return impl_->breaker ? impl_->breaker->state() : CircuitBreaker::State::closed;
}

}  // namespace svckit::http
