#include "secret_store.hpp"

#include "conventions.hpp"

#include <chrono>

#include <svckit/hex.hpp>
#include <svckit/ids.hpp>

namespace raptorflow::configuration {

using svckit::Task;
using svckit::sql::Transaction;

namespace {

const svckit::sql::Migration kMigrations[] = {
    {1, "sealed secrets and their audit trail",
     "CREATE TABLE secrets ("
     " service TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " kek_id TEXT NOT NULL,"
     " wrapped_key TEXT NOT NULL,"
     " ciphertext TEXT NOT NULL,"
     " version BIGINT NOT NULL,"
     " updated_by TEXT NOT NULL,"
     " updated_at BIGINT NOT NULL,"
     " PRIMARY KEY (service, name));"
     "CREATE TABLE secret_events ("
     " id TEXT PRIMARY KEY,"
     " service TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " actor TEXT NOT NULL,"
     " at BIGINT NOT NULL);"
     "CREATE INDEX secret_events_service ON secret_events (service, at);"},
};

std::string unhex(const std::string& text) {
  return svckit::from_hex(text).value_or(std::string());
}

StoredSecret from_row(const svckit::sql::Row& row, bool with_bytes) {
  StoredSecret s;
  s.service = row.text("service");
  s.name = row.text("name");
  s.sealed.kek_id = row.text("kek_id");
  if (with_bytes) {
    s.sealed.wrapped_key = unhex(row.text("wrapped_key"));
    s.sealed.ciphertext = unhex(row.text("ciphertext"));
  }
  s.version = row.integer("version");
  s.updated_by = row.text("updated_by");
  s.updated_at = row.integer("updated_at");
  return s;
}

Task<void> add_event(Transaction& tx, const std::string& service, const std::string& name,
                     const std::string& action, const std::string& by) {
  co_await tx.execute(
      "INSERT INTO secret_events (id, service, name, action, actor, at) VALUES (?, ?, ?, ?, ?, ?)",
      svckit::uuid_v4(), service, name, action, by, now_ms());
}

const std::string kColumns =
    "service, name, kek_id, wrapped_key, ciphertext, version, updated_by, updated_at";

}  // namespace

void SecretStore::migrate() {
  db_.migrate("configuration_secrets", kMigrations);
}

Task<std::int64_t> SecretStore::put(std::string service, std::string name, Sealed sealed,
                                    std::string by) {
  auto work = [&](Transaction& tx) -> Task<std::int64_t> {
    auto found = co_await tx.execute("SELECT version FROM secrets WHERE service = ? AND name = ?",
                                     service, name);
    const std::int64_t version = found.empty() ? 1 : found.rows.front().integer("version") + 1;
    const auto at = now_ms();
    if (found.empty()) {
      co_await tx.execute("INSERT INTO secrets (" + kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          service, name, sealed.kek_id, svckit::to_hex(sealed.wrapped_key),
                          svckit::to_hex(sealed.ciphertext), version, by, at);
    } else {
      co_await tx.execute(
          "UPDATE secrets SET kek_id = ?, wrapped_key = ?, ciphertext = ?, version = ?, "
          "updated_by = ?, updated_at = ? WHERE service = ? AND name = ?",
          sealed.kek_id, svckit::to_hex(sealed.wrapped_key), svckit::to_hex(sealed.ciphertext),
          version, by, at, service, name);
    }
    co_await add_event(tx, service, name, "set", by);
    co_return version;
  };
  co_return co_await db_.transaction(work, kSerializable);
}

Task<std::optional<StoredSecret>> SecretStore::get(std::string service, std::string name) {
  auto result = co_await db_.read(
      "SELECT " + kColumns + " FROM secrets WHERE service = ? AND name = ?", service, name);
  if (result.empty()) co_return std::nullopt;
  co_return from_row(result.rows.front(), true);
}

Task<std::vector<StoredSecret>> SecretStore::list(std::string service) {
  auto result = co_await db_.read(
      "SELECT " + kColumns + " FROM secrets WHERE service = ? ORDER BY name", service);
  std::vector<StoredSecret> out;
  for (const auto& row : result.rows) out.push_back(from_row(row, false));
  co_return out;
}

Task<bool> SecretStore::remove(std::string service, std::string name, std::string by) {
  auto work = [&](Transaction& tx) -> Task<bool> {
    auto gone =
        co_await tx.execute("DELETE FROM secrets WHERE service = ? AND name = ?", service, name);
    if (gone.changes == 0) co_return false;
    co_await add_event(tx, service, name, "removed", by);
    co_return true;
  };
  co_return co_await db_.transaction(work);
}

Task<std::vector<StoredSecret>> SecretStore::sealed_by_other_than(std::string current) {
  auto result =
      co_await db_.read("SELECT " + kColumns + " FROM secrets WHERE kek_id <> ?", current);
  std::vector<StoredSecret> out;
  for (const auto& row : result.rows) out.push_back(from_row(row, true));
  co_return out;
}

Task<bool> SecretStore::reseal(const StoredSecret& before, Sealed after, std::string by) {
  auto work = [&](Transaction& tx) -> Task<bool> {
    // The version and the old sealed key guard against a secret set again (or removed and set
    // anew, its version back at 1) between reading and re-sealing.
    auto done = co_await tx.execute(
        "UPDATE secrets SET kek_id = ?, wrapped_key = ? "
        "WHERE service = ? AND name = ? AND version = ? AND wrapped_key = ?",
        after.kek_id, svckit::to_hex(after.wrapped_key), before.service, before.name,
        before.version, svckit::to_hex(before.sealed.wrapped_key));
    if (done.changes == 0) co_return false;
    co_await add_event(tx, before.service, before.name, "resealed", by);
    co_return true;
  };
  co_return co_await db_.transaction(work);
}

Task<void> SecretStore::record(std::string service, std::string name, std::string action,
                               std::string by) {
  auto work = [&](Transaction& tx) -> Task<void> {
    co_await add_event(tx, service, name, action, by);
  };
  co_await db_.transaction(work);
}

Task<std::vector<SecretEvent>> SecretStore::events(std::string service, int limit) {
  auto result = co_await db_.read(
      "SELECT service, name, action, actor, at FROM secret_events WHERE service = ? ORDER BY at "
      "DESC, id LIMIT ?",
      service, limit);
  std::vector<SecretEvent> out;
  for (const auto& row : result.rows)
    out.push_back({row.text("service"), row.text("name"), row.text("action"), row.text("actor"),
                   row.integer("at")});
  co_return out;
}

}  // namespace raptorflow::configuration
