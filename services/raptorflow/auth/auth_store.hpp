#pragma once
// What the Authentication service keeps in SQL beside the users and the audit log (those are the
// Security Service's store, shared): per account its state (disabled), its second factor (a TOTP
// secret sealed with the service's key, the last step used, recovery code hashes) and profile;
// the consents users gave OIDC clients; the external identities linked by social login.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <svckit/sql/database.hpp>
#include <svckit/task.hpp>

namespace raptorflow::auth {

struct Account {
  std::string user_id;
  bool disabled = false;
  std::optional<std::string> totp;          // the sealed secret in force (JSON), when enrolled
  std::optional<std::string> totp_pending;  // one being enrolled, until a code confirms it
  std::int64_t totp_last_step = 0;          // codes of this step and earlier are spent
  std::vector<std::string> recovery_codes;  // SHA-256s of the unused ones
  nlohmann::json profile = nlohmann::json::object();
};

class AuthStore {
 public:
  explicit AuthStore(svckit::sql::Database& db) : db_(db) {}
  void migrate();

  // The account's row, or its defaults when it has none yet.
  svckit::Task<Account> account(std::string user_id);
  svckit::Task<void> set_disabled(std::string user_id, bool disabled);
  svckit::Task<void> set_profile(std::string user_id, nlohmann::json profile);

  svckit::Task<void> set_pending_totp(std::string user_id, std::string sealed);
  // The pending secret becomes the one in force with fresh recovery codes, `step` spent; false
  // when the pending secret changed meanwhile (another enrolment began).
  svckit::Task<bool> confirm_totp(std::string user_id, std::string pending,
                                  std::vector<std::string> recovery_hashes, std::int64_t step);
  // Marks `step` spent; false when it (or a later one) was used already: a code works once,
  // on every replica.
  svckit::Task<bool> spend_totp_step(std::string user_id, std::int64_t step);
  // Removes the recovery code with this hash; whether it was there (each works once).
  svckit::Task<bool> spend_recovery_code(std::string user_id, std::string hash);
  svckit::Task<void> set_recovery_codes(std::string user_id, std::vector<std::string> hashes);
  svckit::Task<void> remove_totp(std::string user_id);

  // The scope the user granted `client_id`, if any.
  svckit::Task<std::optional<std::string>> consent(std::string user_id, std::string client_id);
  svckit::Task<void> grant(std::string user_id, std::string client_id, std::string scope);

  svckit::Task<std::optional<std::string>> linked_user(std::string provider, std::string subject);
  svckit::Task<void> link(std::string provider, std::string subject, std::string user_id);

 private:
  svckit::Task<void> ensure(std::string user_id);
  svckit::sql::Database& db_;
};

}  // namespace raptorflow::auth
