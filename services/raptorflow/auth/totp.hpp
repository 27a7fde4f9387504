#pragma once
// Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, 6 digits, 30-second
// steps — what every authenticator app, oathtool and pyotp compute from the same secret.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace raptorflow::auth {

// RFC 4648 base32 without padding, as otpauth:// URIs carry secrets.
std::string base32_encode(std::string_view bytes);
// Upper or lower case, padding and spaces ignored; nullopt for any other character.
std::optional<std::string> base32_decode(std::string_view text);

// The 30-second step `at` falls in.
std::int64_t totp_step(std::chrono::system_clock::time_point at);
// The 6-digit code of `secret` (raw bytes) for `step`.
std::string totp_code(std::string_view secret, std::int64_t step);
// The step within `window` steps of `now_step` whose code is `code`, earliest first; nullopt
// when none is (or `code` is not 6 digits). Compared in constant time.
std::optional<std::int64_t> totp_match(std::string_view secret, std::string_view code,
                                       std::int64_t now_step, int window = 1);

// otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30,
// the URI authenticator apps read from a QR code.
std::string otpauth_uri(std::string_view issuer, std::string_view account, std::string_view secret);

}  // namespace raptorflow::auth
