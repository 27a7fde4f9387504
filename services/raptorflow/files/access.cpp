#include "access.hpp"

#include <algorithm>

#include <openssl/rand.h>
#include <svckit/auth/jwt.hpp>
#include <svckit/ids.hpp>

#include "sigv4.hpp"

namespace raptorflow::files {
namespace {

using svckit::Task;
using svckit::sql::Row;
using svckit::sql::Value;

const svckit::sql::Migration kMigrations[] = {
    {1, "shares and public links",
     "CREATE TABLE shares ("
     " id TEXT PRIMARY KEY, bucket TEXT NOT NULL, path TEXT NOT NULL,"
     " grantee_kind TEXT NOT NULL, grantee TEXT NOT NULL, access TEXT NOT NULL,"
     " created_by TEXT NOT NULL, created_at TEXT NOT NULL,"
     " UNIQUE (bucket, path, grantee_kind, grantee));"
     "CREATE INDEX shares_grantee ON shares (grantee_kind, grantee);"
     "CREATE TABLE links ("
     " id TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, bucket TEXT NOT NULL,"
     " key TEXT NOT NULL, version_id TEXT NOT NULL, expires_at TEXT NOT NULL,"
     " created_by TEXT NOT NULL, created_at TEXT NOT NULL);"
     "CREATE INDEX links_bucket ON links (bucket);",
     "DROP TABLE links; DROP TABLE shares"},
};

Share share_from(const Row& r) {
  return {r.text("id"),      r.text("bucket"), r.text("path"),       r.text("grantee_kind"),
          r.text("grantee"), r.text("access"), r.text("created_by"), r.text("created_at")};
}

Link link_from(const Row& r) {
  return {r.text("id"),         r.text("bucket"),     r.text("key"),       r.text("version_id"),
          r.text("expires_at"), r.text("created_by"), r.text("created_at")};
}

// The shares naming `caller`: by id or by one of their roles.
std::pair<std::string, std::vector<Value>> grantee_filter(const Caller& caller) {
  std::string sql = "((grantee_kind = 'user' AND grantee = ?)";
  std::vector<Value> params{Value(caller.id)};
  for (const auto& role : caller.roles) {
    sql += " OR (grantee_kind = 'role' AND grantee = ?)";
    params.emplace_back(role);
  }
  return {sql + ")", std::move(params)};
}

const std::string kShareColumns =
    "id, bucket, path, grantee_kind, grantee, access, created_by, created_at";
const std::string kLinkColumns = "id, bucket, key, version_id, expires_at, created_by, created_at";

}  // namespace

bool covers(const std::string& path, const std::string& key) {
  if (path.empty() || path == key) return true;
  return path.back() == '/' && key.starts_with(path);
}

bool covers_all_under(const std::string& path, const std::string& prefix) {
  return path.empty() || (path.back() == '/' && prefix.starts_with(path));
}

void AccessStore::migrate() {
  db_.migrate("files-access", kMigrations);
}

Task<std::vector<std::pair<std::string, Access>>> AccessStore::grants(const Caller& caller,
                                                                      const std::string& bucket) {
  auto grantees = grantee_filter(caller);
  grantees.second.insert(grantees.second.begin(), Value(bucket));
  auto result =
      co_await db_.read("SELECT path, access FROM shares WHERE bucket = ? AND " + grantees.first,
                        std::move(grantees.second));
  std::vector<std::pair<std::string, Access>> out;
  for (const auto& row : result.rows) {
    Access granted = Access::read;
    if (row.text("access") == "write") granted = Access::write;
    out.emplace_back(row.text("path"), granted);
  }
  co_return out;
}

Task<Access> AccessStore::widest(const Caller& caller, const std::string& owner,
                                 const std::string& bucket, const std::string& target,
                                 bool (*applies)(const std::string&, const std::string&)) {
  if (caller.id == owner) co_return Access::owner;
  Access best = Access::none;
  auto shares = co_await grants(caller, bucket);
  for (const auto& share : shares)
    if (applies(share.first, target)) best = std::max(best, share.second);
  co_return best;
}

Task<Access> AccessStore::access(const Caller& caller, const std::string& owner,
                                 const std::string& bucket, const std::string& key) {
  return widest(caller, owner, bucket, key, covers);
}

Task<Access> AccessStore::access_under(const Caller& caller, const std::string& owner,
                                       const std::string& bucket, const std::string& prefix) {
  return widest(caller, owner, bucket, prefix, covers_all_under);
}

Task<Access> AccessStore::widest_anywhere(const Caller& caller, const std::string& owner,
                                          const std::string& bucket) {
  auto anything = [](const std::string&, const std::string&) { return true; };
  std::string everything;  // in this frame: widest() keeps a reference to it
  co_return co_await widest(caller, owner, bucket, everything, anything);
}

Task<std::vector<Share>> AccessStore::shared_with(const Caller& caller) {
  auto grantees = grantee_filter(caller);
  auto result = co_await db_.read(
      "SELECT " + kShareColumns + " FROM shares WHERE " + grantees.first + " ORDER BY bucket, path",
      std::move(grantees.second));
  std::vector<Share> out;
  for (const auto& row : result.rows) out.push_back(share_from(row));
  co_return out;
}

Task<std::string> AccessStore::add(const Share& s) {
  // One share per (bucket, path, grantee): sharing again changes its access, and keeps its id.
  auto result = co_await db_.execute(
      "INSERT INTO shares (" + kShareColumns +
          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (bucket, path, grantee_kind, grantee) "
          "DO UPDATE SET access = excluded.access RETURNING id",
      s.id, s.bucket, s.path, s.grantee_kind, s.grantee, s.access, s.created_by, s.created_at);
  co_return result.rows.at(0).text("id");
}

Task<std::vector<Share>> AccessStore::shares(const std::string& bucket) {
  auto result = co_await db_.read(
      "SELECT " + kShareColumns + " FROM shares WHERE bucket = ? ORDER BY path, grantee", bucket);
  std::vector<Share> out;
  for (const auto& row : result.rows) out.push_back(share_from(row));
  co_return out;
}

Task<std::optional<Share>> AccessStore::share(const std::string& id) {
  auto result = co_await db_.read("SELECT " + kShareColumns + " FROM shares WHERE id = ?", id);
  if (result.empty()) co_return std::nullopt;
  co_return share_from(result.rows.front());
}

Task<bool> AccessStore::remove_share(const std::string& id) {
  auto result = co_await db_.execute("DELETE FROM shares WHERE id = ?", id);
  co_return result.changes > 0;
}

Task<std::string> AccessStore::add(const Link& l) {
  unsigned char random[32];
  if (RAND_bytes(random, sizeof random) != 1) throw std::runtime_error("no random bytes");
  std::string token = svckit::auth::base64url_encode(
      std::string_view(reinterpret_cast<const char*>(random), sizeof random));
  co_await db_.execute(
      "INSERT INTO links (id, token_sha256, bucket, key, version_id, expires_at, "
      "created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      l.id, sha256_hex(token), l.bucket, l.key, l.version_id, l.expires_at, l.created_by,
      l.created_at);
  co_return token;
}

Task<std::vector<Link>> AccessStore::links(const std::string& bucket) {
  auto result = co_await db_.read(
      "SELECT " + kLinkColumns + " FROM links WHERE bucket = ? ORDER BY created_at, id", bucket);
  std::vector<Link> out;
  for (const auto& row : result.rows) out.push_back(link_from(row));
  co_return out;
}

Task<std::optional<Link>> AccessStore::link_by_id(const std::string& id) {
  auto result = co_await db_.read("SELECT " + kLinkColumns + " FROM links WHERE id = ?", id);
  if (result.empty()) co_return std::nullopt;
  co_return link_from(result.rows.front());
}

Task<std::optional<Link>> AccessStore::link_by_token(const std::string& token) {
  if (token.size() != 43) co_return std::nullopt;  // 32 bytes in base64url
  auto result = co_await db_.read("SELECT " + kLinkColumns + " FROM links WHERE token_sha256 = ?",
                                  sha256_hex(token));
  if (result.empty()) co_return std::nullopt;
  co_return link_from(result.rows.front());
}

Task<bool> AccessStore::remove_link(const std::string& id) {
  auto result = co_await db_.execute("DELETE FROM links WHERE id = ?", id);
  co_return result.changes > 0;
}

}  // namespace raptorflow::files
