#include "tunnel.hpp"

#include <array>
#include <charconv>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "svckit/error.hpp"
#include "svckit/http/ascii.hpp"
#include "svckit/http/connection.hpp"
#include "svckit/http/header_list.hpp"

namespace svckit::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHead = 16 * 1024;  // an upstream's answer head
constexpr std::size_t kRelayChunk = 4096;    // per direction, while a tunnel carries bytes

struct HostPort {
  std::string host;
  std::string port;
  std::string name() const { return host + ":" + port; }
};

using Kind = http::UpstreamError::Kind;

// "http://host:port[/...]"; plain HTTP only (a TLS upstream's tunnel is not relayed yet).
HostPort host_port(std::string_view url) {
  if (!http::istarts_with(url, "http://"))
    throw ServiceUnavailable("upgrades are relayed to http:// upstreams only", 5);
  url.remove_prefix(7);
  url = url.substr(0, url.find('/'));
  if (!url.empty() && url.front() == '[') {  // [v6]:port
    auto close = url.find(']');
    auto port = close + 1 < url.size() && url[close + 1] == ':' ? url.substr(close + 2) : "80";
    return {std::string(url.substr(1, close - 1)), std::string(port)};
  }
  auto colon = url.rfind(':');
  if (colon == std::string_view::npos) return {std::string(url), "80"};
  return {std::string(url.substr(0, colon)), std::string(url.substr(colon + 1))};
}

std::string request_head(const http::ClientRequest& out, const http::Request& req,
                         const HostPort& to) {
  std::string head = "GET " + out.target + " HTTP/1.1\r\nHost: " + to.host + ":" + to.port +
                     "\r\nConnection: Upgrade\r\n";
  for (const auto& [field, value] : req.headers())
    if (http::iequals(field, "Upgrade")) head.append("Upgrade: ").append(value).append("\r\n");
  auto add = [&head](std::string_view name, std::string_view value) {
    if (http::is_token(name) && http::is_field_safe(value))
      head.append(name).append(": ").append(value).append("\r\n");
  };
  for (const auto& [name, value] : out.headers) add(name, value);
  for (const auto& [name, value] : out.borrowed_headers) add(name, value);
  add("X-Request-ID", req.request_id());
  add("traceparent", req.trace().child_traceparent());
  if (!req.trace().tracestate.empty()) add("tracestate", req.trace().tracestate);
  return head.append("\r\n");
}

// The status of an answer head ("HTTP/1.1 101 Switching Protocols"), 0 when malformed.
int status_of(std::string_view head) {
  if (head.size() < 12 || !head.starts_with("HTTP/1.")) return 0;
  int status = 0;
  auto [end, ec] = std::from_chars(head.data() + 9, head.data() + 12, status);
  return ec == std::errc() && end == head.data() + 12 ? status : 0;
}

// A field of an answer head, empty when absent.
std::string_view field_of(std::string_view head, std::string_view name) {
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;) {
    auto next = head.find("\r\n", at + 2);
    auto line = head.substr(at + 2, next == std::string_view::npos ? next : next - at - 2);
    auto colon = line.find(':');
    if (colon != std::string_view::npos && http::iequals(line.substr(0, colon), name))
      return http::trim_ows(line.substr(colon + 1));
    at = next;
  }
  return {};
}

// Everything the upstream said before switching, or in answering otherwise.
struct Answer {
  std::string head;  // with its final CRLF CRLF
  std::string rest;  // bytes after the head: a body's start, or the new protocol's first bytes
};

Task<Answer> read_answer(tcp::socket& upstream, const HostPort& to) {
  Answer answer;
  std::array<char, 4096> chunk;
  for (;;) {
    auto end = answer.rest.find("\r\n\r\n");
    if (end != std::string::npos) {
      answer.head = answer.rest.substr(0, end + 4);
      answer.rest.erase(0, end + 4);
      co_return answer;
    }
    if (answer.rest.size() > kMaxHead)
      throw http::UpstreamError(Kind::too_large, to.name(), "the answer head is too large");
    auto [ec, n] = co_await upstream.async_read_some(asio::buffer(chunk), kNoThrow);
    if (ec) throw http::UpstreamError(Kind::io, to.name(), "closed before answering the upgrade");
    answer.rest.append(chunk.data(), n);
  }
}

// A refused upgrade: the upstream's answer as a plain response (its body read to its length).
Task<http::Response> plain_answer(tcp::socket& upstream, Answer answer, int status) {
  std::size_t length = 0;
  auto text = field_of(answer.head, "Content-Length");
  std::from_chars(text.data(), text.data() + text.size(), length);
  length = std::min<std::size_t>(length, 1 << 20);
  std::array<char, 4096> chunk;
  while (answer.rest.size() < length) {
    auto [ec, n] = co_await upstream.async_read_some(asio::buffer(chunk), kNoThrow);
    if (ec) break;
    answer.rest.append(chunk.data(), n);
  }
  http::Response res;
  res.status = status;
  res.content_type = std::string(field_of(answer.head, "Content-Type"));
  res.body = answer.rest.substr(0, length);
  for (auto name : {"WWW-Authenticate", "Retry-After", "Sec-WebSocket-Version", "Upgrade"})
    if (auto value = field_of(answer.head, name); !value.empty())
      res.set_header(name, std::string(value));
  co_return res;
}

