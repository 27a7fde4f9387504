// The comparison of benchmarks/websocket_broadcast.py: a bare Boost.Beast WebSocket broadcast
// server written the way Beast's own multi-threaded chat example is (one io_context run by
// THREADS threads, a strand per connection, a shared set under a mutex, a queue of shared
// messages per connection), with no framework around it. Every message a client sends goes to
// every connected client.
//   bench_ws_bare PORT THREADS
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

class Session;

struct Shared {
  std::mutex mutex;
  std::unordered_set<Session*> sessions;
  void broadcast(const std::string& text);
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Shared& shared) : ws_(std::move(socket)), shared_(shared) {}

  void run() {
    asio::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->on_run(); });
  }
  void send(const std::shared_ptr<const std::string>& text) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), text] { self->on_send(text); });
  }

 private:
  void on_run() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      {
        std::lock_guard lock(self->shared_.mutex);
        self->shared_.sessions.insert(self.get());
      }
      self->joined_ = true;
      self->read();
    });
  }
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->leave();
      self->shared_.broadcast(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }
  void on_send(const std::shared_ptr<const std::string>& text) {
    queue_.push_back(text);
    if (queue_.size() > 1) return;  // a write is in progress
    write();
  }
  void write() {
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) return;
                      self->queue_.erase(self->queue_.begin());
                      if (!self->queue_.empty()) self->write();
                    });
  }
  void leave() {
    if (!joined_) return;
    joined_ = false;
    std::lock_guard lock(shared_.mutex);
    shared_.sessions.erase(this);
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::vector<std::shared_ptr<const std::string>> queue_;
  Shared& shared_;
  bool joined_ = false;
};

void Shared::broadcast(const std::string& text) {
  auto message = std::make_shared<const std::string>(text);
  std::vector<std::weak_ptr<Session>> targets;
  {
    std::lock_guard lock(mutex);
    targets.reserve(sessions.size());
    for (auto* s : sessions) targets.push_back(s->weak_from_this());
  }
  for (auto& weak : targets)
    if (auto s = weak.lock()) s->send(message);
}

void accept(tcp::acceptor& acceptor, asio::io_context& io, Shared& shared) {
  acceptor.async_accept(asio::make_strand(io), [&](beast::error_code ec, tcp::socket socket) {
    if (!ec) std::make_shared<Session>(std::move(socket), shared)->run();
    accept(acceptor, io, shared);
  });
}

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: bench_ws_bare PORT THREADS\n");
    return 2;
  }
  const int threads = std::max(1, std::atoi(argv[2]));
  asio::io_context io(threads);
  tcp::acceptor acceptor(
      io, {asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::atoi(argv[1]))});
  std::printf("listening %u\n", acceptor.local_endpoint().port());
  std::fflush(stdout);
  Shared shared;
  accept(acceptor, io, shared);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) { io.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
}
