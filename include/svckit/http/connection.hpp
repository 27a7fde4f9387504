#pragma once
// A connection after its HTTP exchange, handed to a response's takeover (Response::upgrade,
// Response::stream): what an upgraded protocol (WebSocket, a gateway's tunnel) or a streamed
// answer (server-sent events) reads and writes. It is used on the connection's own loop, lives
// until the takeover's coroutine returns, and the server closes the connection after.
#include <chrono>
#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "svckit/task.hpp"

namespace svckit::meter {
class Meter;
}
namespace svckit::log {
class Logger;
}

namespace svckit::http {
namespace detail {
struct ConnectionState;  // the server's side of it (src/http/connection_state.hpp)
}

class Connection {
 public:
  explicit Connection(detail::ConnectionState& state) : state_(&state) {}

  // What the client sent after the request and the server has already read: to be read first.
  std::string take_buffered();
  // Reads what has arrived, waiting for at least one byte; 0 when the connection ended.
  Task<std::size_t> read_some(std::span<char> into);
  // Writes all of `bytes`; false when the connection failed.
  Task<bool> write(std::string_view bytes);

  // `action` runs once, on this connection's loop, when the server begins to drain (at once
  // when it already has): a protocol with a goodbye of its own says it (WebSocket: close 1001).
  // Whatever is still open when the drain times out is closed.
  void on_drain(std::function<void()> action);
  bool draining() const;
  // Gives up on the connection at `deadline`: whatever waits on it is cancelled then (a peer
  // that stops reading while a goodbye is being written). time_point::max() clears it.
  void give_up_at(std::chrono::steady_clock::time_point deadline);
  // Cancels whatever waits on the connection now.
  void cancel();

  const std::string& remote_address() const;
  // The server's meter (nullptr when it counts nothing) and logger.
  meter::Meter* meter() const;
  const log::Logger& logger() const;

  detail::ConnectionState& state() { return *state_; }

 private:
  detail::ConnectionState* state_;
};

}  // namespace svckit::http
