#include "svckit/http/connection.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "connection_state.hpp"

namespace svckit::http {

namespace asio = boost::asio;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

std::string Connection::take_buffered() {
  auto data = state_->buffer.data();
  std::string bytes(static_cast<const char*>(data.data()), data.size());
  state_->buffer.consume(data.size());
  state_->buffer.shrink_to_fit();  // a long-lived connection keeps no request buffer
  return bytes;
}

Task<std::size_t> Connection::read_some(std::span<char> into) {
  if (into.empty()) co_return 0;
  auto buffer = asio::buffer(into.data(), into.size());
  boost::system::error_code ec;
  std::size_t n = 0;
  if (state_->tls)  // not a ?: around co_await (GCC 12)
    std::tie(ec, n) = co_await state_->tls->async_read_some(buffer, kNoThrow);
  else
    std::tie(ec, n) = co_await state_->socket.async_read_some(buffer, kNoThrow);
  co_return ec ? 0 : n;
}

Task<bool> Connection::write(std::string_view bytes) {
  auto buffer = asio::buffer(bytes.data(), bytes.size());
  boost::system::error_code ec;
  if (state_->tls)
    std::tie(ec, std::ignore) = co_await asio::async_write(*state_->tls, buffer, kNoThrow);
  else
    std::tie(ec, std::ignore) = co_await asio::async_write(state_->socket, buffer, kNoThrow);
  co_return !ec;
}

void Connection::on_drain(std::function<void()> action) {
  if (draining()) {  // the drain began before the takeover asked: its goodbye now
    action();
    return;
  }
  state_->on_drain = std::move(action);
}

bool Connection::draining() const {
  return state_->draining.load(std::memory_order_relaxed);
}

void Connection::give_up_at(std::chrono::steady_clock::time_point deadline) {
  state_->deadline = deadline;
}

void Connection::cancel() {
  boost::system::error_code ignored;
  state_->socket.cancel(ignored);
}

const std::string& Connection::remote_address() const {
  return state_->remote;
}

meter::Meter* Connection::meter() const {
  return state_->meter;
}

const log::Logger& Connection::logger() const {
  return state_->logger;
}

}  // namespace svckit::http
