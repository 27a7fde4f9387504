#pragma once
// Password hashes in bcrypt's modular format ("$2b$12$..."), the monolith's format, so its hashes
// log in unchanged. Hashing is deliberately slow: call these on a blocking pool.
#include <string>
#include <string_view>

namespace svckit::auth {

// bcrypt reads at most 72 bytes of a password; longer ones are refused rather than truncated.
constexpr std::size_t kMaxPasswordBytes = 72;

// A new "$2b$<cost>$" hash with a random salt. cost 4..31 (the monolith's default is 12).
// Throws std::invalid_argument for an empty or over-long password or a bad cost.
std::string hash_password(std::string_view password, int cost = 12);
// Whether `password` matches `hash`; false (never an exception) for a malformed hash.
bool verify_password(std::string_view password, std::string_view hash);
// "$2a$", "$2b$" or "$2y$", a two-digit cost and 53 characters of salt and hash.
bool is_bcrypt_hash(std::string_view hash);

}  // namespace svckit::auth
