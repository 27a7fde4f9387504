#pragma once
// svckit's own settings, typed: what App needs to serve (ports, limits, timeouts, TLS, the
// database and bus URLs, the log level). They are declared settings like a service's own
// (settings.hpp), in the modules `service`, `http`, `tls`, `lifecycle`, `grpc`, `sql`, `bus` and
// `auth`; a bad value throws ConfigError naming the variable, and svckit::run exits 2.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "svckit/log/level.hpp"
#include "svckit/settings.hpp"
#include "svckit/trusted_proxies.hpp"

namespace svckit {

struct Config {
  using Duration = std::chrono::milliseconds;

  std::string service_name;
  std::string host = "0.0.0.0";
  std::uint16_t port = 8000;  // 0 binds a free port and logs it
  std::optional<std::uint16_t> grpc_port;
  // /metrics on a listener of its own (plain HTTP, on `host`); unset: on `port`, beside the API.
  std::optional<std::uint16_t> metrics_port;
  unsigned threads = 0;           // 0 = hardware threads
  unsigned blocking_threads = 4;  // the blocking pool
  std::string data_dir = "data";
  std::string database_url;       // empty = sqlite file per component under data_dir
  std::string database_read_url;  // a PostgreSQL read replica, optional
  unsigned database_pool_size = 8;
  Duration database_timeout{5000};
  std::string bus_url = "inproc://";
  std::string tls_cert_file;  // HTTPS when set, with tls_key_file
  std::string tls_key_file;
  std::string tls_client_ca_file;  // mTLS: client certificates from these CAs are required
  log::Level log_level = log::Level::info;
  Duration shutdown_delay{5000};
  Duration drain_timeout{30000};
  std::size_t max_body = 1 << 20;
  std::size_t max_connections = 10000;
  std::size_t max_connections_per_ip = 1000;  // 0: no limit; trusted proxies are not counted
  std::size_t max_inflight = 4096;
  TrustedProxies trusted_proxies;  // whose X-Forwarded-For names the client
  Duration header_timeout{10000};
  Duration idle_timeout{60000};
  // What App::websocket_options() starts from.
  std::size_t websocket_max_message = 1 << 20;
  std::size_t websocket_send_queue = 1 << 20;
  Duration websocket_idle_timeout{60000};
  Duration websocket_close_timeout{5000};
  std::vector<std::string> websocket_allowed_origins;

  bool access_log_probes = false;  // access-log lines for probes and scrapes too
  bool api_docs = true;            // /openapi.json and /docs
  std::string swagger_ui_dir;      // npm's swagger-ui-dist, for /docs

  // Where these came from, and where every module's own settings are declared and read
  // (App::settings()).
  std::shared_ptr<Settings> settings;

  // Declares svckit's settings in `settings`.
  static void declare(Settings& settings);
  // Reads them (declaring them first when they are not). Throws ConfigError.
  static Config from(std::shared_ptr<Settings> settings, std::string default_service_name);
  // Both, from `args` (argv without the program name) and `env`: for tests and tools.
  static Config load(std::string default_service_name, const std::vector<std::string>& args = {},
                     const Environment& env = process_environment());
};

}  // namespace svckit
