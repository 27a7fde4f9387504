#include "svckit/app/app.hpp"

#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <fstream>
#include <iterator>
#include <list>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/core/demangle.hpp>

#include "svckit/http/openapi.hpp"
#include "svckit/http/pooled_connections.hpp"
#include "svckit/metrics/http_metrics.hpp"
#include "svckit/metrics/process_metrics.hpp"
#include "svckit/trace/span.hpp"
#include "svckit/tracing/otlp_exporter.hpp"
#include "svckit/tracing/server_spans.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

http::ServerOptions server_options(const Config& c, meter::Meter& meter) {
  http::ServerOptions o;
  o.meter = &meter;
  o.host = c.host;
  o.port = c.port;
  o.max_body = c.max_body;
  o.max_connections = c.max_connections;
  o.max_connections_per_ip = c.max_connections_per_ip;
  o.trusted_proxies = c.trusted_proxies;
  o.max_inflight = c.max_inflight;
  o.header_timeout = c.header_timeout;
  o.idle_timeout = c.idle_timeout;
  o.tls = {c.tls_cert_file, c.tls_key_file, c.tls_client_ca_file};
  if (c.access_log_probes) o.unlogged_paths.clear();
  return o;
}

// Many keep-alive clients need many descriptors: take the hard limit.
void raise_open_file_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

long long ms_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

}  // namespace

// One event loop per I/O thread, like nginx's workers: a connection stays on one loop, so its
// handlers never contend with other threads. loops[0] also runs signals and the lifecycle.
struct App::Runtime {
  explicit Runtime(unsigned threads) {
    for (unsigned i = 0; i < threads; ++i) {
      loops.push_back(std::make_unique<asio::io_context>(1));
      keep_running.emplace_back(loops.back()->get_executor());
    }
  }
  std::vector<asio::io_context*> loop_pointers() const {
    std::vector<asio::io_context*> out;
    for (const auto& l : loops) out.push_back(l.get());
    return out;
  }
  std::vector<std::unique_ptr<asio::io_context>> loops;
  // Loops without connections would return from run() at once; these keep them until shutdown.
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> keep_running;
  Clock::time_point created = Clock::now();
  std::atomic<bool> shutting_down{false};
  std::atomic<bool> stopped{false};  // the shutdown sequence finished: background loops end
  std::atomic<int> exit_code{0};
  asio::signal_set* signals = nullptr;
  struct Background {
    std::string name;
    std::function<Task<void>()> work;
    asio::cancellation_signal cancel;
  };
  std::mutex background_mutex;
  std::list<Background> background;  // a list: the signals must not move
  bool running = false;              // background work added from now on starts at once

  void start(Background& b, const log::Logger& logger) {
    asio::co_spawn(
        *loops[0], b.work(),
        asio::bind_cancellation_slot(
            b.cancel.slot(), [this, &logger, name = b.name](std::exception_ptr failure) {
              if (!failure || shutting_down) return;
              try {
                std::rethrow_exception(failure);
              } catch (const std::exception& e) {
                logger.error("background work failed", {{"work", name}, {"error", e.what()}});
              }
            }));
  }
  std::unique_ptr<metrics::HttpMetrics> http_metrics;
  // The span exporter, when OTEL_* settings ask for one: uninstalled, then flushed and stopped,
  // when the App goes (by then nothing records: the loops and the pool have stopped).
  struct InstalledExporter {
    std::unique_ptr<tracing::OtlpExporter> exporter;
    void stop() {
      if (exporter && trace::installed_sink() == exporter.get()) trace::install_sink(nullptr);
      exporter.reset();
    }
    ~InstalledExporter() { stop(); }
  } spans;
};

