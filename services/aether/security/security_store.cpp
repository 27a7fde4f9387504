#include "security_store.hpp"

#include <svckit/sql/mapping.hpp>

namespace aether::security {
namespace {

using svckit::sql::Row;

const svckit::sql::Migration kMigrations[] = {
    {1, "users, refresh tokens, api keys",
     "CREATE TABLE users ("
     " id TEXT PRIMARY KEY,"
     " email TEXT NOT NULL,"
     " name TEXT NOT NULL,"
     " password_hash TEXT NOT NULL,"
     " roles TEXT NOT NULL,"  // a JSON array
     " created_at TEXT NOT NULL);"
     "CREATE TABLE refresh_tokens ("
     " jti TEXT PRIMARY KEY,"
     " family TEXT NOT NULL,"
     " user_id TEXT NOT NULL REFERENCES users (id),"
     " expires_at BIGINT NOT NULL,"
     " used INTEGER NOT NULL DEFAULT 0,"
     " revoked INTEGER NOT NULL DEFAULT 0);"
     "CREATE INDEX refresh_tokens_family ON refresh_tokens (family);"
     "CREATE TABLE api_keys ("
     " id TEXT PRIMARY KEY,"
     " prefix TEXT NOT NULL UNIQUE,"
     " hash TEXT NOT NULL,"
     " user_id TEXT NOT NULL REFERENCES users (id),"
     " name TEXT NOT NULL,"
     " created_at TEXT NOT NULL,"
     " expires_at BIGINT,"
     " revoked INTEGER NOT NULL DEFAULT 0);",
     "DROP TABLE api_keys; DROP TABLE refresh_tokens; DROP TABLE users"},
    // Emails are one address whatever their case (ASCII case on SQLite, as its NOCASE was in
    // version 1 of databases made before this step).
    {2, "unique emails whatever their case",
     "CREATE UNIQUE INDEX IF NOT EXISTS users_email_lower ON users (lower(email))",
     "DROP INDEX users_email_lower"},
    // A rotated key names its successor (and so cannot be rotated again); the audit log is
    // appended to and read, never updated (nothing in the service changes or deletes a row).
    {3, "api key successors, audit log",
     "ALTER TABLE api_keys ADD COLUMN replaced_by TEXT;"
     "CREATE INDEX api_keys_user ON api_keys (user_id);"
     "CREATE TABLE audit_log ("
     " id TEXT PRIMARY KEY,"
     " at TEXT NOT NULL,"
     " action TEXT NOT NULL,"
     " outcome TEXT NOT NULL,"
     " actor_id TEXT,"
     " subject TEXT,"
     " address TEXT NOT NULL,"
     " request_id TEXT NOT NULL,"
     " detail TEXT NOT NULL);"
     "CREATE INDEX audit_log_at ON audit_log (at);",
     "DROP TABLE audit_log; DROP INDEX api_keys_user; ALTER TABLE api_keys DROP COLUMN "
     "replaced_by"},
    // Claims of a deployment's own in access tokens (the apartment system's "unit").
    {4, "user claims", "ALTER TABLE users ADD COLUMN claims TEXT NOT NULL DEFAULT '{}'",
     "ALTER TABLE users DROP COLUMN claims"},
};

// The row a lookup finds by its one parameter; nullopt when there is none.
template <class T>
svckit::Task<std::optional<T>> one(svckit::sql::Database& db, std::string sql, std::string key) {
  auto r = co_await db.read(std::move(sql), std::move(key));
  if (r.empty()) co_return std::nullopt;
  co_return svckit::sql::from_row<T>(r.rows.front());
}

const std::string kUserByEmail =
    svckit::sql::select_sql<User>("users", " WHERE lower(email) = lower(?)");
const std::string kUserById = svckit::sql::select_sql<User>("users", " WHERE id = ?");
const std::string kKeyByPrefix =
    svckit::sql::select_sql<ApiKeyRecord>("api_keys", " WHERE prefix = ?");
const std::string kKeyById = svckit::sql::select_sql<ApiKeyRecord>("api_keys", " WHERE id = ?");

}  // namespace

void SecurityStore::migrate() {
  db_.migrate("security", kMigrations);
}

svckit::Task<std::optional<User>> SecurityStore::user_by_email(std::string email) {
  co_return co_await one<User>(db_, kUserByEmail, std::move(email));
}

svckit::Task<std::optional<User>> SecurityStore::user_by_id(std::string id) {
  if (auto cached = users_.find(id)) co_return *cached;
  auto seen = users_.version();
  auto user = co_await one<User>(db_, kUserById, id);
  if (user) users_.fill(std::move(id), *user, seen);
  co_return user;
}

svckit::Task<void> SecurityStore::add_user(User u) {
  static const std::string kInsert = svckit::sql::insert_sql<User>("users");
  co_await db_.execute(kInsert, svckit::sql::values(u));
  users_.invalidate(u.id);  // after the commit (EntityCache): none can be cached yet, but a
                            // change of users would start here
}

svckit::Task<std::vector<User>> SecurityStore::users(std::int64_t limit, std::int64_t offset) {
  static const std::string kPage =
      svckit::sql::select_sql<User>("users", " ORDER BY created_at, id LIMIT ? OFFSET ?");
  auto r = co_await db_.read(kPage, limit, offset);
  std::vector<User> out;
  for (const auto& row : r.rows) out.push_back(svckit::sql::from_row<User>(row));
  co_return out;
}

svckit::Task<void> SecurityStore::set_roles(std::string id, std::vector<std::string> roles) {
  nlohmann::json list = roles;
  co_await db_.execute("UPDATE users SET roles = ? WHERE id = ?", list.dump(), id);
  users_.invalidate(id);
}

svckit::Task<bool> SecurityStore::has_users() {
  auto r = co_await db_.read("SELECT COUNT(*) AS n FROM users");
  co_return r.rows.front().integer("n") > 0;
}

svckit::Task<void> SecurityStore::add_refresh_token(std::string jti, std::string family,
                                                    std::string user_id, std::int64_t expires_at) {
  co_await db_.execute(
      "INSERT INTO refresh_tokens (jti, family, user_id, expires_at) VALUES (?, ?, ?, ?)",
      std::move(jti), std::move(family), std::move(user_id), expires_at);
}

// One transaction: two concurrent refreshes with the same token cannot both see it fresh.
svckit::Task<RefreshUse> SecurityStore::use_refresh_token(std::string jti) {
  auto work = [&](svckit::sql::Transaction& tx) -> svckit::Task<RefreshUse> {
    auto r =
        co_await tx.execute("SELECT family, used, revoked FROM refresh_tokens WHERE jti = ?", jti);
    if (r.empty()) co_return RefreshUse::unknown;
    const Row& row = r.rows.front();
    if (row.integer("revoked")) co_return RefreshUse::revoked;
    if (row.integer("used")) {
      co_await tx.execute("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?",
                          row.text("family"));
      co_return RefreshUse::reused;
    }
    co_await tx.execute("UPDATE refresh_tokens SET used = 1 WHERE jti = ?", jti);
    co_return RefreshUse::fresh;
  };
  co_return co_await db_.transaction(work, {.isolation = svckit::sql::Isolation::serializable});
}

svckit::Task<void> SecurityStore::revoke_family_of(std::string jti) {
  co_await db_.execute(
      "UPDATE refresh_tokens SET revoked = 1 WHERE family ="
      " (SELECT family FROM refresh_tokens WHERE jti = ?)",
      std::move(jti));
}

svckit::Task<void> SecurityStore::add_api_key(ApiKeyRecord k) {
  static const std::string kInsert = svckit::sql::insert_sql<ApiKeyRecord>("api_keys");
  co_await db_.execute(kInsert, svckit::sql::values(k));
}

svckit::Task<std::optional<ApiKeyRecord>> SecurityStore::api_key_by_prefix(std::string prefix) {
  co_return co_await one<ApiKeyRecord>(db_, kKeyByPrefix, std::move(prefix));
}

svckit::Task<std::optional<ApiKeyRecord>> SecurityStore::api_key_by_id(std::string id) {
  co_return co_await one<ApiKeyRecord>(db_, kKeyById, std::move(id));
}

svckit::Task<std::vector<ApiKeyRecord>> SecurityStore::api_keys_of(std::string user_id) {
  static const std::string kKeysOf = svckit::sql::select_sql<ApiKeyRecord>(
      "api_keys", " WHERE user_id = ? ORDER BY created_at DESC, id");
  auto r = co_await db_.read(kKeysOf, std::move(user_id));
  std::vector<ApiKeyRecord> keys;
  for (const auto& row : r.rows) keys.push_back(svckit::sql::from_row<ApiKeyRecord>(row));
  co_return keys;
}

svckit::Task<void> SecurityStore::revoke_api_key(std::string id) {
  co_await db_.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", std::move(id));
}

svckit::Task<bool> SecurityStore::rotate_api_key(std::string old_id, std::int64_t until,
                                                 ApiKeyRecord fresh) {
  static const std::string kInsert = svckit::sql::insert_sql<ApiKeyRecord>("api_keys");
  auto values = svckit::sql::values(fresh);
  auto work = [&](svckit::sql::Transaction& tx) -> svckit::Task<bool> {
    // Only a live key that no rotation replaced yet; its expiry only ever comes closer.
    auto changed = co_await tx.execute(
        "UPDATE api_keys SET replaced_by = ?, expires_at = CASE WHEN expires_at IS NULL OR "
        "expires_at > ? THEN ? ELSE expires_at END WHERE id = ? AND replaced_by IS NULL AND "
        "revoked = 0",
        fresh.id, until, until, old_id);
    if (changed.changes != 1) co_return false;
    co_await tx.execute(kInsert, values);
    co_return true;
  };
  co_return co_await db_.transaction(work);
}

svckit::Task<void> SecurityStore::add_audit(AuditEntry entry) {
  static const std::string kInsert = svckit::sql::insert_sql<AuditEntry>("audit_log");
  auto values = svckit::sql::values(entry);
  co_await db_.execute(kInsert, std::move(values));
}

svckit::Task<std::vector<AuditEntry>> SecurityStore::audit(AuditQuery q) {
  std::string where;
  std::vector<svckit::sql::Value> params;
  // One condition per filter given: "column op ?", its value bound.
  auto filter = [&](const char* condition, const std::optional<std::string>& value) {
    if (!value) return;
    where += std::string(where.empty() ? " WHERE " : " AND ") + condition;
    params.emplace_back(*value);
  };
  filter("action = ?", q.action);
  filter("outcome = ?", q.outcome);
  filter("actor_id = ?", q.actor_id);
  filter("subject = ?", q.subject);
  filter("at >= ?", q.since);
  filter("at < ?", q.until);
  params.emplace_back(q.limit);
  params.emplace_back(q.offset);
  auto sql = svckit::sql::select_sql<AuditEntry>("audit_log",
                                                 where + " ORDER BY id DESC LIMIT ? OFFSET ?");
  auto r = co_await db_.read(std::move(sql), std::move(params));
  std::vector<AuditEntry> entries;
  for (const auto& row : r.rows) entries.push_back(svckit::sql::from_row<AuditEntry>(row));
  co_return entries;
}

}  // namespace aether::security
