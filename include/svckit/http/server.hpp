#pragma once
// The HTTP/1.1 server: Boost.Beast over Asio, one coroutine per connection, keep-alive, limits
// with clear answers (431, 413, 503 shedding, header and idle timeouts, a connection cap) and a
// graceful drain, a per-address connection cap. Beast stays in the .cpp.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "svckit/http/handler.hpp"
#include "svckit/http/request_observer.hpp"
#include "svckit/http/route_group.hpp"
#include "svckit/http/router.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/task.hpp"
#include "svckit/trusted_proxies.hpp"

namespace boost::asio {
class io_context;
}
namespace svckit::meter {
class Meter;
}

namespace svckit::http {

// TLS for the listener. Serving TLS needs a certificate and its key; a client CA additionally
// requires every client to present a certificate that CA signed (mTLS): untrusted, expired or
// missing client certificates fail the handshake.
struct TlsOptions {
  std::string certificate_file;  // PEM, the server's certificate then its chain
  std::string key_file;          // PEM private key
  std::string client_ca_file;    // PEM CA certificates; empty: no client certificates asked for
  bool enabled() const { return !certificate_file.empty(); }
};

struct ServerOptions {
  std::string host = "0.0.0.0";
  std::uint16_t port = 8000;
  std::size_t max_body = 1 << 20;           // larger bodies get 413
  std::size_t max_header_bytes = 8 * 1024;  // larger header blocks get 431
  std::size_t max_connections = 10000;      // further connections get 503 and are closed
  // From one address (0: no limit): further ones get 429 and are closed. Trusted proxies, which
  // carry many clients, are not counted.
  std::size_t max_connections_per_ip = 1000;
  // Peers whose X-Forwarded-For says who the client is (Request::remote_address()).
  TrustedProxies trusted_proxies;
  std::size_t max_inflight = 4096;                  // further requests get 503 with Retry-After
  std::chrono::milliseconds header_timeout{10000};  // to receive a whole request head (and body)
  std::chrono::milliseconds idle_timeout{60000};    // between keep-alive requests
  // Paths never shed: a liveness probe must answer even under overload.
  std::vector<std::string> never_shed = {"/health", "/health/live"};
  // Paths whose requests get no access-log line: probes and scrapes, asked every few seconds by
  // a load balancer, Kubernetes or Prometheus, would drown the lines that matter.
  std::vector<std::string> unlogged_paths = {"/health",         "/health/live", "/health/ready",
                                             "/health/startup", "/ready",       "/metrics"};
  TlsOptions tls;  // plain HTTP unless a certificate is set
  // What taken-over connections (WebSocket) count into; nullptr: nothing. Requests are counted
  // by observers (observe()).
  meter::Meter* meter = nullptr;
};

class Server {
 public:
  // Accepts on loops[0] and hands each connection to the next loop, round-robin. A connection
  // lives on one loop (one thread) for its whole life: no strands, no cross-thread wake-ups.
  Server(std::vector<boost::asio::io_context*> loops, ServerOptions options,
         const log::Logger& logger);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Global middleware, outermost first. Must be added before start().
  void use(Middleware middleware);
  // Told of every request around the whole chain (metrics::HttpMetrics::observer()), in the
  // order added. Must be added before start().
  void observe(std::shared_ptr<RequestObserver> observer);
  RouteGroup group(std::string_view prefix, std::vector<Middleware> middleware = {});
  Router& router();

  // Binds and listens; returns the bound port (the free one chosen when options.port is 0).
  // Throws ConfigError naming the TLS setting whose file cannot be used.
  std::uint16_t listen();
  void start();
  // Closes the listener. Open connections keep being served.
  void stop_accepting();
  // Finishes in-flight requests, closes idle keep-alive connections, and force-closes whatever
  // is left after `timeout`.
  Task<void> drain(std::chrono::milliseconds timeout);

  std::size_t open_connections() const;
  std::size_t inflight_requests() const;
  std::uint16_t port() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::http