namespace {

// The OTLP exporter the OTEL_* settings describe, or none (no endpoint, or OTEL_SDK_DISABLED).
// Sets the process's sampler either way (a trace's sampled flag travels on to other services);
// a sampler or protocol it does not know stops start-up only when spans are exported.
std::unique_ptr<tracing::OtlpExporter> span_exporter(const Settings& s,
                                                     const std::string& service_name,
                                                     meter::Meter& metrics,
                                                     const log::Logger& logger) {
  const bool disabled = s.boolean("OTEL_SDK_DISABLED");
  const char* endpoint_setting = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
  std::string endpoint = s.text(endpoint_setting);
  if (endpoint.empty() && s.is_set("OTEL_EXPORTER_OTLP_ENDPOINT")) {
    endpoint_setting = "OTEL_EXPORTER_OTLP_ENDPOINT";
    endpoint = s.text(endpoint_setting);
    while (endpoint.ends_with('/')) endpoint.pop_back();
    endpoint += "/v1/traces";
  }
  const bool exporting = !disabled && !endpoint.empty();
  try {
    trace::set_sampler(
        trace::Sampler::parse(s.text("OTEL_TRACES_SAMPLER"), s.text("OTEL_TRACES_SAMPLER_ARG")));
  } catch (const std::invalid_argument& e) {
    const bool bad_name = std::string_view(e.what()).starts_with("unknown sampler");
    if (exporting)
      throw ConfigError(bad_name ? "OTEL_TRACES_SAMPLER" : "OTEL_TRACES_SAMPLER_ARG", e.what());
    logger.warning("the sampler setting is ignored: no spans are exported here",
                   {{"error", e.what()}});
  }
  if (!exporting) return nullptr;
  const auto protocol = s.text("OTEL_EXPORTER_OTLP_PROTOCOL");
  if (protocol != "http/protobuf" && protocol != "http/json")
    throw ConfigError("OTEL_EXPORTER_OTLP_PROTOCOL",
                      "must be http/protobuf or http/json (svckit exports over OTLP/HTTP)");
  tracing::OtlpExporterOptions o;
  o.endpoint = endpoint;
  o.json = protocol == "http/json";
  o.timeout = std::chrono::milliseconds(s.integer("OTEL_EXPORTER_OTLP_TIMEOUT"));
  o.max_queue = static_cast<std::size_t>(s.integer("OTEL_BSP_MAX_QUEUE_SIZE"));
  o.max_batch = static_cast<std::size_t>(s.integer("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"));
  o.delay = std::chrono::milliseconds(s.integer("OTEL_BSP_SCHEDULE_DELAY"));
  o.metrics = &metrics;
  try {
    o.headers = tracing::parse_otlp_headers(s.text("OTEL_EXPORTER_OTLP_HEADERS"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("OTEL_EXPORTER_OTLP_HEADERS", "an entry is not key=value");  // secret
  }
  std::vector<trace::Attribute> attributes;
  try {
    attributes = trace::parse_resource_attributes(s.text("OTEL_RESOURCE_ATTRIBUTES"));
  } catch (const std::invalid_argument& e) {
    throw ConfigError("OTEL_RESOURCE_ATTRIBUTES", e.what());
  }
  // service.name: OTEL_SERVICE_NAME, else the attributes', else the service's own name.
  std::string name = s.text("OTEL_SERVICE_NAME");
  for (auto it = attributes.begin(); it != attributes.end();)
    if (it->key == "service.name") {
      if (name.empty()) name = std::get<std::string>(it->value);
      it = attributes.erase(it);
    } else {
      ++it;
    }
  o.resource.attributes.push_back({"service.name", name.empty() ? service_name : name});
  o.resource.attributes.push_back({"telemetry.sdk.name", std::string("svckit")});
  o.resource.attributes.push_back({"telemetry.sdk.language", std::string("cpp")});
  for (auto& a : attributes) o.resource.attributes.push_back(std::move(a));
  try {
    return std::make_unique<tracing::OtlpExporter>(std::move(o));
  } catch (const std::invalid_argument&) {
    // Not the URL itself in the message: it may hold credentials.
    throw ConfigError(endpoint_setting, "must be an http:// or https:// URL");
  }
}

}  // namespace

App::App(Config config)
    : config_(std::move(config)),
      logger_(config_.service_name, config_.log_level),
      runtime_(std::make_unique<Runtime>(std::max(1u, config_.threads))),
      blocking_(std::make_unique<BlockingPool>(config_.blocking_threads)),
      http_(std::make_unique<http::Server>(runtime_->loop_pointers(),
                                           server_options(config_, metrics_), logger_)),
      health_(std::make_unique<health::Health>(config_.service_name, *blocking_)) {
  if (!config_.settings) {  // a Config made by hand: svckit's settings from the environment
    config_.settings = std::make_shared<Settings>();
    Config::declare(*config_.settings);
  }
  metrics_.add_collectable(metrics::process_metrics());
  runtime_->http_metrics = std::make_unique<metrics::HttpMetrics>(metrics_);
  // Metrics around the whole chain as the server's observer (no coroutine frame per request);
  // the server turns errors into problem+json first, so metrics and logs see the final status.
  http_->observe(runtime_->http_metrics->observer());
  runtime_->spans.exporter =
      span_exporter(*config_.settings, config_.service_name, metrics_, logger_);
  // One process, one exporter: an App made while another's is installed leaves it in place.
  if (runtime_->spans.exporter && !trace::installed_sink()) {
    trace::install_sink(runtime_->spans.exporter.get());
    http_->observe(tracing::server_spans(
        {"/health", "/health/live", "/ready", "/health/ready", "/health/startup", "/metrics"}));
  }

  auto root = http_->group("");
  health_->install_routes(root);
}

App::~App() {
  // Modules may hold references into the App (and hosted servers into modules): they go first.
  modules_.clear();
  hosted_.clear();
  // Spans stop here; what is queued is sent while the metrics the exporter counts into live.
  runtime_->spans.stop();
}

http::Client& App::client(const std::string& name, const std::string& base_url,
                          http::ClientOptions options) {
  const std::string key = "http-client:" + name;
  if (auto* existing = kept<std::pair<std::string, http::Client>>(key)) {
    if (existing->first != base_url)
      throw std::logic_error("the HTTP client '" + name + "' is at " + existing->first + ", not " +
                             base_url);
    return existing->second;
  }
  options.name = name;
  options.metrics = &metrics_;
  options.logger = &logger_;
  try {
    auto made = std::make_shared<std::pair<std::string, http::Client>>(
        std::piecewise_construct, std::forward_as_tuple(base_url),
        std::forward_as_tuple(base_url, std::move(options)));
    return keep(key, std::move(made)).second;
  } catch (const std::invalid_argument& e) {
    throw ConfigError(name, e.what());
  }
}

http::WebSocketOptions App::websocket_options() const {
  http::WebSocketOptions o;
  o.max_message = config_.websocket_max_message;
  o.send_queue_bytes = config_.websocket_send_queue;
  o.idle_timeout = config_.websocket_idle_timeout;
  o.close_timeout = config_.websocket_close_timeout;
  o.allowed_origins = config_.websocket_allowed_origins;
  return o;
}

HostedServer& App::host(std::string name, std::unique_ptr<HostedServer> server) {
  if (hosted(name)) throw std::logic_error("a server is hosted as '" + name + "' already");
  hosted_.emplace_back(std::move(name), std::move(server));
  return *hosted_.back().second;
}

HostedServer* App::hosted(std::string_view name) const {
  for (const auto& [n, server] : hosted_)
    if (n == name) return server.get();
  return nullptr;
}

std::vector<asio::io_context*> App::loops() const {
  return runtime_->loop_pointers();
}

sql::Database& App::database(std::string_view component) {
  std::string url = config_.database_url.empty()
                        ? "sqlite:///" + config_.data_dir + "/" + std::string(component) + ".db"
                        : config_.database_url;
  if (auto it = databases_.find(url); it != databases_.end()) return *it->second;
  std::unique_ptr<sql::Database> db;
  try {
    db = sql::open_database(url, *blocking_,
                            {.pool_size = config_.database_pool_size,
                             .loops = runtime_->loop_pointers().size(),
                             .timeout = config_.database_timeout,
                             .read_url = config_.database_read_url,
                             .meter = &metrics_});
  } catch (const std::invalid_argument& e) {
    throw ConfigError(
        "DATABASE_URL",
        std::string(e.what()) + ", got '" +
            Settings::masked({.name = "DATABASE_URL", .type = SettingType::url}, url) + "'");
  }
  auto& ref = *db;
  bool first = databases_.empty();
  databases_.emplace(url, std::move(db));
  // One "database" check for every database the process opened (several modules in one
  // process each have their own): ready when all of them answer.
  if (first)
    health_->readiness("database", [this]() -> Task<bool> {
      for (auto& [url, each] : databases_)
        if (!co_await each->ping()) co_return false;
      co_return true;
    });
  return ref;
}

std::vector<sql::Database*> App::databases() const {
  std::vector<sql::Database*> out;
  for (const auto& [url, db] : databases_) out.push_back(db.get());
  return out;
}

Module& App::install(std::unique_ptr<Module> module) {
  installing_.push_back(module.get());
  struct Done {
    std::vector<const Module*>& installing;
    ~Done() { installing.pop_back(); }
  } done{installing_};
  module->install(*this);
  modules_.push_back(std::move(module));
  return *modules_.back();
}

void App::throw_cycle(const Module& needed) const {
  auto name = [](const Module& m) {
    std::string n = boost::core::demangle(typeid(m).name());
    auto colon = n.rfind("::");
    return colon == std::string::npos ? n : n.substr(colon + 2);
  };
  std::string chain;
  bool in_cycle = false;
  for (const Module* m : installing_) {
    in_cycle = in_cycle || m == &needed;
    if (in_cycle) chain += name(*m) + " needs ";
  }
  throw std::logic_error("modules need each other: " + chain + name(needed));
}

std::uint16_t App::port() const {
  return http_->port();
}

void App::shutdown() {
  if (runtime_->shutting_down.exchange(true)) return;
  asio::co_spawn(
      *runtime_->loops[0],
      [this]() -> Task<void> {
        auto begun = Clock::now();
        health_->mark_draining();
        logger_.info("shutting down: readiness is now OUT_OF_SERVICE",
                     {{"shutdown_delay_ms", config_.shutdown_delay.count()},
                      {"drain_timeout_ms", config_.drain_timeout.count()}});
        logger_.flush();
        asio::steady_timer timer(*runtime_->loops[0], config_.shutdown_delay);
        co_await timer.async_wait(kNoThrow);
        // Every server stops taking calls now and drains in parallel with the others.
        http_->stop_accepting();
        std::size_t draining = hosted_.size();  // all on loop 0: a plain count
        asio::steady_timer all_drained(*runtime_->loops[0], Clock::time_point::max());
        for (auto& [name, server] : hosted_)
          asio::co_spawn(*runtime_->loops[0], server->drain(config_.drain_timeout),
                         [&](std::exception_ptr) {
                           if (--draining == 0) all_drained.cancel();
                         });
        co_await http_->drain(config_.drain_timeout);
        if (draining > 0) co_await all_drained.async_wait(kNoThrow);
        {
          std::lock_guard lock(runtime_->background_mutex);
          for (auto& b : runtime_->background) b.cancel.emit(asio::cancellation_type::terminal);
        }
        if (bus_) co_await bus_->close(config_.drain_timeout);
        for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
          try {
            co_await (*it)->stop(*this);
          } catch (const std::exception& e) {
            logger_.error("module failed to stop", {{"error", e.what()}});
          }
        }
        if (kv_) kv_->close();
        // Pooled client connections wait, with a timer each, for the deadline of the call they
        // last served: closed now, so that the loops run out of work at once.
        for (auto* loop : runtime_->loop_pointers())
          asio::post(*loop, [loop] { http::close_pooled_connections(*loop); });
        logger_.info("stopped", {{"shutdown_ms", ms_since(begun)}});
        // No io.stop(): once the last loops below see `stopped`, run() returns by itself and no
        // suspended coroutine is left to be destroyed with the io_context.
        runtime_->stopped = true;
        boost::system::error_code ignored;
        if (runtime_->signals) runtime_->signals->cancel(ignored);
        for (auto& guard : runtime_->keep_running) guard.reset();
      },
      asio::detached);
}

kv::Store& App::kv() {
  if (!kv_) {
    try {
      kv_ = kv::open_store(settings().text("REDIS_URL"),
                           {.timeout = settings().duration("KV_TIMEOUT"),
                            .loops = runtime_->loop_pointers(),
                            .meter = &metrics_,
                            .logger = &logger_});
    } catch (const std::invalid_argument& e) {
      throw ConfigError("REDIS_URL", e.what());
    }
    if (kv_->backend() != "memory")
      health_->readiness("kv",
                         [this]() -> Task<bool> {
                           if (!co_await kv_->ping())
                             throw std::runtime_error(kv_->shown() + " does not answer");
                           co_return true;
                         },
                         {.required = false});
  }
  return *kv_;
}

bus::Bus& App::bus() {
  if (!bus_) {
    bus::BusOptions options;
    options.source = config_.service_name;
    options.metrics = &metrics_;
    options.logger = &logger_;
    try {
      bus_ = bus::open_bus(config_.bus_url, runtime_->loop_pointers(), std::move(options));
    } catch (const bus::BusError& e) {
      throw ConfigError("BUS_URL", e.what());
    }
    // DOWN while the broker is unreachable or a subscription is not consuming yet.
    health_->readiness("bus", [this]() -> Task<bool> {
      if (!bus_->connected())
        throw std::runtime_error("the message bus is not connected, or not consuming yet");
      co_return true;
    });
  }
  return *bus_;
}

messaging::Outbox& App::outbox(std::string_view component) {
  if (auto it = outboxes_.find(component); it != outboxes_.end()) return *it->second;
  auto made = std::make_unique<messaging::Outbox>(
      database(component), bus(), std::string(component),
      messaging::OutboxOptions{
          .poll = settings().duration("OUTBOX_POLL"), .metrics = &metrics_, .logger = &logger_});
  auto& outbox = *made;
  bool first = outboxes_.empty();
  outboxes_.emplace(std::string(component), std::move(made));
  run_in_background("outbox " + std::string(component), [&outbox] { return outbox.relay(); });
  if (first) {
    auto stale_after = settings().duration("OUTBOX_STALE_AFTER");
    health_->readiness("outbox", [this, stale_after]() -> Task<bool> {
      for (auto& [name, each] : outboxes_) {
        auto b = each->backlog();
        if (b.oldest > stale_after)
          throw std::runtime_error(name + ": " + std::to_string(b.pending) +
                                   " events waiting, the oldest for " +
                                   std::to_string(b.oldest.count() / 1000) + " s");
      }
      co_return true;
    });
  }
  return outbox;
}

void App::run_in_background(std::string name, std::function<Task<void>()> work) {
  std::lock_guard lock(runtime_->background_mutex);
  auto& b = runtime_->background.emplace_back();
  b.name = std::move(name);
  b.work = std::move(work);
  if (runtime_->running)
    asio::post(*runtime_->loops[0], [this, &b] { runtime_->start(b, logger_); });
}

namespace {

// Swagger UI over /openapi.json, its two assets read once from SWAGGER_UI_DIR (npm's
// swagger-ui-dist, which ./dev.sh installs).
void serve_swagger_ui(http::RouteGroup root, const Config& c, const log::Logger& logger) {
  auto assets = std::make_shared<std::map<std::string, std::string, std::less<>>>();
  for (const char* name : {"swagger-ui.css", "swagger-ui-bundle.js"}) {
    std::ifstream in(c.swagger_ui_dir + "/" + name, std::ios::binary);
    if (in) (*assets)[name] = std::string(std::istreambuf_iterator<char>(in), {});
  }
  auto page = std::make_shared<const std::string>(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + c.service_name +
      " API</title>\n<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head>\n<body><div "
      "id=\"swagger-ui\"></div>\n<script src=\"/docs/swagger-ui-bundle.js\"></script>\n<script>"
      "window.ui = SwaggerUIBundle({url: \"/openapi.json\", dom_id: \"#swagger-ui\"});"
      "</script>\n</body></html>\n");
  // The reason goes to the log once; a client is not told the server's paths.
  const bool complete = assets->size() == 2;
  if (!complete)
    logger.warning("no Swagger UI for /docs (./dev.sh build installs it)",
                   {{"swagger_ui_dir", c.swagger_ui_dir}});
  auto installed = [complete] {
    if (!complete)
      throw ServiceUnavailable("Swagger UI is not installed here; /openapi.json is", 3600);
  };
  root.get("/docs",
           [page, installed](http::Request&) -> Task<http::Response> {
             installed();
             http::Response r;
             r.content_type = "text/html; charset=utf-8";
             r.body = *page;
             co_return r;
           })
      .hidden();
  root.get("/docs/{file}",
           [assets, installed](http::Request& req) -> Task<http::Response> {
             installed();
             auto file = req.param("file");
             auto it = assets->find(file);
             if (it == assets->end()) throw NotFound("no " + file + " in the API docs");
             http::Response r;
             r.content_type = file.ends_with(".css") ? "text/css" : "text/javascript";
             r.headers.emplace_back("Cache-Control", "public, max-age=86400");
             r.body = it->second;
             co_return r;
           })
      .hidden();
}

}  // namespace

void App::serve_api_docs() {
  if (!config_.api_docs) return;
  auto& router = http_->router();
  auto root = http_->group("");
  // A module may serve its own (the gateway: its system's document, merged): a route of that
  // very path, not one a parameter would also match ("/{bucket}" of the S3 API).
  auto served = [&router](std::string_view path) {
    auto match = router.match(http::Method::get, path);
    return match.outcome == http::Router::Outcome::found && match.route->pattern == path;
  };
  if (!served("/openapi.json")) {
    auto text = std::make_shared<const std::string>(
        http::openapi_document(router, {.title = config_.service_name}).dump());
    root.get("/openapi.json",
             [text](http::Request&) -> Task<http::Response> {
               co_return http::Response::json_text(200, *text);
             })
        .hidden();
  }
  if (!served("/docs")) serve_swagger_ui(root, config_, logger_);
}

// METRICS_PORT's listener: GET /metrics and nothing else, on one loop, started and drained
// with the App's other servers.
class MetricsServer final : public HostedServer {
 public:
  MetricsServer(asio::io_context& loop, http::ServerOptions options, const log::Logger& logger,
                http::Handler metrics)
      : logger_(logger), server_({&loop}, std::move(options), logger) {
    server_.group("").get("/metrics", std::move(metrics)).hidden();
  }
  void start() override {
    server_.listen();
    server_.start();
    logger_.info("metrics listening", {{"port", server_.port()}});
  }
  Task<void> drain(std::chrono::milliseconds timeout) override {
    server_.stop_accepting();
    co_await server_.drain(timeout);
  }

