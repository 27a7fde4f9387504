#include "svckit/config.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <thread>

namespace svckit {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

template <class Int>
Int parse_int(std::string_view text, Int min, Int max, const char* what) {
  long long v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < static_cast<long long>(min) ||
      v > static_cast<long long>(max))
    throw std::invalid_argument(std::string("expected ") + what + " from " + std::to_string(min) +
                                " to " + std::to_string(max));
  return static_cast<Int>(v);
}

double parse_number(std::string_view text) {
  double v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(v) || v < 0)
    throw std::invalid_argument("not a non-negative number");
  return v;
}

// One known setting: its environment name, what --help says, and how it lands in Config.
struct Setting {
  const char* name;
  const char* help;
  void (*apply)(Config&, const std::string&);
};

void require_url_scheme(const std::string& v, std::initializer_list<std::string_view> schemes) {
  for (auto s : schemes)
    if (v.rfind(s, 0) == 0) return;
  std::string list;
  for (auto s : schemes) list += (list.empty() ? "" : ", ") + std::string(s);
  throw std::invalid_argument("expected a URL starting with " + list);
}

const Setting kSettings[] = {
    {"SERVICE_NAME", "name in logs, probes and events",
     [](Config& c, const std::string& v) {
       if (v.empty() || v.size() > 64) throw std::invalid_argument("expected 1 to 64 characters");
       c.service_name = v;
     }},
    {"HOST", "address to listen on (default 0.0.0.0)",
     [](Config& c, const std::string& v) {
       if (v.empty()) throw std::invalid_argument("expected an address");
       c.host = v;
     }},
    {"PORT", "HTTP port, 0 for a free one (default 8000)",
     [](Config& c, const std::string& v) {
       c.port = parse_int<std::uint16_t>(v, 0, 65535, "a port");
     }},
    {"GRPC_PORT", "gRPC port",
     [](Config& c, const std::string& v) {
       c.grpc_port = parse_int<std::uint16_t>(v, 0, 65535, "a port");
     }},
    {"THREADS", "I/O threads (default: hardware threads)",
     [](Config& c, const std::string& v) {
       c.threads = parse_int<unsigned>(v, 1, 256, "a count");
     }},
    {"BLOCKING_THREADS", "threads for blocking work such as SQLite (default 4)",
     [](Config& c, const std::string& v) {
       c.blocking_threads = parse_int<unsigned>(v, 1, 256, "a count");
     }},
    {"DATA_DIR", "folder for embedded SQLite files (default ./data)",
     [](Config& c, const std::string& v) {
       if (v.empty()) throw std::invalid_argument("expected a folder");
       c.data_dir = v;
     }},
    {"DATABASE_URL", "sqlite:///path, sqlite::memory:",
     [](Config& c, const std::string& v) {
       require_url_scheme(v, {"sqlite:", "postgresql://", "postgres://"});
       c.database_url = v;
     }},
    {"BUS_URL", "inproc:// or amqp://user:pass@host:5672/vhost",
     [](Config& c, const std::string& v) {
       require_url_scheme(v, {"inproc://", "amqp://", "amqps://"});
       c.bus_url = v;
     }},
    {"RABBITMQ_URL", "accepted as BUS_URL (the seeds' name)",
     [](Config& c, const std::string& v) {
       require_url_scheme(v, {"amqp://", "amqps://"});
       c.bus_url = v;
     }},
    {"JWT_SECRET_KEY", "HS256 secret",
     [](Config& c, const std::string& v) { c.jwt_secret_key = v; }},
    {"JWT_PUBLIC_KEY_FILE", "PEM public key file",
     [](Config& c, const std::string& v) { c.jwt_public_key_file = v; }},
    {"JWKS_FILE", "JWK set file", [](Config& c, const std::string& v) { c.jwks_file = v; }},
    {"JWKS_URL", "JWK set URL",
     [](Config& c, const std::string& v) {
       require_url_scheme(v, {"http://", "https://"});
       c.jwks_url = v;
     }},
    {"TLS_CERT_FILE", "serve HTTPS with this PEM certificate chain",
     [](Config& c, const std::string& v) { c.tls_cert_file = v; }},
    {"TLS_KEY_FILE", "the PEM private key of TLS_CERT_FILE",
     [](Config& c, const std::string& v) { c.tls_key_file = v; }},
    {"TLS_CLIENT_CA_FILE", "require client certificates signed by these PEM CAs (mTLS)",
     [](Config& c, const std::string& v) { c.tls_client_ca_file = v; }},
    {"JWT_ISSUER", "expected iss", [](Config& c, const std::string& v) { c.jwt_issuer = v; }},
    {"JWT_AUDIENCE", "expected aud", [](Config& c, const std::string& v) { c.jwt_audience = v; }},
    {"LOG_LEVEL", "debug, info, warning or error (default info)",
     [](Config& c, const std::string& v) {
       auto level = log::parse_level(v);
       if (!level) throw std::invalid_argument("expected debug, info, warning or error");
       c.log_level = *level;
     }},
    {"SHUTDOWN_DELAY", "time between not-ready and closing the listener (default 5s)",
     [](Config& c, const std::string& v) { c.shutdown_delay = parse_duration(v); }},
    {"DRAIN_TIMEOUT", "time in-flight requests get to finish (default 30s)",
     [](Config& c, const std::string& v) { c.drain_timeout = parse_duration(v); }},
    {"MAX_BODY", "largest request body (default 1MiB)",
     [](Config& c, const std::string& v) {
       c.max_body = parse_size(v);
       if (c.max_body == 0) throw std::invalid_argument("expected a size above 0");
     }},
    {"MAX_CONNECTIONS", "open connections before new ones get 503 (default 10000)",
     [](Config& c, const std::string& v) {
       c.max_connections = parse_int<std::size_t>(v, 1, 1000000, "a count");
     }},
    {"MAX_INFLIGHT", "requests in progress before new ones get 503 (default 4096)",
     [](Config& c, const std::string& v) {
       c.max_inflight = parse_int<std::size_t>(v, 1, 1000000, "a count");
     }},
    {"HEADER_TIMEOUT", "time to receive a request (default 10s)",
     [](Config& c, const std::string& v) {
       c.header_timeout = parse_duration(v);
       if (c.header_timeout.count() == 0) throw std::invalid_argument("expected a time above 0");
     }},
    {"IDLE_TIMEOUT", "keep-alive idle time (default 60s)",
     [](Config& c, const std::string& v) {
       c.idle_timeout = parse_duration(v);
       if (c.idle_timeout.count() == 0) throw std::invalid_argument("expected a time above 0");
     }},
};

