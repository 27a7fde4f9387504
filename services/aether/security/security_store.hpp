#pragma once
// The Security Service's data in SQL: users, refresh-token families, API keys, the audit log. A
// User and an ApiKeyRecord are rows of their tables as described (svckit/sql/mapping.hpp).
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
#include <nlohmann/json.hpp>
#include <svckit/entity_cache.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

namespace aether::security {

struct User {
  std::string id;
  std::string email;
  std::string name;
  std::string password_hash;
  std::vector<std::string> roles;  // a JSON array in its column
  std::string created_at;
  // Claims of the deployment's own that access tokens carry ({"unit": "1204"}): an object of
  // strings, a JSON object in its column.
  nlohmann::json claims = nlohmann::json::object();
};
BOOST_DESCRIBE_STRUCT(User, (), (id, email, name, password_hash, roles, created_at, claims))

struct ApiKeyRecord {
  std::string id;
  std::string prefix;
  std::string hash;
  std::string user_id;
  std::string name;
  std::string created_at;
  std::optional<std::int64_t> expires_at;  // unix seconds; a rotated key's overlap window ends here
  bool revoked = false;
  std::optional<std::string> replaced_by;  // the key a rotation made in its place
};
BOOST_DESCRIBE_STRUCT(ApiKeyRecord, (),
                      (id, prefix, hash, user_id, name, created_at, expires_at, revoked,
                       replaced_by))

// One line of the audit log: who did what to whom, when, from where. Appended, never changed.
struct AuditEntry {
  std::string id;       // sorts in the order entries were written (in one process)
  std::string at;       // ISO 8601 UTC with milliseconds
  std::string action;   // "login", "token.refresh", "api_key.create", "user.create", ...
  std::string outcome;  // "success", "failure", "locked", "reused"
  std::optional<std::string> actor_id;  // the user who acted, when known
  std::optional<std::string> subject;   // what it was done to: a user or key id, an account hash
  std::string address;                  // the client's (TRUSTED_PROXIES decides which hop)
  std::string request_id;
  nlohmann::json detail;  // an object
};
BOOST_DESCRIBE_STRUCT(AuditEntry, (),
                      (id, at, action, outcome, actor_id, subject, address, request_id, detail))

// GET /audit's filters, each optional; newest first.
struct AuditQuery {
  std::optional<std::string> action, outcome, actor_id, subject, since, until;
  std::int64_t limit = 50;
  std::int64_t offset = 0;
};

enum class RefreshUse {
  fresh,    // first use: now spent
  reused,   // spent before: a stolen token; its whole family is now revoked
  revoked,  // logged out or revoked with its family
  unknown,
};

class SecurityStore {
 public:
  // `user_cache_entries`: users kept in memory for reads by id (0: none). A change of roles
  // empties this process's entry: with replicas sharing the database, keep it at 0.
  SecurityStore(svckit::sql::Database& db, std::size_t user_cache_entries)
      : db_(db), users_(user_cache_entries) {}
  void migrate();

  svckit::Task<std::optional<User>> user_by_email(std::string email);
  svckit::Task<std::optional<User>> user_by_id(std::string id);
  // Throws svckit::Conflict when the email is taken.
  svckit::Task<void> add_user(User user);
  svckit::Task<bool> has_users();
  // Users in the order they were added, a page at a time.
  svckit::Task<std::vector<User>> users(std::int64_t limit, std::int64_t offset);
  svckit::Task<void> set_roles(std::string id, std::vector<std::string> roles);

  svckit::Task<void> add_refresh_token(std::string jti, std::string family, std::string user_id,
                                       std::int64_t expires_at);
  svckit::Task<RefreshUse> use_refresh_token(std::string jti);
  svckit::Task<void> revoke_family_of(std::string jti);

  svckit::Task<void> add_api_key(ApiKeyRecord key);
  svckit::Task<std::optional<ApiKeyRecord>> api_key_by_prefix(std::string prefix);
  svckit::Task<std::optional<ApiKeyRecord>> api_key_by_id(std::string id);
  // The keys `user_id` made, newest first (revoked and expired ones too: the owner sees why).
  svckit::Task<std::vector<ApiKeyRecord>> api_keys_of(std::string user_id);
  // Revokes now.
  svckit::Task<void> revoke_api_key(std::string id);
  // Replaces `old_key` by `fresh` in one transaction; the old key lives until `until` (the
  // overlap window, never past its own expiry). False when the old key was rotated or revoked
  // in the meantime: two concurrent rotations cannot both extend it.
  svckit::Task<bool> rotate_api_key(std::string old_id, std::int64_t until, ApiKeyRecord fresh);

  svckit::Task<void> add_audit(AuditEntry entry);
  svckit::Task<std::vector<AuditEntry>> audit(AuditQuery query);

 private:
  svckit::sql::Database& db_;
  svckit::EntityCache<User> users_;  // by id: every /me, refresh and API key reads one
};

}  // namespace aether::security
