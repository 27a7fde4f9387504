#pragma once
// Service configuration: environment first (12-factor), command-line flags override. Every
// setting has one name: the environment variable `DRAIN_TIMEOUT` is the flag `--drain-timeout`.
// A bad value throws ConfigError naming the variable; svckit::run prints it and exits 2.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/log/level.hpp"

namespace svckit {

class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string variable, const std::string& message);
  const std::string& variable() const { return variable_; }

 private:
  std::string variable_;
};

// Where settings come from. The default reads the process environment; tests pass a map.
using Environment = std::function<std::optional<std::string>(std::string_view name)>;
Environment process_environment();
Environment map_environment(std::map<std::string, std::string> values);

struct Config {
  using Duration = std::chrono::milliseconds;

  std::string service_name;
  std::string host = "0.0.0.0";
  std::uint16_t port = 8000;  // 0 binds a free port and logs it
  std::optional<std::uint16_t> grpc_port;
  unsigned threads = 0;           // 0 = hardware threads
  unsigned blocking_threads = 4;  // the blocking pool
  std::string data_dir = "data";
  std::string database_url;  // empty = sqlite file per component under data_dir
  std::string bus_url = "inproc://";
  std::string jwt_secret_key;
  std::string jwt_public_key_file;
  std::string jwks_file;
  std::string jwks_url;
  std::string tls_cert_file;  // HTTPS when set, with tls_key_file
  std::string tls_key_file;
  std::string tls_client_ca_file;  // mTLS: client certificates from these CAs are required
  std::string jwt_issuer;
  std::string jwt_audience;
  log::Level log_level = log::Level::info;
  Duration shutdown_delay{5000};
  Duration drain_timeout{30000};
  std::size_t max_body = 1 << 20;
  std::size_t max_connections = 10000;
  std::size_t max_inflight = 4096;
  Duration header_timeout{10000};
  Duration idle_timeout{60000};

  // Settings svckit does not know (a service's own), by environment name, after flags.
  std::map<std::string, std::string> extra;
  // Where get() looks for a service's own settings that no flag gave.
  Environment environment = process_environment();

  // Loads from `env`, then applies `args` (argv without the program name). Throws ConfigError.
  static Config load(std::string default_service_name, const std::vector<std::string>& args,
                     const Environment& env = process_environment());

  // A service's own setting (e.g. SECURITY_ADMIN_EMAIL): flag or environment, else `fallback`.
  std::string get(std::string_view name, std::string fallback = {}) const;
  // The same as a whole number in [min, max]; `fallback` when unset. Throws ConfigError naming
  // the setting otherwise.
  std::int64_t get_int(std::string_view name, std::int64_t fallback, std::int64_t min,
                       std::int64_t max) const;

  // One line per known setting, for --help.
  static std::string usage();
};

// "250ms", "5s", "2m", or a bare number of seconds ("1.5"). Throws std::invalid_argument.
std::chrono::milliseconds parse_duration(std::string_view text);
// "1048576", "512k", "1M", "1MiB". Throws std::invalid_argument.
std::size_t parse_size(std::string_view text);

}  // namespace svckit
