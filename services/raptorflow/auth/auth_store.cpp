#include "auth_store.hpp"

#include <algorithm>

namespace raptorflow::auth {
namespace {

using nlohmann::json;
using svckit::Task;

const svckit::sql::Migration kMigrations[] = {
    {1, "accounts, consents, external identities",
     "CREATE TABLE auth_accounts ("
     " user_id TEXT PRIMARY KEY REFERENCES users (id),"
     " disabled INTEGER NOT NULL DEFAULT 0,"
     " totp TEXT,"
     " totp_pending TEXT,"
     " totp_last_step BIGINT NOT NULL DEFAULT 0,"
     " recovery_codes TEXT NOT NULL DEFAULT '[]',"
     " profile TEXT NOT NULL DEFAULT '{}');"
     "CREATE TABLE oidc_consents ("
     " user_id TEXT NOT NULL REFERENCES users (id),"
     " client_id TEXT NOT NULL,"
     " scope TEXT NOT NULL,"
     " granted_at BIGINT NOT NULL,"
     " PRIMARY KEY (user_id, client_id));"
     "CREATE TABLE external_identities ("
     " provider TEXT NOT NULL,"
     " subject TEXT NOT NULL,"
     " user_id TEXT NOT NULL REFERENCES users (id),"
     " PRIMARY KEY (provider, subject));",
     "DROP TABLE external_identities; DROP TABLE oidc_consents; DROP TABLE auth_accounts"},
};

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void AuthStore::migrate() {
  db_.migrate("auth", kMigrations);
}

Task<void> AuthStore::ensure(std::string user_id) {
  co_await db_.execute("INSERT INTO auth_accounts (user_id) VALUES (?) ON CONFLICT DO NOTHING",
                       std::move(user_id));
}

Task<Account> AuthStore::account(std::string user_id) {
  auto r = co_await db_.execute(
      "SELECT disabled, totp, totp_pending, totp_last_step, recovery_codes, profile FROM "
      "auth_accounts WHERE user_id = ?",
      user_id);
  Account a;
  a.user_id = user_id;
  if (r.empty()) co_return a;
  const auto& row = r.rows.front();
  a.disabled = row.integer("disabled") != 0;
  a.totp = row.optional_text("totp");
  a.totp_pending = row.optional_text("totp_pending");
  a.totp_last_step = row.integer("totp_last_step");
  a.recovery_codes = json::parse(row.text("recovery_codes")).get<std::vector<std::string>>();
  a.profile = json::parse(row.text("profile"));
  co_return a;
}

Task<void> AuthStore::set_disabled(std::string user_id, bool disabled) {
  co_await ensure(user_id);
  co_await db_.execute("UPDATE auth_accounts SET disabled = ? WHERE user_id = ?",
                       static_cast<std::int64_t>(disabled), std::move(user_id));
}

Task<void> AuthStore::set_profile(std::string user_id, json profile) {
  co_await ensure(user_id);
  co_await db_.execute("UPDATE auth_accounts SET profile = ? WHERE user_id = ?", profile.dump(),
                       std::move(user_id));
}

Task<void> AuthStore::set_pending_totp(std::string user_id, std::string sealed) {
  co_await ensure(user_id);
  co_await db_.execute("UPDATE auth_accounts SET totp_pending = ? WHERE user_id = ?",
                       std::move(sealed), std::move(user_id));
}

Task<bool> AuthStore::confirm_totp(std::string user_id, std::string pending,
                                   std::vector<std::string> recovery_hashes, std::int64_t step) {
  json hashes = recovery_hashes;
  auto r = co_await db_.execute(
      "UPDATE auth_accounts SET totp = totp_pending, totp_pending = NULL, totp_last_step = ?, "
      "recovery_codes = ? WHERE user_id = ? AND totp_pending = ?",
      step, hashes.dump(), std::move(user_id), std::move(pending));
  co_return r.changes == 1;
}

Task<bool> AuthStore::spend_totp_step(std::string user_id, std::int64_t step) {
  auto r = co_await db_.execute(
      "UPDATE auth_accounts SET totp_last_step = ? WHERE user_id = ? AND totp_last_step < ?", step,
      std::move(user_id), step);
  co_return r.changes == 1;
}

Task<bool> AuthStore::spend_recovery_code(std::string user_id, std::string hash) {
  auto work = [&](svckit::sql::Transaction& tx) -> Task<bool> {
    auto r =
        co_await tx.execute("SELECT recovery_codes FROM auth_accounts WHERE user_id = ?", user_id);
    if (r.empty()) co_return false;
    auto codes = json::parse(r.rows.front().text("recovery_codes")).get<std::vector<std::string>>();
    auto it = std::find(codes.begin(), codes.end(), hash);
    if (it == codes.end()) co_return false;
    codes.erase(it);
    json left = codes;
    co_await tx.execute("UPDATE auth_accounts SET recovery_codes = ? WHERE user_id = ?",
                        left.dump(), user_id);
    co_return true;
  };
  co_return co_await db_.transaction(work, {.isolation = svckit::sql::Isolation::serializable});
}

Task<void> AuthStore::set_recovery_codes(std::string user_id, std::vector<std::string> hashes) {
  json codes = hashes;
  co_await db_.execute("UPDATE auth_accounts SET recovery_codes = ? WHERE user_id = ?",
                       codes.dump(), std::move(user_id));
}

Task<void> AuthStore::remove_totp(std::string user_id) {
  co_await db_.execute(
      "UPDATE auth_accounts SET totp = NULL, totp_pending = NULL, recovery_codes = '[]' WHERE "
      "user_id = ?",
      std::move(user_id));
}

Task<std::optional<std::string>> AuthStore::consent(std::string user_id, std::string client_id) {
  auto r =
      co_await db_.execute("SELECT scope FROM oidc_consents WHERE user_id = ? AND client_id = ?",
                           std::move(user_id), std::move(client_id));
  if (r.empty()) co_return std::nullopt;
  co_return r.rows.front().text("scope");
}

Task<void> AuthStore::grant(std::string user_id, std::string client_id, std::string scope) {
  co_await db_.execute(
      "INSERT INTO oidc_consents (user_id, client_id, scope, granted_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT (user_id, client_id) DO UPDATE SET scope = excluded.scope, "
      "granted_at = excluded.granted_at",
      std::move(user_id), std::move(client_id), std::move(scope), unix_now());
}

Task<std::optional<std::string>> AuthStore::linked_user(std::string provider, std::string subject) {
  auto r = co_await db_.execute(
      "SELECT user_id FROM external_identities WHERE provider = ? AND subject = ?",
      std::move(provider), std::move(subject));
  if (r.empty()) co_return std::nullopt;
  co_return r.rows.front().text("user_id");
}

Task<void> AuthStore::link(std::string provider, std::string subject, std::string user_id) {
  co_await db_.execute(
      "INSERT INTO external_identities (provider, subject, user_id) VALUES (?, ?, ?) "
      "ON CONFLICT DO NOTHING",
      std::move(provider), std::move(subject), std::move(user_id));
}

}  // namespace raptorflow::auth
