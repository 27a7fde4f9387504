#include "flag_store.hpp"

#include "conventions.hpp"

#include <chrono>

namespace raptorflow::configuration {

using nlohmann::json;
using svckit::Task;
using svckit::sql::Transaction;

namespace {

const svckit::sql::Migration kMigrations[] = {
    {1, "flag set versions",
     "CREATE TABLE flag_versions ("
     " version BIGINT PRIMARY KEY,"
     " document TEXT NOT NULL,"
     " author TEXT NOT NULL,"
     " message TEXT NOT NULL,"
     " changes TEXT NOT NULL,"
     " created_at BIGINT NOT NULL,"
     " restored_from BIGINT);"},
};

const std::string kColumns =
    "version, document, author, message, changes, created_at, restored_from";

FlagVersion from_row(const svckit::sql::Row& row) {
  FlagVersion v;
  v.version = row.integer("version");
  v.document = json::parse(row.text("document"));
  v.author = row.text("author");
  v.message = row.text("message");
  v.changes = json::parse(row.text("changes"));
  v.created_at = row.integer("created_at");
  if (auto from = row.optional_text("restored_from")) v.restored_from = std::stoll(*from);
  return v;
}

FlagVersion empty_set() {
  FlagVersion v;
  v.document = {{"flags", json::object()}};
  return v;
}

// {flag, change}: what an event says of a change (the definitions stay in the audit trail).
json change_of(const json& c) {
  return {{"flag", c["flag"]}, {"change", c["change"]}};
}

}  // namespace

json diff(const json& before, const json& after) {
  json changes = json::array();
  const json none = json::object();
  const json& old_flags = before.contains("flags") ? before["flags"] : none;
  const json& new_flags = after.contains("flags") ? after["flags"] : none;
  for (const auto& [key, def] : old_flags.items()) {
    auto now = new_flags.find(key);
    if (now == new_flags.end())
      changes.push_back({{"flag", key}, {"change", "removed"}, {"before", def}});
    else if (*now != def)
      changes.push_back({{"flag", key}, {"change", "changed"}, {"before", def}, {"after", *now}});
  }
  for (const auto& [key, def] : new_flags.items())
    if (!old_flags.contains(key))
      changes.push_back({{"flag", key}, {"change", "added"}, {"after", def}});
  for (const char* shared : {"$evaluators", "metadata"}) {
    const json& a = before.contains(shared) ? before[shared] : none;
    const json& b = after.contains(shared) ? after[shared] : none;
    if (a != b)
      changes.push_back({{"flag", shared}, {"change", "changed"}, {"before", a}, {"after", b}});
  }
  return changes;
}

FlagStore::FlagStore(svckit::sql::Database& db, svckit::messaging::Outbox& outbox,
                     std::string environment)
    : db_(db), outbox_(outbox), environment_(std::move(environment)) {}

void FlagStore::migrate() {
  db_.migrate("configuration", kMigrations);
}

Task<FlagVersion> FlagStore::current() {
  auto result =
      co_await db_.read("SELECT " + kColumns + " FROM flag_versions ORDER BY version DESC LIMIT 1");
  if (result.empty()) co_return empty_set();
  co_return from_row(result.rows.front());
}

Task<std::int64_t> FlagStore::current_version() {
  auto result = co_await db_.read("SELECT MAX(version) AS v FROM flag_versions");
  co_return result.empty() || result.rows.front()["v"].is_null() ? 0
                                                                 : result.rows.front().integer("v");
}

Task<std::optional<FlagVersion>> FlagStore::version(std::int64_t v) {
  if (v == 0) co_return empty_set();
  auto result =
      co_await db_.read("SELECT " + kColumns + " FROM flag_versions WHERE version = ?", v);
  if (result.empty()) co_return std::nullopt;
  co_return from_row(result.rows.front());
}

Task<std::vector<FlagVersion>> FlagStore::history(std::int64_t before, int limit) {
  std::string sql = "SELECT " + kColumns + " FROM flag_versions";
  std::vector<svckit::sql::Value> params;
  if (before > 0) {
    sql += " WHERE version < ?";
    params.emplace_back(before);
  }
  sql += " ORDER BY version DESC LIMIT ?";
  params.emplace_back(limit);
  auto result = co_await db_.read(std::move(sql), std::move(params));
  std::vector<FlagVersion> out;
  for (const auto& row : result.rows) out.push_back(from_row(row));
  co_return out;
}

Task<FlagVersion> FlagStore::write(json document, std::string author, std::string message,
                                   std::optional<std::int64_t> expected,
                                   std::optional<std::int64_t> restored_from,
                                   const svckit::Context* context) {
  auto work = [&](Transaction& tx) -> Task<FlagVersion> {
    auto newest = co_await tx.execute("SELECT " + kColumns +
                                      " FROM flag_versions ORDER BY version DESC LIMIT 1");
    FlagVersion previous = newest.empty() ? empty_set() : from_row(newest.rows.front());
    if (expected && *expected != previous.version) throw StaleVersion{previous.version};
    FlagVersion next;
    next.version = previous.version + 1;
    next.document = document;
    next.author = author;
    next.message = message;
    next.changes = diff(previous.document, document);
    next.created_at = now_ms();
    next.restored_from = restored_from;
    co_await tx.execute("INSERT INTO flag_versions (" + kColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?)",
                        next.version, next.document.dump(), next.author, next.message,
                        next.changes.dump(), next.created_at,
                        svckit::sql::Value(next.restored_from));
    json changed = json::array();
    std::string flags;  // for people: the Notification Service's "Feature flag changed: {{flag}}"
    for (const auto& c : next.changes) {
      changed.push_back(change_of(c));
      flags += (flags.empty() ? "" : ", ") + c["flag"].get<std::string>();
    }
    json event = json::object();
    event["flag"] = flags;
    event["by"] = next.author;
    event["version"] = next.version;
    event["environment"] = environment_;
    event["author"] = next.author;
    event["changes"] = std::move(changed);
    co_await outbox_.add(tx, "config.flag.changed", std::move(event), context);
    co_return next;
  };
  auto stored = co_await db_.transaction(work, kSerializable);
  outbox_.wake();
  co_return stored;
}

}  // namespace raptorflow::configuration
