#include "settings_store.hpp"

#include "conventions.hpp"

#include <chrono>

#include "flag_store.hpp"

namespace raptorflow::configuration {

using nlohmann::json;
using svckit::Task;
using svckit::sql::Transaction;

namespace {

const svckit::sql::Migration kMigrations[] = {
    {1, "settings schemas and versions",
     "CREATE TABLE settings_schemas ("
     " service TEXT PRIMARY KEY,"
     " schema TEXT NOT NULL,"
     " version BIGINT NOT NULL,"
     " updated_by TEXT NOT NULL,"
     " updated_at BIGINT NOT NULL);"
     "CREATE TABLE settings_versions ("
     " service TEXT NOT NULL,"
     " version BIGINT NOT NULL,"
     " settings TEXT NOT NULL,"
     " author TEXT NOT NULL,"
     " message TEXT NOT NULL,"
     " created_at BIGINT NOT NULL,"
     " PRIMARY KEY (service, version));"},
};

SettingsVersion version_from(const svckit::sql::Row& row) {
  return {row.text("service"), row.integer("version"), json::parse(row.text("settings")),
          row.text("author"),  row.text("message"),    row.integer("created_at")};
}

const std::string kVersionColumns = "service, version, settings, author, message, created_at";

}  // namespace

void SettingsStore::migrate() {
  db_.migrate("configuration_settings", kMigrations);
}

Task<std::optional<SettingsSchema>> SettingsStore::schema(std::string service) {
  auto r = co_await db_.read(
      "SELECT service, schema, version, updated_by, updated_at FROM settings_schemas "
      "WHERE service = ?",
      service);
  if (r.empty()) co_return std::nullopt;
  const auto& row = r.rows.front();
  co_return SettingsSchema{row.text("service"), json::parse(row.text("schema")),
                           row.integer("version"), row.text("updated_by"),
                           row.integer("updated_at")};
}

Task<SettingsSchema> SettingsStore::put_schema(std::string service, json schema, std::string by) {
  const auto compiled = svckit::JsonSchema::compile(schema);
  auto work = [&](Transaction& tx) -> Task<SettingsSchema> {
    auto in_force = co_await tx.execute(
        "SELECT settings FROM settings_versions WHERE service = ? ORDER BY version DESC LIMIT 1",
        service);
    if (!in_force.empty()) {
      auto problems = compiled.validate(json::parse(in_force.rows.front().text("settings")));
      if (!problems.empty()) throw SettingsRejected{std::move(problems)};
    }
    auto found =
        co_await tx.execute("SELECT version FROM settings_schemas WHERE service = ?", service);
    SettingsSchema s{service, schema, found.empty() ? 1 : found.rows.front().integer("version") + 1,
                     by, now_ms()};
    if (found.empty())
      co_await tx.execute(
          "INSERT INTO settings_schemas (service, schema, version, updated_by, updated_at) VALUES "
          "(?, ?, ?, ?, ?)",
          service, s.schema.dump(), s.version, by, s.updated_at);
    else
      co_await tx.execute(
          "UPDATE settings_schemas SET schema = ?, version = ?, updated_by = ?, updated_at = ? "
          "WHERE service = ?",
          s.schema.dump(), s.version, by, s.updated_at, service);
    co_return s;
  };
  co_return co_await db_.transaction(work, kSerializable);
}

Task<std::optional<SettingsVersion>> SettingsStore::current(std::string service) {
  auto r = co_await db_.read(
      "SELECT " + kVersionColumns +
          " FROM settings_versions WHERE service = ? ORDER BY version DESC LIMIT 1",
      service);
  if (r.empty()) co_return std::nullopt;
  co_return version_from(r.rows.front());
}

Task<std::vector<SettingsVersion>> SettingsStore::history(std::string service, int limit) {
  auto r = co_await db_.read(
      "SELECT " + kVersionColumns +
          " FROM settings_versions WHERE service = ? ORDER BY version DESC LIMIT ?",
      service, limit);
  std::vector<SettingsVersion> out;
  for (const auto& row : r.rows) out.push_back(version_from(row));
  co_return out;
}

Task<SettingsVersion> SettingsStore::put(std::string service, json settings, std::string by,
                                         std::string message, std::optional<std::int64_t> expected,
                                         const svckit::Context* context) {
  auto work = [&](Transaction& tx) -> Task<SettingsVersion> {
    auto newest = co_await tx.execute(
        "SELECT MAX(version) AS v FROM settings_versions WHERE service = ?", service);
    const std::int64_t current =
        newest.empty() || newest.rows.front()["v"].is_null() ? 0 : newest.rows.front().integer("v");
    if (expected && *expected != current) throw StaleVersion{current};
    auto schema = co_await tx.execute(
        "SELECT schema, version FROM settings_schemas WHERE service = ?", service);
    if (schema.empty())
      throw NoUsableSchema{"no schema for " + service + ": PUT /api/v1/config/schemas/" + service +
                           " first"};
    std::optional<svckit::JsonSchema> compiled;
    try {
      compiled = svckit::JsonSchema::compile(json::parse(schema.rows.front().text("schema")));
    } catch (const std::invalid_argument& e) {
      throw NoUsableSchema{"the stored schema (version " +
                           std::to_string(schema.rows.front().integer("version")) +
                           ") no longer compiles: " + e.what() + "; PUT it again"};
    }
    if (auto problems = compiled->validate(settings); !problems.empty())
      throw SettingsRejected{std::move(problems)};
    SettingsVersion next{service, current + 1, settings, by, message, now_ms()};
    co_await tx.execute(
        "INSERT INTO settings_versions (" + kVersionColumns + ") VALUES (?, ?, ?, ?, ?, ?)",
        service, next.version, next.settings.dump(), by, message, next.created_at);
    json event = json::object();
    event["service"] = service;
    event["environment"] = environment_;
    event["version"] = next.version;
    event["by"] = by;
    co_await outbox_.add(tx, "config.settings.changed", std::move(event), context);
    co_return next;
  };
  auto stored = co_await db_.transaction(work, kSerializable);
  outbox_.wake();
  co_return stored;
}

}  // namespace raptorflow::configuration
