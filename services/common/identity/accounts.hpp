#pragma once
// What the services that keep accounts (AETHER's Security Service, Raptorflow's Authentication
// service) agree on: how an account is named where the email must not appear, what makes a
// first admin's password too weak, and which key tokens are signed with.
#include <string>
#include <string_view>

#include <svckit/auth/key.hpp>

namespace svckit {
class Settings;
}

namespace identity {

// An account as logs, throttles and audit entries name it: a hash of the lower-cased email,
// never the email (people type passwords into it). It still tells accounts apart.
std::string account_hash(std::string_view email);

// Why `password` is too weak for an administrator ("" when it is not): shorter than 12
// characters, the email, one character repeated, one kind of character, a well-known password.
std::string admin_password_weakness(std::string_view password, std::string_view email);

// The key tokens are signed with: JWT_SECRET_KEY (HS256), else the PEM private key in the
// setting `key_file` (JWT_ALGORITHM, RS256 by default; its kid from the setting `key_id`).
// svckit::ConfigError naming the setting when neither is usable.
svckit::auth::Key signing_key_from_settings(const svckit::Settings& settings,
                                            std::string_view service, std::string_view key_file,
                                            std::string_view key_id);

}  // namespace identity
