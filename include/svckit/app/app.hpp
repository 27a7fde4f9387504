#pragma once
// App owns everything a service process has: config, logger, the io_context and its threads,
// the blocking pool, the HTTP server, metrics, health, databases, and the installed modules.
// It runs them with the lifecycle DESIGN.md describes: start → ready → SIGTERM → not ready →
// SHUTDOWN_DELAY → stop accepting → drain (DRAIN_TIMEOUT) → stop modules → exit 0.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

#include "svckit/app/module.hpp"
#include "svckit/blocking_pool.hpp"
#include "svckit/bus/bus.hpp"
#include "svckit/config.hpp"
#include "svckit/health/health.hpp"
#include "svckit/hosted_server.hpp"
#include "svckit/http/client.hpp"
#include "svckit/http/server.hpp"
#include "svckit/kv/store.hpp"
#include "svckit/log/logger.hpp"
#include "svckit/messaging/outbox.hpp"
#include "svckit/metrics/registry.hpp"
#include "svckit/sql/database.hpp"

namespace boost::asio {
class io_context;
}

namespace svckit {

class App {
 public:
  explicit App(Config config);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  const Config& config() const { return config_; }
  // Every module's declared settings (settings.hpp): a module declares its own in a static
  // declare(Settings&), which install<M>() calls before install(), and reads them here.
  Settings& settings() { return *config_.settings; }
  const Settings& settings() const { return *config_.settings; }
  const log::Logger& logger() const { return logger_; }
  BlockingPool& blocking() { return *blocking_; }
  http::Server& http() { return *http_; }
  // A WebSocket route's options from the WEBSOCKET_* settings; a route adds its protocols.
  http::WebSocketOptions websocket_options() const;
  metrics::Registry& metrics() { return metrics_; }
  health::Health& health() { return *health_; }

  // The database of `component` ("task-manager"): DATABASE_URL when set, otherwise the SQLite
  // file DATA_DIR/<component>.db, so each service in a combined process keeps its own data.
  // Opened on first use; a readiness check named "database:<component>" is registered with it.
  sql::Database& database(std::string_view component);
  // Every database opened so far.
  std::vector<sql::Database*> databases() const;

  // The message bus (BUS_URL, in-process by default), opened on first use. Events carry
  // SERVICE_NAME as their source. It closes at shutdown after the HTTP server has drained:
  // consuming stops, in-flight handlers finish, then modules stop.
  bus::Bus& bus();

  // The key-value store for state every replica shares (svckit/kv/store.hpp): Redis at
  // REDIS_URL, this process's memory when it is unset. Opened on first use; with Redis, a
  // readiness check "kv" that reports it without making readiness DOWN (the uses of the store
  // each have a policy for its absence: docs/kv.md). Closed at shutdown after the modules stop.
  kv::Store& kv();
  // The transactional outbox of `component` (svckit/messaging/outbox.hpp) in its database(),
  // publishing on bus(): made on first use with its relay running in the background from start
  // to shutdown, outbox_* metrics, and a readiness check "outbox" that is DOWN while the oldest
  // event has waited longer than OUTBOX_STALE_AFTER.
  messaging::Outbox& outbox(std::string_view component);

  // The HTTP client of the upstream `name` (its label in http_client_* metrics and in log
  // lines), counting into the App's metrics and logging breaker changes and retries to its
  // logger; each call carries the request id, trace and deadline of the Context it is given.
  // Made on first use with `base_url` and `options` (their metrics and logger are the App's);
  // later calls return the same client, and asking for `name` at another base_url is a
  // std::logic_error. A base_url that is not an http(s) URL is a ConfigError naming the upstream.
  http::Client& client(const std::string& name, const std::string& base_url,
                       http::ClientOptions options = {});

  // Keeps `thing` until the App is destroyed (after its modules, before its metrics), under
  // `key`: what a helper such as grpc::channel(app, ...) makes once per App.
  template <class T>
  T& keep(const std::string& key, std::shared_ptr<T> thing) {
    if (kept<T>(key)) throw std::logic_error("the App keeps '" + key + "' already");
    kept_.emplace(key, std::pair{std::type_index(typeid(T)), std::shared_ptr<void>(thing)});
    return *thing;
  }
  // What keep() kept under `key`, nullptr when nothing is; std::logic_error when it is not a T.
  template <class T>
  T* kept(const std::string& key) const {
    auto it = kept_.find(key);
    if (it == kept_.end()) return nullptr;
    if (it->second.first != std::type_index(typeid(T)))
      throw std::logic_error("the App keeps something else as '" + key + "'");
    return static_cast<T*>(it->second.second.get());
  }

