#pragma once
// Each service's settings in this environment: the JSON Schema they must satisfy, and every
// version of them (who, when, why), the newest in force. A change goes out as
// config.settings.changed through the outbox, in the same transaction.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <svckit/json_schema.hpp>
#include <svckit/messaging/outbox.hpp>
#include <svckit/sql/database.hpp>

namespace raptorflow::configuration {

struct SettingsVersion {
  std::string service;
  std::int64_t version = 0;
  nlohmann::json settings;
  std::string author, message;
  std::int64_t created_at = 0;
};

struct SettingsSchema {
  std::string service;
  nlohmann::json schema;
  std::int64_t version = 0;
  std::string updated_by;
  std::int64_t updated_at = 0;
};

// Settings a service's schema refuses: each problem at its place (or the settings in force,
// when it is a new schema they fail). Nothing was stored.
struct SettingsRejected {
  std::vector<svckit::JsonSchema::Problem> problems;
};
// No schema for the service yet; or the stored one no longer compiles (`why`).
struct NoUsableSchema {
  std::string why;
};

class SettingsStore {
 public:
  SettingsStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox,
                std::string environment)
      : db_(db), outbox_(outbox), environment_(std::move(environment)) {}
  void migrate();

  svckit::Task<std::optional<SettingsSchema>> schema(std::string service);
  // Stores `schema` unless the settings in force fail it (SettingsRejected): checked in the same
  // serializable transaction as the write, so a settings change racing it cannot slip by.
  svckit::Task<SettingsSchema> put_schema(std::string service, nlohmann::json schema,
                                          std::string by);
  svckit::Task<std::optional<SettingsVersion>> current(std::string service);
  svckit::Task<std::vector<SettingsVersion>> history(std::string service, int limit);
  // The next version of a service's settings, checked by the schema stored (in the transaction:
  // a schema changing meanwhile cannot slip by); SettingsRejected, NoUsableSchema. `expected`:
  // the version the writer read (a later one throws StaleVersion, from flag_store.hpp).
  svckit::Task<SettingsVersion> put(std::string service, nlohmann::json settings, std::string by,
                                    std::string message, std::optional<std::int64_t> expected,
                                    const svckit::Context* context);

 private:
  svckit::sql::Database& db_;
  svckit::messaging::Outbox& outbox_;
  std::string environment_;
};

}  // namespace raptorflow::configuration
