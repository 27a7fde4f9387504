#include "svckit/app/run.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "svckit/sql/database.hpp"

namespace svckit {
namespace {

// --roll-back=COMPONENT:VERSION
int roll_back(App& app, const std::string& what) {
  auto colon = what.rfind(':');
  int version = -1;
  if (colon != std::string::npos) {
    try {
      version = std::stoi(what.substr(colon + 1));
    } catch (const std::exception&) {
    }
  }
  if (version < 0)
    throw ConfigError("--roll-back", "expected COMPONENT:VERSION, got '" + what + "'");
  auto component = what.substr(0, colon);
  for (sql::Database* db : app.databases())
    for (const auto& c : db->components())
      if (c == component) {
        db->roll_back(component, version);
        app.logger().info("rolled back",
                          {{"component", component}, {"version", db->schema_version(component)}});
        return 0;
      }
  std::string known;
  for (sql::Database* db : app.databases())
    for (const auto& c : db->components()) known += (known.empty() ? "" : ", ") + c;
  throw ConfigError("--roll-back", "no component '" + component + "' here (this service has: " +
                                       (known.empty() ? "none" : known) + ")");
}

// --copy-data-from=URL: into every database this service opened (one, unless it combines
// several services on SQLite files of their own).
int copy_data(App& app, const std::string& url) {
  if (url.starts_with("sqlite:///") && !std::filesystem::exists(url.substr(10)))
    throw ConfigError("--copy-data-from", "no SQLite file at " + url.substr(10));
  std::unique_ptr<sql::Database> source;
  try {
    source = sql::open_database(url, app.blocking());
  } catch (const std::invalid_argument& e) {
    throw ConfigError("--copy-data-from", e.what());
  }
  for (sql::Database* db : app.databases())
    for (const auto& [table, rows] : db->copy_from(*source))
      app.logger().info("copied", {{"table", table}, {"rows", rows}});
  return 0;
}

// Where this machine reaches a server listening on `host`: loopback for a wildcard, an IPv6
// address in brackets.
std::string local_address(const std::string& host) {
  if (host == "0.0.0.0") return "127.0.0.1";
  if (host == "::") return "[::1]";
  if (host.find(':') != std::string::npos) return "[" + host + "]";
  return host;
}

// --health-check: GET /health of the service running on this HOST and PORT (what a container's
// HEALTHCHECK runs, in an image with no curl). One try, 3 s at most. Over TLS it trusts the
// service's own certificate (TLS_CERT_FILE) for the address it asks; a server that requires
// client certificates answers it with a failed handshake, which reads as unhealthy.
int health_check(const Config& config) {
  bool tls = !config.tls_cert_file.empty();
  std::string host = local_address(config.host);
  std::string url = (tls ? "https://" : "http://") + host + ":" + std::to_string(config.port);
  boost::asio::io_context io;
  auto client = std::make_unique<http::Client>(
      url, http::ClientOptions{.name = "health-check",
                               .connect_timeout = std::chrono::seconds(2),
                               .timeout = std::chrono::seconds(3),
                               .ca_file = tls ? config.tls_cert_file : std::string(),
                               .retry = RetryPolicy::none(),
                               .breaker = std::nullopt});
  auto answer = boost::asio::co_spawn(io, client->get("/health"), boost::asio::use_future);
  io.run();
  try {
    int status = answer.get().status;
    std::printf("%s/health: %d\n", url.c_str(), status);
    return status == 200 ? 0 : 1;
  } catch (const std::exception& e) {
    std::printf("%s/health: %s\n", url.c_str(), e.what());
    return 1;
  }
}

}  // namespace

int run_app(std::string default_service_name, int argc, char** argv,
            const std::function<void(Settings&)>& declare_modules,
            const std::function<void(App&)>& install_modules) {
  try {
    auto settings = std::make_shared<Settings>(std::vector<std::string>(argv + 1, argv + argc));
    Config::declare(*settings);
    declare_modules(*settings);
    if (settings->help_requested()) {
      std::printf("%s: a svckit service\n\n%s", default_service_name.c_str(),
                  settings->usage().c_str());
      return 0;
    }
    settings->check();
    Config config = Config::from(settings, default_service_name);
    if (settings->print_requested()) {
      std::printf("%s", settings->effective().c_str());
      return 0;
    }
    if (settings->health_check_requested()) return health_check(config);
    App app(std::move(config));
    for (const auto& [variable, setting] : settings->near_misses())
      app.logger().warning("environment variable one letter away from a setting: a typo?",
                           {{"variable", variable}, {"setting", setting}});
    install_modules(app);  // the modules' migrations are applied here
    if (settings->migrate_requested()) return 0;
    if (settings->roll_back()) return roll_back(app, *settings->roll_back());
    if (settings->copy_data_from()) return copy_data(app, *settings->copy_data_from());
    return app.run();
  } catch (const ConfigError& e) {
    // One line naming the variable, exit code 2: the operator's mistake, not the program's.
    std::fprintf(stderr, "%s: %s\n", default_service_name.c_str(), e.what());
    return 2;
  } catch (const sql::MigrationFailed& e) {
    // The schema is as it was: the operator fixes the migration or the database, not a retry.
    std::fprintf(stderr, "%s: %s\n", default_service_name.c_str(), e.detail().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: start-up failed: %s\n", default_service_name.c_str(), e.what());
    return 1;
  }
}

}  // namespace svckit
