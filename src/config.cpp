#include "svckit/config.hpp"

#include <algorithm>
#include <thread>

namespace svckit {
namespace {

using T = SettingType;

}  // namespace

void Config::declare(Settings& s) {
  const std::string cores =
      std::to_string(std::clamp(std::thread::hardware_concurrency(), 1u, 256u));
  s.declare("service", {.name = "SERVICE_NAME",
                        .help = "name in logs, probes and events (default: the program's)"});
  s.declare("service", {.name = "THREADS",
                        .type = T::integer,
                        .default_value = cores,
                        .min = 1,
                        .max = 256,
                        .help = "I/O threads, one event loop each (default: hardware threads)"});
  s.declare("service", {.name = "BLOCKING_THREADS",
                        .type = T::integer,
                        .default_value = "4",
                        .min = 1,
                        .max = 256,
                        .help = "threads for blocking work such as SQLite"});
  s.declare("service", {.name = "DATA_DIR",
                        .type = T::file,
                        .default_value = "data",
                        .help = "folder for embedded SQLite files"});
  s.declare("service", {.name = "LOG_LEVEL",
                        .type = T::enumeration,
                        .default_value = "info",
                        .choices = {"debug", "info", "warning", "warn", "error"},
                        .help = "the least severe log line written"});
  s.declare("service",
            {.name = "ACCESS_LOG_PROBES",
             .type = T::boolean,
             .default_value = "false",
             .help = "access-log probes (/health, /ready, ...) and /metrics scrapes too"});

  s.declare("http", {.name = "HOST", .default_value = "0.0.0.0", .help = "address to listen on"});
  s.declare("http", {.name = "API_DOCS",
                     .type = T::boolean,
                     .default_value = "true",
                     .help = "serve /openapi.json and Swagger UI on /docs"});
  s.declare("http", {.name = "SWAGGER_UI_DIR",
                     .type = T::file,
                     .default_value = SVCKIT_SWAGGER_UI_DIR,
                     .help = "npm's swagger-ui-dist, which /docs serves"});
  s.declare("http", {.name = "PORT",
                     .type = T::integer,
                     .default_value = "8000",
                     .min = 0,
                     .max = 65535,
                     .help = "HTTP port, 0 for a free one (logged)"});
  s.declare("http", {.name = "MAX_BODY",
                     .type = T::size,
                     .default_value = "1MiB",
                     .min = 1,
                     .help = "largest request body (larger: 413)"});
  s.declare("http", {.name = "MAX_CONNECTIONS",
                     .type = T::integer,
                     .default_value = "10000",
                     .min = 1,
                     .max = 1'000'000,
                     .help = "open connections before new ones get 503"});
  s.declare("http", {.name = "MAX_CONNECTIONS_PER_IP",
                     .type = T::integer,
                     .default_value = "1000",
                     .min = 0,
                     .max = 1'000'000,
                     .help = "open connections from one client address before new ones get 429 "
                             "(0: no limit; trusted proxies are not limited)"});
  s.declare("http", {.name = "TRUSTED_PROXIES",
                     .help = "addresses and CIDR networks whose X-Forwarded-For is believed "
                             "(comma-separated; default none: the peer is the client)"});
  s.declare("http", {.name = "MAX_INFLIGHT",
                     .type = T::integer,
                     .default_value = "4096",
                     .min = 1,
                     .max = 1'000'000,
                     .help = "requests in progress before new ones get 503"});
  s.declare("http", {.name = "HEADER_TIMEOUT",
                     .type = T::duration,
                     .default_value = "10s",
                     .min = 1,
                     .help = "time to receive a whole request"});
  s.declare("http", {.name = "IDLE_TIMEOUT",
                     .type = T::duration,
                     .default_value = "60s",
                     .min = 1,
                     .help = "keep-alive idle time"});
  s.declare("websocket", {.name = "WEBSOCKET_MAX_MESSAGE",
                          .type = T::size,
                          .default_value = "1MiB",
                          .min = 1,
                          .help = "largest incoming WebSocket message (larger: close 1009)"});
  s.declare("websocket", {.name = "WEBSOCKET_SEND_QUEUE",
                          .type = T::size,
                          .default_value = "1MiB",
                          .min = 1,
                          .help = "bytes queued for one WebSocket peer before it is closed as a "
                                  "slow consumer (1013)"});
  s.declare("websocket", {.name = "WEBSOCKET_IDLE_TIMEOUT",
                          .type = T::duration,
                          .default_value = "60s",
                          .min = 100,
                          .help = "a silent WebSocket peer is pinged at half of it, closed after"});
  s.declare("websocket", {.name = "WEBSOCKET_ALLOWED_ORIGINS",
                          .help = "origins whose pages may open WebSockets (comma-separated; "
                                  "empty: any)"});
  s.declare("websocket", {.name = "WEBSOCKET_CLOSE_TIMEOUT",
                          .type = T::duration,
                          .default_value = "5s",
                          .min = 10,
                          .help = "time for a WebSocket closing handshake before the connection "
                                  "is cut"});

  s.declare("tls", {.name = "TLS_CERT_FILE",
                    .type = T::file,
                    .help = "serve HTTPS with this PEM certificate chain"});
  s.declare(
      "tls",
      {.name = "TLS_KEY_FILE", .type = T::file, .help = "the PEM private key of TLS_CERT_FILE"});
  s.declare("tls", {.name = "TLS_CLIENT_CA_FILE",
                    .type = T::file,
                    .help = "require client certificates signed by these PEM CAs (mTLS)"});

  s.declare("lifecycle", {.name = "SHUTDOWN_DELAY",
                          .type = T::duration,
                          .default_value = "5s",
                          .help = "time between not-ready and closing the listener"});
  s.declare("lifecycle", {.name = "DRAIN_TIMEOUT",
                          .type = T::duration,
                          .default_value = "30s",
                          .help = "time in-flight requests get to finish"});

  s.declare("server", {.name = "METRICS_PORT",
                       .type = T::integer,
                       .min = 0,
                       .max = 65535,
                       .help = "serve /metrics on this port of its own (plain HTTP), not on "
                               "PORT; 0 for a free one"});
  s.declare("grpc", {.name = "GRPC_PORT",
                     .type = T::integer,
                     .min = 0,
                     .max = 65535,
                     .help = "gRPC port, 0 for a free one (services that serve gRPC)"});

  s.declare("sql", {.name = "DATABASE_URL",
                    .type = T::url,
                    .choices = {"sqlite:", "postgresql://", "postgres://"},
                    .help = "sqlite:///path, sqlite::memory: or postgresql://user:password@host:"
                            "port/name (default: a SQLite file per component in DATA_DIR)"});
  s.declare("sql", {.name = "DATABASE_READ_URL",
                    .type = T::url,
                    .choices = {"postgresql://", "postgres://"},
                    .help = "a PostgreSQL read replica for read-only queries (optional)"});
  s.declare("sql",
            {.name = "DATABASE_POOL_SIZE",
             .type = T::integer,
             .default_value = "8",
             .min = 1,
             .max = 1000,
             .help = "PostgreSQL connections per process, shared out among the I/O threads"});
  s.declare("sql", {.name = "DATABASE_TIMEOUT",
                    .type = T::duration,
                    .default_value = "5s",
                    .help = "the longest a database call waits (for a connection and its answer) "
                            "when the request gives no earlier deadline"});

  s.declare("kv", {.name = "REDIS_URL",
                   .type = T::url,
                   .choices = {"redis://", "rediss://", "memory://"},
                   .help = "redis://[:password@]host:port[/db] for state every replica shares "
                           "(rate limits, caches, token state); default: this process's memory"});
  s.declare("kv", {.name = "KV_TIMEOUT",
                   .type = T::duration,
                   .default_value = "500ms",
                   .help = "the longest a key-value call waits when the request gives no earlier "
                           "deadline"});

  s.declare("messaging", {.name = "OUTBOX_POLL",
                          .type = T::duration,
                          .default_value = "200ms",
                          .help = "how often an outbox relay looks for events nobody woke it for"});
  s.declare("messaging", {.name = "OUTBOX_STALE_AFTER",
                          .type = T::duration,
                          .default_value = "60s",
                          .help = "readiness is DOWN while an outbox event has waited longer"});
  // Trace export: OpenTelemetry's own variable names, so a deployment's OTEL_* settings work
  // unchanged (docs/tracing.md). Times in milliseconds, as the specification has them.
  s.declare("tracing", {.name = "OTEL_EXPORTER_OTLP_ENDPOINT",
                        .type = T::url,
                        .choices = {"http://", "https://"},
                        .help = "an OTLP/HTTP collector (spans go to <this>/v1/traces); unset: no "
                                "spans are exported"});
  s.declare("tracing", {.name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                        .type = T::url,
                        .choices = {"http://", "https://"},
                        .help = "the traces URL itself, used as it is (wins over the above)"});
  // The protocol and the sampler are checked when spans are exported, not at every start: other
  // SDKs' values (grpc, xray) may be set for a whole namespace, and a service that exports
  // nothing must not stop for them.
  s.declare("tracing", {.name = "OTEL_EXPORTER_OTLP_PROTOCOL",
                        .default_value = "http/protobuf",
                        .help = "how spans are encoded: http/protobuf or http/json"});
  s.declare("tracing", {.name = "OTEL_EXPORTER_OTLP_HEADERS",
                        .type = T::secret,
                        .help = "key=value,... sent with every export (a collector's API key)"});
  s.declare("tracing", {.name = "OTEL_EXPORTER_OTLP_TIMEOUT",
                        .type = T::integer,
                        .default_value = "10000",
                        .min = 1,
                        .max = 600000,
                        .help = "milliseconds one export may take"});
  s.declare("tracing", {.name = "OTEL_SERVICE_NAME",
                        .help = "service.name of the spans (default: SERVICE_NAME)"});
  s.declare("tracing",
            {.name = "OTEL_RESOURCE_ATTRIBUTES",
             .help = "key=value,... describing this process (deployment.environment=..)"});
  s.declare("tracing",
            {.name = "OTEL_TRACES_SAMPLER",
             .default_value = "parentbased_always_on",
             .help = "which traces are sampled: always_on, always_off, traceidratio, "
                     "parentbased_always_on, parentbased_always_off, parentbased_traceidratio"});
  s.declare("tracing", {.name = "OTEL_TRACES_SAMPLER_ARG",
                        .help = "the traceidratio samplers' ratio, 0 to 1 (default 1)"});
  s.declare("tracing", {.name = "OTEL_BSP_MAX_QUEUE_SIZE",
                        .type = T::integer,
                        .default_value = "2048",
                        .min = 1,
                        .max = 1000000,
                        .help = "spans waiting for export, at most; past it they are dropped"});
  s.declare("tracing", {.name = "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                        .type = T::integer,
                        .default_value = "512",
                        .min = 1,
                        .max = 100000,
                        .help = "spans per export, at most"});
  s.declare("tracing", {.name = "OTEL_BSP_SCHEDULE_DELAY",
                        .type = T::integer,
                        .default_value = "5000",
                        .min = 1,
                        .max = 3600000,
                        .help = "milliseconds a span waits for its batch to fill"});
  s.declare("tracing", {.name = "OTEL_SDK_DISABLED",
                        .type = T::boolean,
                        .default_value = "false",
                        .help = "true: no spans exported, whatever else is set"});
  s.declare("bus", {.name = "BUS_URL",
                    .type = T::url,
                    .default_value = "inproc://",
                    .choices = {"inproc://", "amqp://", "amqps://"},
                    .help = "inproc:// or amqp://user:pass@host:5672/vhost"});
  s.declare("bus", {.name = "RABBITMQ_URL",
                    .type = T::url,
                    .choices = {"amqp://", "amqps://"},
                    .help = "accepted as BUS_URL (the seeds' name); BUS_URL wins"});

  s.declare(
      "auth",
      {.name = "JWT_SECRET_KEY", .type = T::secret, .help = "HS256 secret, at least 32 bytes"});
  s.declare("auth", {.name = "JWT_PUBLIC_KEY_FILE", .type = T::file, .help = "PEM public key"});
  s.declare("auth",
            {.name = "JWT_ALGORITHM", .help = "algorithm of JWT_PUBLIC_KEY_FILE (default RS256)"});
  s.declare("auth", {.name = "JWKS_FILE", .type = T::file, .help = "JWK set file"});
  s.declare("auth", {.name = "JWKS_URL",
                     .type = T::url,
                     .choices = {"http://", "https://"},
                     .help = "JWK set fetched from the issuer"});
  s.declare("auth", {.name = "JWKS_CA_FILE",
                     .type = T::file,
                     .help = "trust for an https JWKS_URL (default: the system's CAs)"});
  s.declare("auth", {.name = "JWKS_ALLOW_HTTP",
                     .type = T::boolean,
                     .default_value = "false",
                     .help = "allow a plain http:// JWKS_URL to a host that is not loopback"});
  s.declare("auth", {.name = "JWKS_ALLOW_SYMMETRIC",
                     .type = T::boolean,
                     .default_value = "false",
                     .help = "use symmetric (oct) keys found in JWKS_URL's set"});
  s.declare("auth", {.name = "JWKS_REFRESH_SECONDS",
                     .type = T::integer,
                     .default_value = "300",
                     .min = 1,
                     .max = 86'400,
                     .help = "how often JWKS_URL is fetched again"});
  s.declare("auth", {.name = "JWT_ISSUER", .help = "required iss (and required with JWKS_URL)"});
  s.declare("auth", {.name = "JWT_AUDIENCE", .help = "accepted aud values, comma-separated"});
  s.declare("auth", {.name = "AUTH_ROLES",
                     .help = "role=perm,perm;role=... (default: admin, developer, user, guest)"});
  s.declare("auth", {.name = "AUTH_CERT_ROLES",
                     .help = "identity=role,role;*=role: roles of client-certificate identities"});
}

Config Config::from(std::shared_ptr<Settings> settings, std::string default_service_name) {
  Settings& s = *settings;
  if (!s.declared("PORT")) declare(s);
  Config c;
  c.service_name = s.is_set("SERVICE_NAME") ? s.text("SERVICE_NAME") : default_service_name;
  if (c.service_name.size() > 64) throw ConfigError("SERVICE_NAME", "expected 1 to 64 characters");
  c.host = s.text("HOST");
  c.port = static_cast<std::uint16_t>(s.integer("PORT"));
  if (s.is_set("GRPC_PORT")) c.grpc_port = static_cast<std::uint16_t>(s.integer("GRPC_PORT"));
  if (s.is_set("METRICS_PORT"))
    c.metrics_port = static_cast<std::uint16_t>(s.integer("METRICS_PORT"));
  c.threads = static_cast<unsigned>(s.integer("THREADS"));
  c.blocking_threads = static_cast<unsigned>(s.integer("BLOCKING_THREADS"));
  c.data_dir = s.text("DATA_DIR");
  c.database_url = s.text("DATABASE_URL");
  c.database_read_url = s.text("DATABASE_READ_URL");
  c.database_pool_size = static_cast<unsigned>(s.integer("DATABASE_POOL_SIZE"));
  c.database_timeout = s.duration("DATABASE_TIMEOUT");
  c.bus_url = s.source("BUS_URL") == Settings::Source::default_value && s.is_set("RABBITMQ_URL")
                  ? s.text("RABBITMQ_URL")
                  : s.text("BUS_URL");
  c.tls_cert_file = s.text("TLS_CERT_FILE");
  c.tls_key_file = s.text("TLS_KEY_FILE");
  c.tls_client_ca_file = s.text("TLS_CLIENT_CA_FILE");
  c.log_level = *log::parse_level(s.text("LOG_LEVEL"));
  c.access_log_probes = s.boolean("ACCESS_LOG_PROBES");
  c.api_docs = s.boolean("API_DOCS");
  c.swagger_ui_dir = s.text("SWAGGER_UI_DIR");
  c.shutdown_delay = s.duration("SHUTDOWN_DELAY");
  c.drain_timeout = s.duration("DRAIN_TIMEOUT");
  c.max_body = s.size("MAX_BODY");
  c.websocket_max_message = s.size("WEBSOCKET_MAX_MESSAGE");
  c.websocket_send_queue = s.size("WEBSOCKET_SEND_QUEUE");
  c.websocket_idle_timeout = s.duration("WEBSOCKET_IDLE_TIMEOUT");
  c.websocket_close_timeout = s.duration("WEBSOCKET_CLOSE_TIMEOUT");
  c.websocket_allowed_origins.clear();
  for (auto origins = s.text("WEBSOCKET_ALLOWED_ORIGINS"); !origins.empty();) {
    auto comma = origins.find(',');
    auto one = origins.substr(0, comma);
    while (!one.empty() && one.front() == ' ') one.erase(0, 1);
    while (!one.empty() && one.back() == ' ') one.pop_back();
    if (!one.empty()) c.websocket_allowed_origins.push_back(one);
    if (comma == std::string::npos) break;
    origins.erase(0, comma + 1);
  }
  c.max_connections = static_cast<std::size_t>(s.integer("MAX_CONNECTIONS"));
  c.max_connections_per_ip = static_cast<std::size_t>(s.integer("MAX_CONNECTIONS_PER_IP"));
  c.max_inflight = static_cast<std::size_t>(s.integer("MAX_INFLIGHT"));
  try {
    c.trusted_proxies = TrustedProxies::parse(s.text("TRUSTED_PROXIES"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("TRUSTED_PROXIES", e.what());
  }
  c.header_timeout = s.duration("HEADER_TIMEOUT");
  c.idle_timeout = s.duration("IDLE_TIMEOUT");
  // TLS settings only make sense together.
  if (c.tls_cert_file.empty() && !c.tls_key_file.empty())
    throw ConfigError("TLS_CERT_FILE", "TLS_KEY_FILE is set: the certificate is needed too");
  if (!c.tls_cert_file.empty() && c.tls_key_file.empty())
    throw ConfigError("TLS_KEY_FILE", "TLS_CERT_FILE is set: its private key is needed too");
  if (c.tls_cert_file.empty() && !c.tls_client_ca_file.empty())
    throw ConfigError("TLS_CLIENT_CA_FILE",
                      "client certificates need TLS: set TLS_CERT_FILE and TLS_KEY_FILE");
  c.settings = std::move(settings);
  return c;
}

Config Config::load(std::string default_service_name, const std::vector<std::string>& args,
                    const Environment& env) {
  return from(std::make_shared<Settings>(args, env), std::move(default_service_name));
}

}  // namespace svckit