  // Installs a module now (its install() runs immediately). Modules start in the order their
  // install() finished, so a module installed by another's require() starts before it.
  Module& install(std::unique_ptr<Module> module);
  // The same for a module of type M, whose settings M::declare(Settings&), when it has one,
  // declares first.
  template <class M, class... Args>
  M& install(Args&&... args) {
    if constexpr (DeclaresSettings<M>) M::declare(settings());
    return static_cast<M&>(install(std::make_unique<M>(std::forward<Args>(args)...)));
  }

  // The module of type M, installed now when it is not yet: a module that needs another asks for
  // it by type (in its install()), and install and start order follow those needs. A module that
  // needs itself through others is a cycle: std::logic_error naming them, at start-up.
  template <class M>
  M& require() {
    if (M* installed = find<M>()) return *installed;
    for (const Module* m : installing_)
      if (dynamic_cast<const M*>(m)) throw_cycle(*m);
    return install<M>();
  }
  // The installed module of type M; nullptr when there is none (or it is still installing).
  template <class M>
  M* find() const {
    for (const auto& m : modules_)
      if (auto* found = dynamic_cast<M*>(m.get())) return found;
    return nullptr;
  }

  // Hosts `server` beside the HTTP server under `name` (HostedServer says when it starts and
  // drains). One per name: hosting a second one under a name in use throws std::logic_error.
  HostedServer& host(std::string name, std::unique_ptr<HostedServer> server);
  // The server hosted under `name`, nullptr when there is none.
  HostedServer* hosted(std::string_view name) const;

  // The I/O loops (THREADS of them), each run by one thread: where handlers run. Work posted to
  // one of them from elsewhere runs there.
  std::vector<boost::asio::io_context*> loops() const;

  // Runs `work` on loop 0 for the life of the service: from run() (or now, if already running)
  // until the HTTP server has drained at shutdown, when it is cancelled (its pending wait throws
  // operation_aborted). An exception it lets out is logged with `name`. For refreshers and
  // pollers: a JWKS fetcher, active health checks.
  void run_in_background(std::string name, std::function<Task<void>()> work);

  // Serves until SIGTERM/SIGINT or shutdown(); returns the process exit code.
  int run();
  // Begins the graceful shutdown from any thread (what SIGTERM does).
  void shutdown();

  // The bound HTTP port once run() is listening (the free one chosen for PORT=0).
  std::uint16_t port() const;
  // Keeps /metrics off PORT: served on METRICS_PORT when that is set, nowhere otherwise. The
  // gateway calls it, since its port faces the internet. Before run().
  void keep_metrics_off_public_port() { metrics_off_public_port_ = true; }

 private:
  struct Runtime;
  // /openapi.json and /docs (Swagger UI), unless API_DOCS=false or a module serves its own.
  void serve_api_docs();
  // /metrics where METRICS_PORT and keep_metrics_off_public_port() say.
  void serve_metrics();
  bool metrics_off_public_port_ = false;
  Config config_;
  log::Logger logger_;
  std::unique_ptr<Runtime> runtime_;
  std::unique_ptr<BlockingPool> blocking_;
  metrics::Registry metrics_;
  std::map<std::string, std::pair<std::type_index, std::shared_ptr<void>>, std::less<>> kept_;
  std::unique_ptr<kv::Store> kv_;  // after kept_ and before http_: routes may use it
  std::unique_ptr<http::Server> http_;
  std::unique_ptr<health::Health> health_;
  std::map<std::string, std::unique_ptr<sql::Database>, std::less<>> databases_;
  std::map<std::string, std::unique_ptr<messaging::Outbox>, std::less<>> outboxes_;
  std::unique_ptr<bus::Bus> bus_;
  std::vector<std::pair<std::string, std::unique_ptr<HostedServer>>> hosted_;
  std::vector<std::unique_ptr<Module>> modules_;  // installed, in the order they finished
  std::vector<const Module*> installing_;         // whose install() is running, outermost first
  [[noreturn]] void throw_cycle(const Module& needed) const;
};

}  // namespace svckit
