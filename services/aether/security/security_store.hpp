#pragma once
// The Security Service's data in SQL: users, refresh-token families, API keys. A User and an
// ApiKeyRecord are rows of their tables as described (svckit/sql/mapping.hpp).
#include <optional>
#include <string>
#include <vector>

#include <boost/describe/class.hpp>
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
};
BOOST_DESCRIBE_STRUCT(User, (), (id, email, name, password_hash, roles, created_at))

struct ApiKeyRecord {
  std::string id;
  std::string prefix;
  std::string hash;
  std::string user_id;
  std::string name;
  std::string created_at;
  std::optional<std::int64_t> expires_at;  // unix seconds; a rotated key's overlap window ends here
  bool revoked = false;
};
BOOST_DESCRIBE_STRUCT(ApiKeyRecord, (),
                      (id, prefix, hash, user_id, name, created_at, expires_at, revoked))

enum class RefreshUse {
  fresh,    // first use: now spent
  reused,   // spent before: a stolen token; its whole family is now revoked
  revoked,  // logged out or revoked with its family
  unknown,
};

class SecurityStore {
 public:
  explicit SecurityStore(svckit::sql::Database& db) : db_(db) {}
  void migrate();

  svckit::Task<std::optional<User>> user_by_email(std::string email);
  svckit::Task<std::optional<User>> user_by_id(std::string id);
  // Throws svckit::Conflict when the email is taken.
  svckit::Task<void> add_user(User user);
  svckit::Task<bool> has_users();

  svckit::Task<void> add_refresh_token(std::string jti, std::string family, std::string user_id,
                                       std::int64_t expires_at);
  svckit::Task<RefreshUse> use_refresh_token(std::string jti);
  svckit::Task<void> revoke_family_of(std::string jti);

  svckit::Task<void> add_api_key(ApiKeyRecord key);
  svckit::Task<std::optional<ApiKeyRecord>> api_key_by_prefix(std::string prefix);
  svckit::Task<std::optional<ApiKeyRecord>> api_key_by_id(std::string id);
  // Revokes now, or lets the key live until `expires_at` (a rotation's overlap window).
  svckit::Task<void> retire_api_key(std::string id, std::optional<std::int64_t> expires_at);

 private:
  svckit::sql::Database& db_;
};

}  // namespace aether::security