Task<void> client_to_upstream(http::Connection& client, tcp::socket& upstream) {
  std::array<char, kRelayChunk> chunk;
  for (;;) {
    auto n = co_await client.read_some(chunk);
    if (n == 0) co_return;
    auto [ec, written] = co_await asio::async_write(upstream, asio::buffer(chunk, n), kNoThrow);
    if (ec) co_return;
  }
}

Task<void> upstream_to_client(tcp::socket& upstream, http::Connection& client) {
  std::array<char, kRelayChunk> chunk;
  for (;;) {
    auto [ec, n] = co_await upstream.async_read_some(asio::buffer(chunk), kNoThrow);
    if (ec) co_return;
    if (!co_await client.write(std::string_view(chunk.data(), n))) co_return;
  }
}

// The relay of a switched connection: the upstream's 101, then both directions until either
// ends, which ends the other (as nginx relays an upgraded connection).
Task<void> relay(std::shared_ptr<tcp::socket> upstream, Answer answer, http::Connection& client) {
  if (!co_await client.write(answer.head)) co_return;
  if (!answer.rest.empty() && !co_await client.write(answer.rest)) co_return;
  auto early = client.take_buffered();  // sent before the 101 arrived
  if (!early.empty()) {
    auto [ec, n] = co_await asio::async_write(*upstream, asio::buffer(early), kNoThrow);
    if (ec) co_return;
  }
  co_await (client_to_upstream(client, *upstream) || upstream_to_client(*upstream, client));
  boost::system::error_code ignored;
  upstream->close(ignored);
}

Task<Answer> connect_and_ask(tcp::socket& upstream, const HostPort& to, std::string head) {
  tcp::resolver resolver(upstream.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(to.host, to.port, kNoThrow);
  if (rec) throw http::UpstreamError(Kind::connect, to.name(), "cannot resolve it");
  auto [cec, endpoint] = co_await asio::async_connect(upstream, endpoints, kNoThrow);
  if (cec) throw http::UpstreamError(Kind::connect, to.name(), "cannot connect");
  upstream.set_option(tcp::no_delay(true));
  auto [wec, n] = co_await asio::async_write(upstream, asio::buffer(head), kNoThrow);
  if (wec) throw http::UpstreamError(Kind::io, to.name(), "closed before the upgrade was sent");
  co_return co_await read_answer(upstream, to);
}

Task<void> timeout_after(std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  co_await timer.async_wait(kNoThrow);
}

}  // namespace

bool asks_to_upgrade(const http::Request& req) {
  return http::header_lists(req, "Upgrade", "websocket") &&
         http::header_lists(req, "Connection", "upgrade");
}

Task<http::Response> tunnel(std::string_view target_url, const http::Request& req,
                            http::ClientRequest upgrade, std::chrono::milliseconds timeout) {
  if (req.method() != http::Method::get) throw BadRequest("an upgrade is a GET request");
  auto to = host_port(target_url);
  auto head = request_head(upgrade, req, to);
  auto upstream = std::make_shared<tcp::socket>(co_await asio::this_coro::executor);
  auto outcome =
      co_await (connect_and_ask(*upstream, to, std::move(head)) || timeout_after(timeout));
  if (outcome.index() == 1)
    throw http::UpstreamError(Kind::timeout, to.name(), "no answer to the upgrade in time");
  Answer answer = std::move(std::get<0>(outcome));
  const int status = status_of(answer.head);
  if (status == 0) throw http::UpstreamError(Kind::protocol, to.name(), "the answer is not HTTP");
  if (status != 101) {
    auto plain = plain_answer(*upstream, std::move(answer), status);  // named: GCC 12
    auto outcome = co_await (std::move(plain) || timeout_after(timeout));
    if (outcome.index() == 1)
      throw http::UpstreamError(Kind::timeout, to.name(),
                                "the answer's body did not arrive in time");
    co_return std::get<0>(std::move(outcome));
  }
  // Only WebSocket is relayed: any other protocol would let the client speak past the route.
  if (!http::iequals(field_of(answer.head, "Upgrade"), "websocket"))
    throw http::UpstreamError(Kind::protocol, to.name(),
                              "the upstream switched to another protocol");
  co_return http::Response::upgrade(
      [upstream, answer = std::move(answer)](http::Connection& client, http::Request&) {
        return relay(upstream, answer, client);
      });
}

}  // namespace svckit::gateway
