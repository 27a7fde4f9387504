#include "security_store.hpp"

#include <nlohmann/json.hpp>

namespace aether::security {
namespace {

using svckit::sql::Connection;
using svckit::sql::Row;
using svckit::sql::Value;

const svckit::sql::Migration kMigrations[] = {
    {1, "users, refresh tokens, api keys",
     "CREATE TABLE users ("
     " id TEXT PRIMARY KEY,"
     " email TEXT NOT NULL UNIQUE COLLATE NOCASE,"
     " name TEXT NOT NULL,"
     " password_hash TEXT NOT NULL,"
     " roles TEXT NOT NULL,"  // a JSON array
     " created_at TEXT NOT NULL);"
     "CREATE TABLE refresh_tokens ("
     " jti TEXT PRIMARY KEY,"
     " family TEXT NOT NULL,"
     " user_id TEXT NOT NULL REFERENCES users (id),"
     " expires_at INTEGER NOT NULL,"
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
     " expires_at INTEGER,"
     " revoked INTEGER NOT NULL DEFAULT 0);"},
};

User user_from(const Row& r) {
  User u;
  u.id = r.text("id");
  u.email = r.text("email");
  u.name = r.text("name");
  u.password_hash = r.text("password_hash");
  u.roles = nlohmann::json::parse(r.text("roles")).get<std::vector<std::string>>();
  u.created_at = r.text("created_at");
  return u;
}

ApiKeyRecord key_from(const Row& r) {
  ApiKeyRecord k;
  k.id = r.text("id");
  k.prefix = r.text("prefix");
  k.hash = r.text("hash");
  k.user_id = r.text("user_id");
  k.name = r.text("name");
  k.created_at = r.text("created_at");
  if (!r["expires_at"].is_null()) k.expires_at = r.integer("expires_at");
  k.revoked = r.integer("revoked") != 0;
  return k;
}

// The row a lookup by one key finds, converted; nullopt when there is none.
template <class T>
svckit::Task<std::optional<T>> one(svckit::sql::Database& db, std::string sql, std::string key,
                                   T (*convert)(const Row&)) {
  std::vector<Value> params{std::move(key)};
  auto r = co_await db.read(std::move(sql), std::move(params));
  if (r.empty()) co_return std::nullopt;
  co_return convert(r.rows.front());
}

constexpr const char* kUserColumns = "id, email, name, password_hash, roles, created_at";
constexpr const char* kKeyColumns =
    "id, prefix, hash, user_id, name, created_at, expires_at, revoked";

}  // namespace

void SecurityStore::migrate() {
  db_.migrate("security", kMigrations);
}

svckit::Task<std::optional<User>> SecurityStore::user_by_email(std::string email) {
  co_return co_await one(db_, std::string("SELECT ") + kUserColumns + " FROM users WHERE email = ?",
                         std::move(email), &user_from);
}

svckit::Task<std::optional<User>> SecurityStore::user_by_id(std::string id) {
  co_return co_await one(db_, std::string("SELECT ") + kUserColumns + " FROM users WHERE id = ?",
                         std::move(id), &user_from);
}

svckit::Task<void> SecurityStore::add_user(User u) {
  std::vector<Value> params{
      u.id, u.email, u.name, u.password_hash, nlohmann::json(u.roles).dump(), u.created_at};
  co_await db_.execute(
      std::string("INSERT INTO users (") + kUserColumns + ") VALUES (?, ?, ?, ?, ?, ?)",
      std::move(params));
}

svckit::Task<bool> SecurityStore::has_users() {
  auto r = co_await db_.read("SELECT COUNT(*) AS n FROM users");
  co_return r.rows.front().integer("n") > 0;
}

svckit::Task<void> SecurityStore::add_refresh_token(std::string jti, std::string family,
                                                    std::string user_id, std::int64_t expires_at) {
  std::vector<Value> params{std::move(jti), std::move(family), std::move(user_id), expires_at};
  co_await db_.execute(
      "INSERT INTO refresh_tokens (jti, family, user_id, expires_at) VALUES (?, ?, ?, ?)",
      std::move(params));
}

// One transaction: two concurrent refreshes with the same token cannot both see it fresh.
svckit::Task<RefreshUse> SecurityStore::use_refresh_token(std::string jti) {
  co_return co_await db_.transaction([&](Connection& c) {
    auto r = c.execute("SELECT family, used, revoked FROM refresh_tokens WHERE jti = ?", {jti});
    if (r.empty()) return RefreshUse::unknown;
    const Row& row = r.rows.front();
    if (row.integer("revoked")) return RefreshUse::revoked;
    if (row.integer("used")) {
      c.execute("UPDATE refresh_tokens SET revoked = 1 WHERE family = ?", {row.text("family")});
      return RefreshUse::reused;
    }
    c.execute("UPDATE refresh_tokens SET used = 1 WHERE jti = ?", {jti});
    return RefreshUse::fresh;
  });
}

svckit::Task<void> SecurityStore::revoke_family_of(std::string jti) {
  std::vector<Value> params{std::move(jti)};
  co_await db_.execute(
      "UPDATE refresh_tokens SET revoked = 1 WHERE family ="
      " (SELECT family FROM refresh_tokens WHERE jti = ?)",
      std::move(params));
}

svckit::Task<void> SecurityStore::add_api_key(ApiKeyRecord k) {
  std::vector<Value> params{k.id, k.prefix, k.hash, k.user_id, k.name, k.created_at, k.expires_at};
  co_await db_.execute(
      std::string("INSERT INTO api_keys (") + kKeyColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, 0)",
      std::move(params));
}

svckit::Task<std::optional<ApiKeyRecord>> SecurityStore::api_key_by_prefix(std::string prefix) {
  co_return co_await one(db_,
                         std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE prefix = ?",
                         std::move(prefix), &key_from);
}

svckit::Task<std::optional<ApiKeyRecord>> SecurityStore::api_key_by_id(std::string id) {
  co_return co_await one(db_, std::string("SELECT ") + kKeyColumns + " FROM api_keys WHERE id = ?",
                         std::move(id), &key_from);
}

svckit::Task<void> SecurityStore::retire_api_key(std::string id,
                                                 std::optional<std::int64_t> expires_at) {
  if (expires_at) {
    std::vector<Value> params{*expires_at, std::move(id)};
    co_await db_.execute("UPDATE api_keys SET expires_at = ? WHERE id = ?", std::move(params));
  } else {
    std::vector<Value> params{std::move(id)};
    co_await db_.execute("UPDATE api_keys SET revoked = 1 WHERE id = ?", std::move(params));
  }
}

}  // namespace aether::security