const Setting* find_setting(std::string_view name) {
  for (const auto& s : kSettings)
    if (name == s.name) return &s;
  return nullptr;
}

// "--drain-timeout" -> "DRAIN_TIMEOUT"
std::string flag_to_env(std::string_view flag) {
  std::string out;
  for (char ch : flag) out += ch == '-' ? '_' : static_cast<char>(std::toupper((unsigned char)ch));
  return out;
}

bool valid_env_name(std::string_view name) {
  if (name.empty()) return false;
  for (char ch : name)
    if (!(std::isupper((unsigned char)ch) || std::isdigit((unsigned char)ch) || ch == '_'))
      return false;
  return true;
}

}  // namespace

ConfigError::ConfigError(std::string variable, const std::string& message)
    : std::runtime_error("config: " + variable + ": " + message), variable_(std::move(variable)) {}

Environment process_environment() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (!v) return std::nullopt;
    return std::string(v);
  };
}

Environment map_environment(std::map<std::string, std::string> values) {
  return [values = std::move(values)](std::string_view name) -> std::optional<std::string> {
    auto it = values.find(std::string(name));
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

std::chrono::milliseconds parse_duration(std::string_view text) {
  std::string t = trim(text);
  std::string_view s = t;
  double scale = 1000;  // a bare number is seconds
  auto ends_with = [&](std::string_view suffix) {
    return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
  };
  if (ends_with("ms")) {
    scale = 1, s.remove_suffix(2);
  } else if (ends_with("s")) {
    s.remove_suffix(1);
  } else if (ends_with("m")) {
    scale = 60000, s.remove_suffix(1);
  } else if (ends_with("h")) {
    scale = 3600000, s.remove_suffix(1);
  }
  double v = 0;
  try {
    v = parse_number(s);
  } catch (const std::invalid_argument&) {
    throw std::invalid_argument("expected a duration such as 250ms, 5s or 2m");
  }
  double ms = v * scale;
  if (ms > 86400000.0) throw std::invalid_argument("expected a duration of at most 24h");
  return std::chrono::milliseconds(static_cast<long long>(std::llround(ms)));
}

std::size_t parse_size(std::string_view text) {
  std::string t = trim(text);
  std::string_view s = t;
  std::size_t scale = 1;
  auto strip = [&](std::string_view suffix, std::size_t factor) {
    if (s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix) {
      s.remove_suffix(suffix.size());
      scale = factor;
      return true;
    }
    return false;
  };
  strip("KiB", 1024) || strip("MiB", 1 << 20) || strip("GiB", 1u << 30) || strip("k", 1024) ||
      strip("K", 1024) || strip("M", 1 << 20) || strip("G", 1u << 30);
  std::size_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty())
    throw std::invalid_argument("expected a size such as 1048576, 512k or 1MiB");
  if (v > (std::size_t(1) << 40) / scale) throw std::invalid_argument("size is too large");
  return v * scale;
}

Config Config::load(std::string default_service_name, const std::vector<std::string>& args,
                    const Environment& env) {
  Config c;
  c.environment = env;
  c.service_name = std::move(default_service_name);
  c.threads = std::max(1u, std::thread::hardware_concurrency());

  auto apply = [&](const std::string& name, const std::string& value) {
    if (const Setting* s = find_setting(name)) {
      try {
        s->apply(c, trim(value));
      } catch (const std::invalid_argument& e) {
        throw ConfigError(name, std::string(e.what()) + ", got '" + value + "'");
      }
    } else {
      c.extra[name] = value;
    }
  };

  for (const auto& s : kSettings)
    if (auto v = env(s.name)) apply(s.name, *v);

  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.rfind("--", 0) != 0 || arg.size() < 3)
      throw ConfigError(std::string(arg), "unexpected argument (flags look like --port=8080)");
    arg.remove_prefix(2);
    std::string value;
    auto eq = arg.find('=');
    std::string name = flag_to_env(arg.substr(0, eq));
    if (!valid_env_name(name)) throw ConfigError(std::string(args[i]), "not a valid flag name");
    if (eq != std::string_view::npos) {
      value = std::string(arg.substr(eq + 1));
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      throw ConfigError(name, "flag --" + std::string(arg) + " needs a value");
    }
    apply(name, value);
  }
  // TLS settings only make sense together.
  if (c.tls_cert_file.empty() && !c.tls_key_file.empty())
    throw ConfigError("TLS_CERT_FILE", "TLS_KEY_FILE is set: the certificate is needed too");
  if (!c.tls_cert_file.empty() && c.tls_key_file.empty())
    throw ConfigError("TLS_KEY_FILE", "TLS_CERT_FILE is set: its private key is needed too");
  if (c.tls_cert_file.empty() && !c.tls_client_ca_file.empty())
    throw ConfigError("TLS_CLIENT_CA_FILE",
                      "client certificates need TLS: set TLS_CERT_FILE and TLS_KEY_FILE");
  return c;
}

std::string Config::get(std::string_view name, std::string fallback) const {
  if (auto it = extra.find(std::string(name)); it != extra.end()) return it->second;
  if (environment)
    if (auto v = environment(name)) return *v;
  return fallback;
}

std::int64_t Config::get_int(std::string_view name, std::int64_t fallback, std::int64_t min,
                             std::int64_t max) const {
  auto text = get(name);
  if (text.empty()) return fallback;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < min || v > max)
    throw ConfigError(std::string(name), "expected a whole number from " + std::to_string(min) +
                                             " to " + std::to_string(max) + ", got '" + text + "'");
  return v;
}

std::string Config::usage() {
  std::string out = "Settings (environment variable, or the flag --lower-case-name=value):\n";
  for (const auto& s : kSettings) {
    std::string name = s.name;
    out += "  " + name + std::string(name.size() < 22 ? 22 - name.size() : 1, ' ') + s.help + "\n";
  }
  return out;
}

}  // namespace svckit
