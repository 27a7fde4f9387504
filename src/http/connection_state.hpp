#pragma once
// The server's side of a taken-over connection (svckit/http/connection.hpp): the session's
// socket, buffer and deadline, as Connection and the protocols built on it (websocket.cpp)
// reach them.
#include <atomic>
#include <chrono>
#include <functional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "svckit/log/logger.hpp"

namespace svckit::meter {
class Meter;
}

namespace svckit::http::detail {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;

struct ConnectionState {
  boost::asio::ip::tcp::socket& socket;
  TlsStream* tls;                     // set when the connection is TLS
  boost::beast::flat_buffer& buffer;  // read past the request, not yet consumed
  // The session's deadline, which the loop's sweeper enforces by cancelling the socket.
  std::chrono::steady_clock::time_point& deadline;
  std::function<void()>& on_drain;
  const std::atomic<bool>& draining;
  const std::string& remote;
  meter::Meter* meter;
  const log::Logger& logger;
};

}  // namespace svckit::http::detail
