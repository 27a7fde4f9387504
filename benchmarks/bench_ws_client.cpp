// The load of benchmarks/websocket_broadcast.py: CONNECTIONS WebSocket clients on one thread
// (raw sockets and a minimal frame reader, so that the client is as light as it can be), then one
// of them sends MESSAGES text messages of SIZE bytes, which the server broadcasts to every
// client. Prints when all are connected ("connected"), waits for a line on stdin, then sends and
// waits until every client has every message; prints deliveries per second and its own CPU time.
//   bench_ws_client PORT CONNECTIONS MESSAGES SIZE
#include <sys/resource.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Load {
  asio::io_context io;
  tcp::endpoint server;
  std::size_t connections = 0, connected = 0, failed = 0;
  std::size_t expected = 0, received = 0;
  Clock::time_point done_at;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  explicit Client(Load& load) : load_(load), socket_(load.io) {}

  void start(std::function<void()> on_connected) {
    on_connected_ = std::move(on_connected);
    socket_.async_connect(load_.server, [self = shared_from_this()](auto ec) {
      if (ec) return self->fail();
      self->socket_.set_option(tcp::no_delay(true));
      self->request_ =
          "GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
      asio::async_write(self->socket_, asio::buffer(self->request_), [self](auto ec, std::size_t) {
        if (ec) return self->fail();
        asio::async_read_until(
            self->socket_, self->head_, "\r\n\r\n", [self](auto ec, std::size_t n) {
              if (ec) return self->fail();
              std::string head(static_cast<const char*>(self->head_.data().data()), n);
              if (head.rfind("HTTP/1.1 101", 0) != 0) return self->fail();
              self->head_.consume(n);
              // What came after the head is frames already.
              auto rest = self->head_.data();
              self->pending_.assign(static_cast<const char*>(rest.data()), rest.size());
              self->head_.consume(rest.size());
              self->request_.clear();
              self->request_.shrink_to_fit();
              ++self->load_.connected;
              self->parse();
              self->read();
              self->on_connected_();
            });
      });
    });
  }

  // Text frames from a client: masked.
  void send(std::size_t messages, std::size_t size) {
    std::mt19937 random(7);
    for (std::size_t i = 0; i < messages; ++i) {
      std::array<unsigned char, 4> mask{};
      for (auto& b : mask) b = static_cast<unsigned char>(random());
      out_.push_back(static_cast<char>(0x81));
      if (size < 126) {
        out_.push_back(static_cast<char>(0x80 | size));
      } else {
        out_.push_back(static_cast<char>(0x80 | 126));
        out_.push_back(static_cast<char>(size >> 8));
        out_.push_back(static_cast<char>(size & 0xff));
      }
      out_.append(reinterpret_cast<const char*>(mask.data()), 4);
      for (std::size_t j = 0; j < size; ++j) out_.push_back(static_cast<char>('a' ^ mask[j % 4]));
    }
    asio::async_write(socket_, asio::buffer(out_),
                      [self = shared_from_this()](auto, std::size_t) {});
  }

 private:
  void fail() {
    ++load_.failed;
    on_connected_();
  }

  void read() {
    socket_.async_read_some(asio::buffer(chunk_),
                            [self = shared_from_this()](auto ec, std::size_t n) {
                              if (ec) return;
                              self->pending_.append(self->chunk_.data(), n);
                              self->parse();
                              self->read();
                            });
  }

  // Counts whole frames from the server (unmasked); keeps a partial one.
  void parse() {
    std::size_t at = 0;
    for (;;) {
      if (pending_.size() - at < 2) break;
      auto b1 = static_cast<unsigned char>(pending_[at + 1]) & 0x7f;
      std::size_t header = 2, length = b1;
      if (b1 == 126) {
        if (pending_.size() - at < 4) break;
        length = (static_cast<unsigned char>(pending_[at + 2]) << 8) |
                 static_cast<unsigned char>(pending_[at + 3]);
        header = 4;
      } else if (b1 == 127) {
        if (pending_.size() - at < 10) break;
        length = 0;
        for (int i = 0; i < 8; ++i)
          length = (length << 8) | static_cast<unsigned char>(pending_[at + 2 + i]);
        header = 10;
      }
      if (pending_.size() - at < header + length) break;
      if ((pending_[at] & 0x0f) == 0x1 && ++load_.received == load_.expected)
        load_.done_at = Clock::now();
      at += header + length;
    }
    pending_.erase(0, at);
    if (pending_.capacity() > 4096 && pending_.empty()) pending_.shrink_to_fit();
  }

  Load& load_;
  tcp::socket socket_;
  std::string request_;
  asio::streambuf head_;
  std::string pending_;
  std::string out_;
  std::array<char, 2048> chunk_;
  std::function<void()> on_connected_;
};

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
         (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: bench_ws_client PORT CONNECTIONS MESSAGES SIZE\n");
    return 2;
  }
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = limit.rlim_max;
  setrlimit(RLIMIT_NOFILE, &limit);

  Load load;
  load.server = {asio::ip::make_address("127.0.0.1"),
                 static_cast<unsigned short>(std::atoi(argv[1]))};
  load.connections = std::strtoul(argv[2], nullptr, 10);
  const std::size_t messages = std::strtoul(argv[3], nullptr, 10);
  const std::size_t size = std::strtoul(argv[4], nullptr, 10);
  load.expected = messages * load.connections;

  // Connect in waves of 256 outstanding handshakes (a burst of 10,000 SYNs overflows the
  // listen queue).
  std::vector<std::shared_ptr<Client>> clients;
  std::size_t started = 0;
  std::function<void()> next = [&] {
    if (started < load.connections) {
      auto c = std::make_shared<Client>(load);
      clients.push_back(c);
      ++started;
      c->start(next);
    }
    if (load.connected + load.failed == load.connections) load.io.stop();
  };
  for (int i = 0; i < 256; ++i) next();
  load.io.run();
  load.io.restart();
  std::printf("connected %zu failed %zu\n", load.connected, load.failed);
  std::fflush(stdout);
  if (load.failed) return 1;

  std::string go;
  std::getline(std::cin, go);
  const double cpu_before = cpu_seconds();
  const auto started_at = Clock::now();
  clients.front()->send(messages, size);
  asio::steady_timer limit_timer(load.io, std::chrono::seconds(120));
  limit_timer.async_wait([&](auto) { load.io.stop(); });
  // Stop as soon as the last delivery is counted.
  std::function<void()> check;
  asio::steady_timer poll(load.io);
  check = [&] {
    if (load.received >= load.expected) return load.io.stop();
    poll.expires_after(std::chrono::milliseconds(1));
    poll.async_wait([&](auto) { check(); });
  };
  check();
  load.io.run();
  if (load.received < load.expected) {
    std::printf("incomplete %zu of %zu\n", load.received, load.expected);
    return 1;
  }
  const double seconds = std::chrono::duration<double>(load.done_at - started_at).count();
  std::printf("deliveries %zu seconds %.4f per_second %.0f client_cpu %.4f\n", load.received,
              seconds, load.received / seconds, cpu_seconds() - cpu_before);
  return 0;
}
