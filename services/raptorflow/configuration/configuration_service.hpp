#pragma once
// Raptorflow's Configuration service (seed 003): the feature flags of one environment in flagd's
// format, changed through a validated, versioned and audited API (every version kept, any one
// restorable), pushed to subscribers as config.flag.changed on the bus and as server-sent
// events, and evaluated for any OpenFeature SDK over the Remote Evaluation Protocol (OFREP).
// docs/raptorflow-configuration.md.
#include <atomic>
#include <memory>
#include <string>

#include <svckit/app/module.hpp>
#include <svckit/flags/flag_set.hpp>
#include <svckit/http/event_stream.hpp>
#include <svckit/http/hub.hpp>
#include <svckit/http/request.hpp>
#include <svckit/http/response.hpp>

#include "flag_store.hpp"
#include "secrets_api.hpp"
#include "settings_api.hpp"

namespace raptorflow::configuration {

class ConfigurationService : public svckit::Module {
 public:
  static void declare(svckit::Settings& settings);
  void install(svckit::App& app) override;
  svckit::Task<void> start(svckit::App& app) override;

 private:
  using Request = svckit::http::Request;
  using Response = svckit::http::Response;
  using Task = svckit::Task<Response>;

  // The set in force here: evaluated by OFREP, answered by GET, swapped whole on a change.
  struct Current {
    FlagVersion version;  // its document is the set's
    std::shared_ptr<const svckit::flags::FlagSet> set;
    std::string etag;  // "v<version>"
  };

  Task get_flags(Request& req);
  Task put_flags(Request& req);
  Task put_flag(Request& req);
  Task delete_flag(Request& req);
  Task versions(Request& req);
  Task version(Request& req);
  Task rollback(Request& req);
  svckit::Task<void> changes(svckit::http::EventStream stream, Request& req);
  Task evaluate(Request& req);
  Task evaluate_all(Request& req);

  // Validates and stores `document` as the next version, then takes it into force here.
  Task write(Request& req, nlohmann::json document, std::string message,
             std::optional<std::int64_t> restored_from);
  // One flag set (or removed when `definition` is empty) on the newest stored version.
  Task edit_flag(Request& req, std::string key, std::optional<nlohmann::json> definition,
                 std::string message);
  // Stores a validated document; nullopt when `base` is no longer the newest version.
  svckit::Task<std::optional<Response>> store(Request& req, nlohmann::json document,
                                              std::string message,
                                              std::optional<std::int64_t> restored_from,
                                              std::optional<std::int64_t> base);
  // Takes the newest stored version into force when it is newer than the one held.
  svckit::Task<void> refresh();
  void take(FlagVersion version);
  std::shared_ptr<const Current> current() const {
    return current_.load(std::memory_order_acquire);
  }

  svckit::App* app_ = nullptr;
  std::unique_ptr<FlagStore> store_;
  std::string environment_;
  std::atomic<std::shared_ptr<const Current>> current_;
  svckit::http::EventStreamHub subscribers_;
  SecretsApi secrets_;
  SettingsApi settings_;
};

}  // namespace raptorflow::configuration
