#pragma once
// Sessions, one per device a user logged in on, in svckit::kv: with REDIS_URL every replica
// reads the same session, so a revocation holds everywhere at once — the next refresh on any
// replica fails, and the session's live access tokens are revoked through svckit's Revocations
// (announced to every replica of every service that checks tokens).
//
// A refresh token names its session and its own id; the session keeps the one refresh token
// id that is live. Rotation replaces it by compare-and-set, so two uses of one token cannot
// both succeed; a token of the session that is not the live one was spent before: a replay of
// a stolen token, which ends the session (OAuth 2.0 Security BCP §4.14).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/resilience/deadline.hpp>
#include <svckit/task.hpp>

namespace svckit::kv {
class Store;
}
namespace svckit::auth {
class Revocations;
}

namespace raptorflow::auth {

struct Session {
  std::string id;
  std::string user_id;
  std::string device;   // what the client called itself, or its User-Agent
  std::string address;  // where it logged in from
  std::int64_t created_at = 0;
  std::int64_t last_used_at = 0;
  std::int64_t expires_at = 0;
  std::int64_t auth_time = 0;            // when the user last proved who they are (password, code)
  std::vector<std::string> amr;          // how: "pwd", "otp" (RFC 8176)
  std::string refresh_id;                // the live refresh token's id
  std::optional<std::string> client_id;  // the OIDC client a code flow made it for
  std::string scope;                     // what that client was granted
  std::string cookie_hash;  // a browser session's sign-in cookie secret, hashed (else empty)
  // Access tokens issued in this session and not expired yet: revoked with it.
  std::vector<std::pair<std::string, std::int64_t>> access;  // {jti, exp}

  nlohmann::json to_json() const;
  static Session from_json(const nlohmann::json& j);
};

enum class Rotation { rotated, reused, ended };

class SessionStore {
 public:
  // Sessions last `ttl` from their last use; at most `per_user` each (the oldest go first).
  SessionStore(svckit::kv::Store& kv, svckit::auth::Revocations& revocations,
               std::chrono::seconds ttl, std::size_t per_user)
      : kv_(kv), revocations_(revocations), ttl_(ttl), per_user_(per_user) {}

  svckit::Task<void> create(Session session, svckit::Deadline deadline);
  svckit::Task<std::optional<Session>> find(std::string id, svckit::Deadline deadline);
  // The user's sessions, newest first.
  svckit::Task<std::vector<Session>> of_user(std::string user_id, svckit::Deadline deadline);

  // Replaces refresh token `used` by `next` and records access token {jti, exp}; `update`
  // changes the session in the same step (step-up's auth_time). `reused` ends the session.
  svckit::Task<Rotation> rotate(std::string id, std::string used, std::string next,
                                std::pair<std::string, std::int64_t> access,
                                svckit::Deadline deadline);
  // Records an access token issued in the session without a rotation (step-up), with the new
  // proof of who the user is.
  svckit::Task<bool> record_access(std::string id, std::pair<std::string, std::int64_t> access,
                                   std::optional<std::int64_t> auth_time,
                                   std::vector<std::string> amr, svckit::Deadline deadline);

  // Ends the session: removed, its access tokens revoked. Whether there was one.
  svckit::Task<bool> end(std::string id, svckit::Deadline deadline);
  // Ends every session of the user; how many.
  svckit::Task<std::size_t> end_all(std::string user_id, svckit::Deadline deadline);

 private:
  svckit::Task<void> index(std::string user_id, std::string add, std::vector<std::string> drop,
                           svckit::Deadline deadline);
  svckit::Task<std::vector<std::string>> indexed(std::string user_id, svckit::Deadline deadline);

  svckit::kv::Store& kv_;
  svckit::auth::Revocations& revocations_;
  std::chrono::seconds ttl_;
  std::size_t per_user_;
};

}  // namespace raptorflow::auth