 private:
  const log::Logger& logger_;
  http::Server server_;
};

void App::serve_metrics() {
  http::Handler metrics = [this](http::Request&) -> Task<http::Response> {
    http::Response r;
    r.content_type = metrics::kContentType;
    r.body = metrics_.render();
    co_return r;
  };
  if (!config_.metrics_port) {
    if (!metrics_off_public_port_) http_->group("").get("/metrics", std::move(metrics)).hidden();
    return;
  }
  http::ServerOptions options;
  options.host = config_.host;
  options.port = *config_.metrics_port;
  options.max_connections = 64;  // a few scrapers
  options.max_connections_per_ip = 0;
  if (config_.access_log_probes) options.unlogged_paths.clear();
  host("metrics", std::make_unique<MetricsServer>(*runtime_->loops[0], std::move(options), logger_,
                                                  std::move(metrics)));
}

int App::run() {
  raise_open_file_limit();
  serve_metrics();
  serve_api_docs();
  auto& io = *runtime_->loops[0];
  try {
    http_->listen();
  } catch (const std::exception& e) {
    logger_.error("cannot listen",
                  {{"host", config_.host}, {"port", config_.port}, {"error", e.what()}});
    return 1;
  }
  http_->start();
  for (auto& [name, server] : hosted_) {
    try {
      server->start();
    } catch (const std::exception& e) {
      logger_.error("cannot start", {{"server", name}, {"error", e.what()}});
      return 1;
    }
  }
  {
    std::lock_guard lock(runtime_->background_mutex);
    runtime_->running = true;
    for (auto& b : runtime_->background) runtime_->start(b, logger_);
  }
  logger_.info("listening",
               {{"port", http_->port()},
                {"tls", config_.tls_cert_file.empty()        ? "off"
                        : config_.tls_client_ca_file.empty() ? "on"
                                                             : "client certificates required"},
                {"url", std::string(config_.tls_cert_file.empty() ? "http" : "https") + "://" +
                            (config_.host == "0.0.0.0" ? std::string("127.0.0.1") : config_.host) +
                            ":" + std::to_string(http_->port())}});
  logger_.flush();

  asio::signal_set signals(io, SIGINT, SIGTERM);
  runtime_->signals = &signals;
  std::function<void()> wait_for_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (runtime_->shutting_down) {  // a second signal: stop now
        logger_.warning("second signal: exiting without finishing the drain");
        runtime_->exit_code = 130;
        for (auto& loop : runtime_->loops) loop->stop();
        return;
      }
      logger_.info("signal received", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
      shutdown();
      wait_for_signal();
    });
  };
  wait_for_signal();

  asio::co_spawn(
      io,
      [this]() -> Task<void> {
        try {
          for (auto& m : modules_) co_await m->start(*this);
        } catch (const std::exception& e) {
          logger_.error("start-up failed", {{"error", e.what()}});
          runtime_->exit_code = 1;
          shutdown();
          co_return;
        }
        health_->mark_started();
        logger_.info("ready", {{"startup_ms", ms_since(runtime_->created)}});
        logger_.flush();
      },
      asio::detached);

  // Info lines are buffered; this keeps them at most 100 ms behind.
  asio::co_spawn(
      io,
      [this]() -> Task<void> {
        asio::steady_timer timer(*runtime_->loops[0]);
        while (!runtime_->stopped) {
          timer.expires_after(std::chrono::milliseconds(100));
          auto [ec] = co_await timer.async_wait(kNoThrow);
          if (ec) co_return;
          logger_.flush();
        }
      },
      asio::detached);

  // A handler that throws must not take the process down: log it and keep running.
  auto run_io = [this](asio::io_context& loop) {
    for (;;) {
      try {
        loop.run();
        return;
      } catch (const std::exception& e) {
        logger_.error("uncaught exception in an I/O handler", {{"error", e.what()}});
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < runtime_->loops.size(); ++i)
    threads.emplace_back(run_io, std::ref(*runtime_->loops[i]));
  run_io(io);
  for (auto& t : threads) t.join();
  runtime_->signals = nullptr;
  blocking_->join();
  logger_.flush();
  return runtime_->exit_code;
}

}  // namespace svckit
